"""Privacy: ingest, search and ask open no connection to anything but the configured Ollama and Chroma
endpoints, with no help from the caller's environment.

The real CLI runs in child processes whose environment is stripped of every variable that could help
(HF_*, TRANSFORMERS_*, telemetry switches, RAG_*, proxies, HOME), or worse, made hostile (offline mode
switched off, telemetry on, LangSmith tracing on, proxies and collectors pointing elsewhere). Two
recorders watch each child and everything it starts:
- ``tests/privacy_probe.py``, installed as the child's ``sitecustomize``: every ``connect`` and every name
  lookup made through Python's socket module (and it refuses any that would leave the machine);
- ``strace`` (where it works), which sees the connections that native code makes too (Chroma's Rust core,
  gRPC, tokenizers): every ``connect``/``sendto``/``sendmsg`` with an Internet address.
The only destinations allowed are the Ollama stand-in's and the Chroma server's loopback address and port.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

SAMPLE = ROOT / "corpora" / "sample"
PROBE = Path(__file__).with_name("privacy_probe.py")

_STRIPPED_PREFIXES = ("HF_", "TRANSFORMERS_", "RAG_", "CHROMA_", "LANGCHAIN_", "LANGSMITH_", "OTEL_", "XDG_")
_STRIPPED = {"ANONYMIZED_TELEMETRY", "DO_NOT_TRACK", "TOKENIZERS_PARALLELISM", "HOME", "OLLAMA_HOST",
             "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
             "no_proxy", "PYTHONPATH"}
OUTSIDE = "10.255.255.1"  # a private address nothing here answers on: where a leak would go

# What a careless or hostile shell could have set: every switch the other way.
HOSTILE = {
    "HF_HUB_OFFLINE": "0",
    "TRANSFORMERS_OFFLINE": "0",
    "HF_DATASETS_OFFLINE": "0",
    "HF_HUB_DISABLE_TELEMETRY": "0",
    "HF_ENDPOINT": f"http://{OUTSIDE}:8080",
    "ANONYMIZED_TELEMETRY": "True",
    "DO_NOT_TRACK": "0",
    "LANGSMITH_TRACING": "true",
    "LANGCHAIN_TRACING_V2": "true",
    "LANGSMITH_API_KEY": "lsv2_pt_not_a_real_key",
    "LANGSMITH_ENDPOINT": f"http://{OUTSIDE}:1984",
    "CHROMA_OTEL_COLLECTION_ENDPOINT": f"http://{OUTSIDE}:4317",
    "CHROMA_OTEL_GRANULARITY": "all",
    "HTTP_PROXY": f"http://{OUTSIDE}:3128",
    "HTTPS_PROXY": f"http://{OUTSIDE}:3128",
    "ALL_PROXY": f"http://{OUTSIDE}:3128",
    "http_proxy": f"http://{OUTSIDE}:3128",
}


@functools.cache
def strace_args() -> list[str]:
    """The strace prefix, or [] where strace is missing or cannot trace here (containers without ptrace)."""
    exe = shutil.which("strace")
    if exe is None:
        return []
    for extra in (["--seccomp-bpf"], []):
        args = [exe, "-f", "-qq", *extra, "-e", "trace=connect,sendto,sendmsg"]
        try:
            ok = subprocess.run([*args, "-o", os.devnull, "true"], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return args
    return []


_INET = re.compile(r"sin_port=htons\((\d+)\), sin_addr=inet_addr\(\"([^\"]+)\"\)")
_INET6 = re.compile(r"sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, \"([^\"]+)\"")


@dataclass
class Watched:
    """What one child (and its children) tried: from the probe and from strace."""

    python: list[dict[str, Any]] = field(default_factory=list)
    native: list[tuple[str, int, str]] = field(default_factory=list)  # (address, port, strace line)
    traced: bool = False

    def connects(self) -> set[tuple[str, int]]:
        py = {(e["host"], int(e["port"])) for e in self.python if e["kind"] == "connect" and "host" in e}
        return py | {(addr, port) for addr, port, _ in self.native}

    def lookups(self) -> set[str]:
        return {str(e["host"]) for e in self.python if e["kind"] == "lookup" and e["host"] is not None}


class Child:
    """Runs ``python -m rag ...`` with the probe installed, under strace where it works."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        probe_dir = tmp / "probe"
        probe_dir.mkdir(exist_ok=True)
        shutil.copy(PROBE, probe_dir / "sitecustomize.py")
        self.log = tmp / "probe.jsonl"
        self.env = dict(env, PYTHONPATH=f"{probe_dir}{os.pathsep}{ROOT}", PRIVACY_PROBE_LOG=str(self.log))
        self.runs = 0

    def read(self) -> Watched:
        """What the probe has logged so far."""
        if not self.log.exists():
            return Watched()
        return Watched(python=[json.loads(line) for line in self.log.read_text().splitlines() if line.strip()])

    def run(self, *args: str, python_args: tuple[str, ...] = ("-m", "rag"), timeout: float = 300) -> tuple[
            subprocess.CompletedProcess[str], Watched]:
        self.runs += 1
        self.log.unlink(missing_ok=True)
        trace = self.tmp / f"strace-{self.runs}.txt"
        prefix = [*strace_args(), "-o", str(trace)] if strace_args() else []
        out = subprocess.run([*prefix, sys.executable, *python_args, *args], capture_output=True, text=True,
                             env=self.env, cwd=ROOT, timeout=timeout)
        watched = Watched(traced=bool(prefix))
        if self.log.exists():
            watched.python = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        if prefix and trace.exists():
            for line in trace.read_text(errors="replace").splitlines():
                if "AF_INET" not in line:
                    continue
                for pattern in (_INET, _INET6):
                    for port, addr in pattern.findall(line):
                        watched.native.append((addr.removeprefix("::ffff:"), int(port), line))
        return out, watched


