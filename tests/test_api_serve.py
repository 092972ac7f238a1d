"""`rag serve` as a real process: personal mode's keys, refusing the network without one, and a job cut
by `kill -9` reported as interrupted after the restart, with no half document in the index."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from rag.index.store import Index
from rag.settings import Settings
from tests.conftest import ROOT, subprocess_env
from tests.helpers import PDFS, make_pdf
from tests.invariants import assert_consistent
from tests.ollama_stub import free_port

pytestmark = pytest.mark.slow


@contextmanager
def serving(settings: Settings, log: Path, **env: str) -> Iterator[str]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port)], cwd=ROOT,
                                env=subprocess_env(settings, **env), stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if env.get("KILL") else signal.SIGTERM)
        proc.wait(timeout=30)


def test_personal_mode_needs_a_key_only_once_one_is_set(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(settings, log) as url:
        assert httpx.get(url + "/api/collections").json() == {"collections": ["default"]}
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "rag:default"
    with serving(settings, log, RAG_API_KEY="s3cret-personal-key") as url:
        assert httpx.get(url + "/api/collections").status_code == 401
        ok = httpx.get(url + "/api/collections", headers={"Authorization": "Bearer s3cret-personal-key"})
        assert ok.status_code == 200
    refused = subprocess.run([sys.executable, "-m", "api", "--host", "0.0.0.0", "--port", str(free_port())],
                             cwd=ROOT, env=subprocess_env(settings), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "without a key" in refused.stderr and "Traceback" not in refused.stderr


def test_a_server_killed_mid_job_leaves_no_half_document_and_reports_it_interrupted(
        settings: Settings, tmp_path: Path) -> None:
    book = PDFS / "english" / "pdfjs__freeculture.pdf"
    if not book.is_file():
        pytest.skip(f"shared data not found at {book}")
    log = tmp_path / "serve.log"
    files = [("files", ("aviso.pdf", make_pdf(["Aviso: la biblioteca cierra en agosto."]))),
             ("files", (book.name, book.read_bytes())),
             ("files", ("zz_otro.pdf", make_pdf(["Otro aviso sin importancia."])))]
    with serving(settings, log, KILL="1") as url:
        job = httpx.post(url + "/api/collections/default/documents", files=files, timeout=60).json()["job"]
        deadline = time.monotonic() + 120
        # once "aviso.pdf" is done the job is inside the 352-page book (minutes of work): kill -9 on leaving
        while {f["name"]: f["status"] for f in httpx.get(f"{url}/api/jobs/{job['id']}").json()["job"]["files"]
               }["aviso.pdf"] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with serving(settings, log) as url:
        after = httpx.get(f"{url}/api/jobs/{job['id']}").json()["job"]
        docs = httpx.get(url + "/api/collections/default/documents").json()["documents"]
    assert after["state"] == "interrupted" and "again" in after["error"], after
    statuses = {f["name"]: f["status"] for f in after["files"]}
    assert statuses[book.name] == "interrupted" and set(statuses.values()) <= {"added", "interrupted"}
    # a document is there only if the job finished it: the book, cut, is absent, never half there
    assert {d["name"] for d in docs} == {n for n, s in statuses.items() if s == "added"}
    index = Index.open(settings)
    assert_consistent(index, "default")
