"""Query latency of hybrid retrieval at 10k, 100k (and more) passages, with memory and disk, embedded
Chroma or a Chroma server.

    python benchmarks/query.py [--sizes 10000 100000] [--queries 200] [--server] [--data-dir D] [--json]

What is measured: ``Retriever.retrieve(question, k=5)`` as ``rag search`` runs it - embedding the question
(the default embedder, ``RAG_EMBED_MODEL``) while the BM25 query runs (answered from the in-memory copy of
the postings, which is made before the warm-up, as a running web app has it), the Chroma (HNSW) query,
the fusion, reading the passages, joining neighbours and reading their stored vectors - for real XQuAD
questions (Spanish and English, alternating), after 20 warm-up questions. Each size is built in one
process and measured in a fresh one, so its resident memory (RSS, which includes the embedding model) and
the data directory's size on disk belong to that size alone. With ``--server`` the vectors live in a
Chroma server (``chroma run`` from this venv, on loopback, its own folder), started for the build and
again for the measurement; the server's RSS and folder are reported beside the app's. A question runs on
one core (torch with one thread); ``cpu_ms`` is the CPU time the app's process spent on it.

How the collection is scaled up (embedding 100k passages on two CPU cores would take hours):
  - text: every passage is 3-7 sentences drawn at random from the shared SQuAD-es, XQuAD-es/en
    paragraphs, in documents of 20 passages titled after a random article; so the lexical index holds
    real Spanish and English vocabulary with its real term statistics;
  - vectors: each real paragraph is embedded once with the default embedder (as "title\\nparagraph", what
    the embedder reads for a passage); a passage's vector is the normalised mean of the vectors of the
    paragraphs its sentences came from, plus a little noise, so the vectors keep the real model's geometry;
  - above 100k passages the first 100k passages' texts (and terms) are replicated under new document ids,
    each copy's vector drawn again from the same paragraphs with fresh noise: the vector index grows with
    distinct vectors, the lexical index with repeated vocabulary (its postings grow, its vocabulary does not);
  - all is written with ``Index.write``: the normal write protocol, catalog, BM25 terms and Chroma.
``--server --reuse-embedded`` measures a server over an embedded build of the same size (``chroma run``
serves the embedded Chroma folder, the catalog is copied), where building a size twice does not fit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.privacy import lock_down  # noqa: E402

lock_down()

import numpy as np  # noqa: E402

QA = ROOT.parent / "shared" / "data" / "qa"
SOURCES = ["squad_es/dev-v1.1-es_small.json", "squad_es/dev-v2.0-es_small.json", "xquad/xquad.es.json",
           "xquad/xquad.en.json"]
PER_DOC = 20
BASE = 100_000  # distinct passage texts; larger sizes replicate them (module docstring)
COLLECTION = "bench"
CHROMA = Path(sys.executable).parent / "chroma"
_SENT = re.compile(r"(?<=[.!?])\s+")


def _paragraphs() -> tuple[list[str], list[str]]:
    """Distinct paragraphs of the shared QA sets and the title of each one's article."""
    paragraphs: list[str] = []
    titles: list[str] = []
    seen: set[str] = set()
    for name in SOURCES:
        data = json.loads((QA / name).read_text(encoding="utf-8"))["data"]
        for article in data:
            title = str(article.get("title", "")).replace("_", " ")
            for p in article["paragraphs"]:
                text = " ".join(p["context"].replace("\ufeff", "").split())
                if text not in seen:
                    seen.add(text)
                    paragraphs.append(text)
                    titles.append(title)
    return paragraphs, titles