def clean_env(tmp: Path) -> dict[str, str]:
    """The caller's environment without anything that could help keep the child private."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED and not k.startswith(_STRIPPED_PREFIXES)}
    env["HOME"] = str(tmp / "home")  # no user caches or configuration either
    (tmp / "home").mkdir(exist_ok=True)
    return env


def assert_only(watched: Watched, allowed: set[tuple[str, int]], what: str) -> None:
    assert watched.python, f"{what}: the probe did not run in the child"
    starts = [e for e in watched.python if e["kind"] == "start"]
    assert starts, f"{what}: the probe did not run in the child"
    refused = [e for e in watched.python if e.get("refused")]
    assert not refused, f"{what}: tried to reach outside the machine: {refused}"
    outside = watched.connects() - allowed
    assert not outside, f"{what}: connected to {outside}, only {allowed} allowed; " + "; ".join(
        line for addr, port, line in watched.native if (addr, port) in outside)
    names = watched.lookups() - {"127.0.0.1", "localhost", "::1"}
    assert not names, f"{what}: looked up {names}"


def run_flow(tmp: Path, env: dict[str, str], stub: Any, chroma_url: str = "") -> dict[str, Watched]:
    """ingest, search and ask as a user would; each must work and reach only what is configured."""
    env = dict(env, RAG_DATA_DIR=str(tmp / "data"), OLLAMA_HOST=stub.url)
    allowed = {("127.0.0.1", int(stub.url.rsplit(":", 1)[1]))}
    if chroma_url:
        env["RAG_CHROMA_URL"] = chroma_url
        allowed.add(("127.0.0.1", int(chroma_url.rsplit(":", 1)[1])))
    child = Child(tmp, env)
    seen: dict[str, Watched] = {}
    ingest, seen["ingest"] = child.run("ingest", str(SAMPLE / "reglamento_evaluacion.pdf"),
                                       str(SAMPLE / "preguntas_frecuentes_becas_biblioteca.md"), "--json")
    assert ingest.returncode == 0, ingest.stderr
    assert len(json.loads(ingest.stdout)["added"]) == 2
    search, seen["search"] = child.run("search", "nota mínima de aprobación", "--json")
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["hits"][0]["source"] == "reglamento_evaluacion.pdf"
    ask, seen["ask"] = child.run("ask", "¿Cuál es la nota mínima de aprobación?", "--json")
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["mode"] == "llm"  # it did talk to the configured Ollama
    assert any(r.path == "/api/chat" for r in stub.requests)
    for command, watched in seen.items():
        assert_only(watched, allowed, f"rag {command}")
    if chroma_url:  # and to the configured Chroma: the vectors are there
        for command in ("ingest", "search", "ask"):
            assert ("127.0.0.1", int(chroma_url.rsplit(":", 1)[1])) in seen[command].connects(), command
    return seen


# -- the recorders themselves -----------------------------------------------------------------------

def test_recorders_see_leaks(tmp_path):
    """The probe catches Python-level connects and lookups; strace catches connects that bypass Python."""
    child = Child(tmp_path, clean_env(tmp_path))
    code = ("import socket, _socket\n"
            "try: socket.getaddrinfo('huggingface.co', 443)\nexcept OSError: pass\n"
            f"try: socket.create_connection(('{OUTSIDE}', 443), timeout=0.2)\nexcept OSError: pass\n"
            "s = _socket.socket(); s.setblocking(False)\n"  # below the socket module, as native code would be
            f"try: _socket.socket.connect(s, ('{OUTSIDE}', 9))\nexcept OSError: pass\n")
    out, watched = child.run(python_args=("-c", code))
    assert out.returncode == 0, out.stderr
    assert {e["host"] for e in watched.python if e.get("refused")} == {"huggingface.co", OUTSIDE}
    if watched.traced:
        assert (OUTSIDE, 9) in {(a, p) for a, p, _ in watched.native}
        assert (OUTSIDE, 443) not in {(a, p) for a, p, _ in watched.native}  # refused before the syscall
    with pytest.raises(AssertionError, match="outside the machine"):
        assert_only(watched, set(), "self-test")


# -- ingest, search, ask -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("hostile", [False, True], ids=["stripped-env", "hostile-env"])
def test_embedded_flow_reaches_only_ollama(tmp_path, ollama_stub, hostile):
    env = clean_env(tmp_path) | (HOSTILE if hostile else {})
    seen = run_flow(tmp_path, env, ollama_stub)
    assert not seen["ingest"].connects()  # embedded: ingestion talks to nobody at all


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("hostile", [False, True], ids=["stripped-env", "hostile-env"])
def test_server_flow_reaches_only_ollama_and_chroma(tmp_path, ollama_stub, chroma_server, hostile):
    env = clean_env(tmp_path) | (HOSTILE if hostile else {})
    run_flow(tmp_path, env, ollama_stub, chroma_server.url)


# -- the lock-down wins over the caller's environment; RAG_ALLOW_DOWNLOADS=1 is the only switch ----------

_SHOW_ENV = """
import json, os, sys
from rag.cli import main
import rag.cli.search as search

