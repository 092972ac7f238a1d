"""The HTTP API under load: concurrent clients asking and searching a live server on loopback.

    python benchmarks/api_load.py                          # 32 clients for 60 s, the stand-in at 50 tokens/s
    python benchmarks/api_load.py --clients 8 --seconds 10 --json

The server is ``python -m api`` (what ``rag serve`` runs) in its own process, over a fresh data directory
holding the sample corpus (``corpora/sample``, ingested first with ``rag ingest``). Ollama is
``tests.ollama_stub.OllamaStub``, here in this process, answering every question with ``--reply-tokens``
words at a fixed ``--token-rate``. Each client loops until the time is up, alternating ``POST /api/ask``
(a whole answer) and ``POST /api/search``; every request goes to 127.0.0.1 only. Reported: requests per
second, latency percentiles per kind, errors by status (503s are the documented answer to saturation:
more than RAG_API_MAX_ANSWERS answers in flight for longer than RAG_API_QUEUE_TIMEOUT), and the server's
resident memory (sampled every half second, and the kernel's high-water mark).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # the project root first (see benchmarks/common.py)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
import subprocess
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import httpx

from benchmarks.common import ROOT, dump_json, load_avg, machine, make_log, percentile, table
from tests.ollama_stub import OllamaStub, free_port

QUESTIONS = [
    "¿Cuál es la nota mínima de aprobación en posgrado?",
    "¿Cuándo empieza el periodo de exámenes?",
    "¿Qué documentos hay que presentar para la matrícula?",
    "¿Cuántas convocatorias tiene una asignatura?",
    "What is the minimum passing grade?",
    "¿Qué horario tiene la biblioteca?",
]


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(clients: int, seconds: float, token_rate: float, reply_tokens: int, data_dir: Path,
        log: Any = print) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)})
    log("ingesting corpora/sample ...")
    subprocess.run([sys.executable, "-m", "rag", "ingest", str(ROOT / "corpora" / "sample")], cwd=ROOT,
                   env={**env, "OLLAMA_HOST": "http://127.0.0.1:9"}, check=True, capture_output=True)
    reply = " ".join(["palabra"] * (reply_tokens - 1)) + " [1]."
    with OllamaStub(reply=lambda messages: reply, token_delay=1.0 / token_rate) as stub:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port)], cwd=ROOT,
                                  env={**env, "OLLAMA_HOST": stub.url}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(url + "/health", timeout=2)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the API server did not start") from None
                    time.sleep(0.2)
            with httpx.Client(base_url=url, timeout=120) as warm:  # load the models before the clock starts
                warm.post("/api/search", json={"query": QUESTIONS[0]}).raise_for_status()
                warm.post("/api/ask", json={"question": QUESTIONS[0]}).raise_for_status()
            rss_start = _rss_kib(server.pid)
            results: list[tuple[str, int, float]] = []
            failures: Counter[str] = Counter()
            lock = threading.Lock()
            rss_samples: list[int] = []
            stop = time.monotonic() + seconds

            def client(n: int) -> None:
                with httpx.Client(base_url=url, timeout=120) as http:
                    i = n
                    while time.monotonic() < stop:
                        question = QUESTIONS[i % len(QUESTIONS)]
                        kind = "ask" if i % 2 == 0 else "search"
                        body = {"question": question} if kind == "ask" else {"query": question}
                        began = time.perf_counter()
                        try:
                            status = http.post(f"/api/{kind}", json=body).status_code
                        except httpx.HTTPError as exc:
                            with lock:
                                failures[type(exc).__name__] += 1
                            status = 0
                        with lock:
                            results.append((kind, status, time.perf_counter() - began))
                        i += 1

            def sample() -> None:
                while time.monotonic() < stop:
                    rss_samples.append(_rss_kib(server.pid))
                    time.sleep(0.5)

            log(f"{clients} clients for {seconds:g} s against {url} ...")
            began = time.monotonic()
            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            threads.append(threading.Thread(target=sample))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - began
            peak = _rss_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(30)
    by_status = Counter(f"{kind} {status}" for kind, status, _ in results)
    out: dict[str, Any] = {"clients": clients, "seconds": round(elapsed, 1), "token_rate": token_rate,
                           "reply_tokens": reply_tokens, "requests": len(results),
                           "throughput_rps": round(len(results) / elapsed, 2), "by_status": dict(by_status),
                           "transport_errors": dict(failures), "latency_ms": {},
                           "server_rss_mib": {"before": round(rss_start / 1024, 1),
                                              "max_sampled": round(max(rss_samples or [0]) / 1024, 1),
                                              "high_water": round(peak / 1024, 1)},
                           "load_avg_after": load_avg(), "machine": machine()}
    for kind in ("ask", "search"):
        ok = [t * 1000 for k, s, t in results if k == kind and s == 200]
        out["latency_ms"][kind] = {"n": len(ok), "per_s": round(len(ok) / elapsed, 2),
                                   "p50": percentile(ok, 50), "p95": percentile(ok, 95), "max": max(ok or [0.0])}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--token-rate", type=float, default=50.0, help="the stand-in's tokens per second")
    parser.add_argument("--reply-tokens", type=int, default=40, help="words in each answer")
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary folder")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    log = make_log(args.json)
    with tempfile.TemporaryDirectory(prefix="rag-api-load-") as tmp:
        result = run(args.clients, args.seconds, args.token_rate, args.reply_tokens, args.data_dir or Path(tmp),
                     log)
    if args.json:
        print(dump_json(result))
        return 0
    rows = [[kind, v["n"], v["per_s"], v["p50"], v["p95"], v["max"]] for kind, v in result["latency_ms"].items()]
    print(table(["kind", "ok", "per s", "p50 ms", "p95 ms", "max ms"], rows))
    print(f"throughput {result['throughput_rps']} requests/s over {result['seconds']} s; statuses "
          f"{result['by_status']}; transport errors {result['transport_errors'] or 'none'}")
    print(f"server RSS {result['server_rss_mib']} MiB; load average after {result['load_avg_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