# -- a Chroma server ------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chroma_server(path: Path) -> Any:
    """``chroma run --path PATH`` on a free loopback port for the duration; yields (url, pid)."""
    import signal
    import urllib.request

    if not CHROMA.exists():
        raise SystemExit(f"no `chroma` executable beside {sys.executable} (it ships with chromadb)")
    path.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "CHROMA_"))}
    with (path.parent / f"{path.name}-chroma.log").open("ab") as log:
        proc = subprocess.Popen([str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port",
                                 str(port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not answer on {url}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


# -- building -------------------------------------------------------------------------------------
def _settings(data_dir: Path, chroma_url: str = "") -> Any:
    from rag.settings import Settings

    return Settings(data_dir=data_dir, chroma_url=chroma_url, collection=COLLECTION)


def paragraph_vectors(cache: Path) -> tuple[list[str], list[str], np.ndarray, str]:
    """The paragraphs, their titles and their vectors (default embedder), embedded once per cache folder."""
    from rag.encoders.embedders import make_embedder

    paragraphs, titles = _paragraphs()
    embedder = make_embedder(_settings(cache / "unused"))
    path = cache / f"paragraph-vectors-{hashlib.sha256(embedder.name.encode()).hexdigest()[:8]}.npy"
    if path.exists():
        return paragraphs, titles, np.load(path), embedder.name
    texts = [f"{t}\n{p}" if t else p for t, p in zip(titles, paragraphs, strict=True)]
    vectors = np.concatenate([embedder.embed(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    np.save(path, vectors)
    return paragraphs, titles, vectors, embedder.name


def build(data_dir: Path, size: int, cache: Path, chroma_url: str = "") -> dict[str, float]:
    """Write ``size`` synthetic passages into collection 'bench' under ``data_dir``; seconds taken."""
    from rag.index.catalog import NewDocument
    from rag.index.store import Index
    from rag.text import passage_terms
    from rag.types import Chunk

    began = time.perf_counter()
    paragraphs, titles, pvec, embedder_name = paragraph_vectors(cache)
    embed_s = time.perf_counter() - began
    sentences = [(s, i) for i, p in enumerate(paragraphs) for s in _SENT.split(p) if len(s.split()) >= 4]
    rng = random.Random(size)
    noise = np.random.default_rng(size)
    base: list[tuple[str, list[int], tuple[str, str]]] = []  # text, paragraph rows, terms
    doc_titles: list[str] = []

    def passage(n: int, title: str) -> tuple[str, list[int], tuple[str, str]]:
        if n < len(base):
            return base[n]
        picked = rng.sample(sentences, rng.randint(3, 7))
        text = " ".join(s for s, _ in picked)
        made = (text, [i for _, i in picked], passage_terms(text, title))
        base.append(made)
        return made

    def blend(rows: list[int]) -> np.ndarray:
        v = pvec[rows].mean(axis=0) + noise.normal(0, 0.01, pvec.shape[1])
        return np.asarray(v / np.linalg.norm(v))

    index = Index.open(_settings(data_dir, chroma_url))
    step = PER_DOC * 100
    with index.writing():
        for start in range(0, size, step):
            docs, vectors = [], []
            for d in range(start // PER_DOC, min(size, start + step) // PER_DOC):
                base_doc = d % (BASE // PER_DOC)
                if base_doc >= len(doc_titles):
                    doc_titles.append(rng.choice(titles))
                title = doc_titles[base_doc]
                sha = hashlib.sha256(f"bench:{size}:{d}".encode()).hexdigest()
                chunks, terms = [], []
                for pos in range(PER_DOC):
                    text, rows, passage_terms_ = passage(base_doc * PER_DOC + pos, title)
                    vectors.append(blend(rows))
                    terms.append(passage_terms_)
                    chunks.append(Chunk(f"{sha}:{pos}", sha, f"doc{d}.pdf", pos // 4 + 1, pos // 4 + 1, pos,
                                        text, title))
                docs.append(NewDocument(sha, f"doc{d}.pdf", title, [""] * (PER_DOC // 4 + 1), chunks, terms,
                                        1, None))
            index.write(COLLECTION, embedder_name, docs, np.asarray(vectors, dtype=np.float32))
    return {"build_s": round(time.perf_counter() - began, 1), "paragraph_embed_s": round(embed_s, 1)}


# -- measuring ------------------------------------------------------------------------------------
def _questions(n: int) -> list[str]:
    lists: list[list[str]] = []
    for name in ("xquad/xquad.es.json", "xquad/xquad.en.json"):
        data = json.loads((QA / name).read_text(encoding="utf-8"))["data"]
        lists.append([str(q["question"]) for a in data for p in a["paragraphs"] for q in p["qas"]])
    mixed = [q for pair in zip(lists[0], lists[1], strict=True) for q in pair]
    return mixed[: n + 20]


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _tree_rss_mb(pid: int) -> float:
    """RSS of a process and its descendants (``chroma run`` may start workers)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _rss_mb(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return total


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def measure(data_dir: Path, size: int, queries: int, chroma_url: str = "", server_pid: int = 0) -> dict[str, Any]:
    """Time ``queries`` questions on the built collection of ``size`` passages, in this process."""
    import torch

    from rag.retrieve.hits import hit_groups
    from rag.retrieve.retriever import Candidates, Retriever
    from rag.service import Service
    from rag.text import analyze_query

    torch.set_num_threads(1)  # one core per question: latency does not depend on a second idle core
    service = Service.from_settings(_settings(data_dir, chroma_url))
    retriever = Retriever(service.index, service.embedder, COLLECTION)
    catalog = service.index.catalog(COLLECTION)
    assert catalog.chunk_count() == size, f"{data_dir} holds {catalog.chunk_count()} passages, not {size}"
    questions = _questions(queries)
    began = time.perf_counter()
    catalog.postings(wait=True)  # what a running app has after its first question (made in the background)
    postings_s = time.perf_counter() - began
    for q in questions[:20]:  # warm up: model, HNSW pages, SQLite cache
        retriever.retrieve(q, 5)
    total: list[float] = []
    cpu: list[float] = []
    parts: dict[str, list[float]] = {"embed": [], "dense": [], "lexical": [], "fuse+read": []}
    depth = retriever.fusion.depth
    for q in questions[20:]:
        t0, c0 = time.perf_counter(), time.process_time()
        retriever.retrieve(q, 5)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        # the same steps one by one (in retrieve the lexical side overlaps the embedding)
        t0 = time.perf_counter()
        vector = service.embedder.embed([q], query=True)[0]
        t1 = time.perf_counter()
        dense = service.index.vectors.query(COLLECTION, vector, depth + 8)
        t2 = time.perf_counter()
        lexical = catalog.lexical(analyze_query(q), depth)
        t3 = time.perf_counter()
        ranked = retriever.fuse(Candidates(dense, lexical), 26)
        chunks = catalog.chunks([cid for cid, _ in ranked])
        groups = hit_groups(ranked, chunks, limit=retriever.fusion.merge)[:5]
        service.index.vectors.vectors(COLLECTION, [cid for g in groups for cid, _ in g])
        t4 = time.perf_counter()
        for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts[key].append(value)

    def pct(values: list[float]) -> dict[str, float]:
        ms = np.asarray(values) * 1000
        return {"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1),
                "mean": round(float(ms.mean()), 1)}

    out: dict[str, Any] = {
        "passages": size,
        "store": "server" if chroma_url else "embedded",
        "embedder": service.embedder.name,
        "queries": len(total),
        "latency_ms": pct(total),
        "cpu_ms": pct(cpu),
        "breakdown_ms": {k: pct(v) for k, v in parts.items()},
        "disk_mb": {"total": round(_du_mb(data_dir), 1), "catalog": round(_du_mb(data_dir / "collections"), 1)},
        "rss_mb": round(_rss_mb(), 1),
        "postings_build_s": round(postings_s, 2),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if chroma_url:
        out["server_rss_mb"] = round(_tree_rss_mb(server_pid), 1)
    else:
        out["disk_mb"]["chroma"] = round(_du_mb(data_dir / "chroma"), 1)
    return out


def _run(cmd: list[str]) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def one_size(base: Path, size: int, queries: int, server: bool, log: Any, reuse: bool = False) -> dict[str, Any]:
    """Build (unless already built) and measure one size, each in a fresh process."""
    name = f"{'server' if server else 'embedded'}-n{size}"
    data_dir, chroma_dir = base / name, base / f"{name}-chroma"
    me = [sys.executable, __file__, "--data-dir", str(base), "--cache", str(base)]
    built: dict[str, Any] = {}
    embedded = base / f"embedded-n{size}"
    if server and reuse and not data_dir.exists() and (embedded / "collections" / COLLECTION).exists():
        # the server serves the embedded build's Chroma folder (the same on-disk format); the catalog is copied
        log(f"{name}: serving {embedded / 'chroma'} (built embedded), catalog copied")
        shutil.copytree(embedded / "collections", data_dir / "collections")
        (data_dir / "store.json").write_text(json.dumps({"vectors": "server", "namespace": ""}) + "\n")
        chroma_dir = embedded / "chroma"
        built = {"reused": str(embedded)}
    with chroma_server(chroma_dir) if server else _nothing() as (url, pid):
        if not (data_dir / "collections" / COLLECTION).exists():
            log(f"building {name} ...")
            built = _run([*me, "--build", str(size), "--dir", str(data_dir), "--url", url])
            log(f"  built in {built['build_s']} s")
    with chroma_server(chroma_dir) if server else _nothing() as (url, pid):  # a fresh server too
        result = _run([*me, "--one", str(size), "--dir", str(data_dir), "--url", url, "--pid", str(pid),
                       "--queries", str(queries)])
    if server:
        result["disk_mb"]["chroma_server"] = round(_du_mb(chroma_dir), 1)
        result["disk_mb"]["total"] = round(result["disk_mb"]["total"] + result["disk_mb"]["chroma_server"], 1)
    result.update(built)
    return result


@contextmanager
def _nothing() -> Any:
    yield "", 0


def render(r: dict[str, Any]) -> str:
    lat, b, disk = r["latency_ms"], r["breakdown_ms"], r["disk_mb"]
    rss = f"RSS {r['rss_mb']} MB" + (f" + server {r['server_rss_mb']} MB" if "server_rss_mb" in r else "")
    return (f"{r['passages']:>8} passages, {r['store']:<8}: p50 {lat['p50']} ms, p95 {lat['p95']} ms, cpu p50 "
            f"{r['cpu_ms']['p50']} ms (embed {b['embed']['p50']}, dense {b['dense']['p50']}, lexical "
            f"{b['lexical']['p50']}, fuse+read {b['fuse+read']['p50']} ms at p50); disk {disk['total']} MB; {rss}"
            + (f"; built in {r['build_s']} s" if r.get("build_s") else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--server", action="store_true", help="vectors in a `chroma run` server on loopback")
    parser.add_argument("--reuse-embedded", action="store_true",
                        help="with --server: serve an embedded build of the same size under --data-dir "
                             "instead of building again (same vectors, same catalog)")
    parser.add_argument("--data-dir", type=Path, help="build (and keep) the collections here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)  # where the paragraph vectors are kept
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)  # one size's data directory
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # measure one size, in this process
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)  # build one size, in this process
    args = parser.parse_args()
    base = args.data_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    if args.build:
        print(json.dumps(build(args.dir, args.build, args.cache, args.url)))
        return 0
    if args.one:
        print(json.dumps(measure(args.dir, args.one, args.queries, args.url, args.pid)))
        return 0
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else print
    results = []
    try:
        for size in args.sizes:
            results.append(one_size(base, size, args.queries, args.server, log, args.reuse_embedded))
            if not args.json:
                print(render(results[-1]), flush=True)
    finally:
        if args.data_dir is None:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