def show(args):
    from rag.service import Service
    from rag.cli.common import load_settings
    Service.from_settings(load_settings(args))
    import huggingface_hub.constants as hf
    keys = ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "ANONYMIZED_TELEMETRY",
            "DO_NOT_TRACK", "LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
            "ALL_PROXY", "NO_PROXY", "no_proxy"]
    print(json.dumps({"env": {k: os.environ.get(k) for k in keys}, "hf_offline": hf.HF_HUB_OFFLINE}))
    return 0

search.run = show
sys.exit(main(["search", "x"]))
"""


def _effective_env(tmp: Path, **extra: str) -> dict[str, Any]:
    env = clean_env(tmp) | HOSTILE | {"RAG_DATA_DIR": str(tmp / "data"), "OLLAMA_HOST": "http://127.0.0.1:9",
                                      "RAG_CHROMA_URL": "http://chroma:8000"} | extra
    out = subprocess.run([sys.executable, "-c", _SHOW_ENV], capture_output=True, text=True, timeout=120,
                         env=env | {"PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_lock_down_overrides_the_callers_switches(tmp_path):
    got = _effective_env(tmp_path)
    assert got["hf_offline"] is True
    assert got["env"] == {
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANONYMIZED_TELEMETRY": "False", "DO_NOT_TRACK": "1", "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false", "HTTP_PROXY": None, "HTTPS_PROXY": None, "http_proxy": None,
        "ALL_PROXY": None, "NO_PROXY": None, "no_proxy": None,
    }


def test_allow_downloads_gives_back_downloads_and_proxies_but_not_telemetry(tmp_path):
    got = _effective_env(tmp_path, RAG_ALLOW_DOWNLOADS="1", NO_PROXY="intranet.example")
    assert got["hf_offline"] is False
    env = got["env"]
    assert env["HF_HUB_OFFLINE"] == "0" and env["TRANSFORMERS_OFFLINE"] == "0"  # the caller's own values
    assert env["HTTPS_PROXY"] == HOSTILE["HTTPS_PROXY"]  # downloads may need the proxy...
    assert env["NO_PROXY"] == "intranet.example,127.0.0.1,chroma"  # ...Ollama and Chroma never go through it
    assert env["no_proxy"] == "127.0.0.1,chroma"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1" and env["ANONYMIZED_TELEMETRY"] == "False"
    assert env["LANGSMITH_TRACING"] == "false" and env["DO_NOT_TRACK"] == "1"


def _load_uncached_model(tmp: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], Watched]:
    """`rag ingest` with an embedding model that is not on this machine: does it try to download it?"""
    (tmp / "a.md").write_text("# Becas\nLa beca de excelencia cubre toda la matrícula.\n")
    env = clean_env(tmp) | {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
                            "RAG_EMBED_MODEL": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
                            "RAG_DATA_DIR": str(tmp / "data"), "OLLAMA_HOST": "http://127.0.0.1:9"} | extra
    return Child(tmp, env).run("ingest", str(tmp / "a.md"), timeout=180)


@pytest.mark.slow
def test_hf_hub_offline_0_in_the_shell_does_not_allow_downloads(tmp_path):
    out, watched = _load_uncached_model(tmp_path)
    assert out.returncode == 2 and "RAG_ALLOW_DOWNLOADS=1" in out.stderr and "Traceback" not in out.stderr
    assert_only(watched, set(), "rag ingest")  # not even a lookup of huggingface.co


@pytest.mark.slow
def test_rag_allow_downloads_1_does(tmp_path):
    """With the switch on, the model is looked for on the Hub (the probe refuses the lookup; Hugging Face would
    retry for a minute, so the child is stopped once the attempt is seen)."""
    (tmp_path / "a.md").write_text("# Becas\nLa beca de excelencia cubre toda la matrícula.\n")
    env = clean_env(tmp_path) | {"RAG_ALLOW_DOWNLOADS": "1",
                                 "RAG_EMBED_MODEL": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
                                 "RAG_DATA_DIR": str(tmp_path / "data"), "OLLAMA_HOST": "http://127.0.0.1:9"}
    child = Child(tmp_path, env)
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ingest", str(tmp_path / "a.md")], env=child.env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while "huggingface.co" not in child.read().lookups():
            assert proc.poll() is None, "the child ended without trying the Hub"
            assert time.monotonic() < deadline, "no attempt to reach the Hub in 120 s"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
