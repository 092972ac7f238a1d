"""The bounded parser pool: real hostile PDFs, and loaders that hang, hog memory or crash on purpose."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.sandbox import ParserPool
from ingest.sandbox_worker import memory_reason, timeout_reason
from ingest.scans import ScanDocument
from rag.errors import LoadError
from rag.types import ParsedDocument
from tests.helpers import PDFS, PROJECT_ROOT

needs_pdfs = pytest.mark.skipif(
    not (PDFS / "manifest.jsonl").is_file(), reason=f"shared test PDFs not found at {PDFS}"
)

# A few hostile files that exercise every kind of failure, for the fast suite; the slow test runs them all.
FAST_SUBSET = {
    "adversarial/qpdf__bad1.pdf": "not a PDF",
    "adversarial/qpdf__empty.pdf": "no pages",
    "adversarial/qpdf__pages-loop.pdf": "damaged: Detected cyclic page references.",
    "adversarial/pdfjs__bomb_giant.pdf": "missing decoder: jbig2dec binary is not available.",
    "adversarial/qpdf__enc-R6-AES256_user-view_owner-master.pdf": "encrypted: pass --password",
    "scanned/ocrmypdf__linn.pdf": "awaits OCR",
    "adversarial/qpdf__linearization-large-vector-alloc.pdf": "ok",
    "adversarial/qpdf__append-xref-loop.pdf": "ok",
}


@pytest.fixture
def files(tmp_path: Path) -> Any:
    """Make empty files with the given names (the test loaders only look at the names)."""

    def make(*names: str) -> list[Path]:
        paths = [tmp_path / name for name in names]
        for path in paths:
            path.touch()
        return paths

    return make


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped by init counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def check_result(path: Path, result: ParsedDocument | LoadError) -> None:
    if isinstance(result, LoadError):
        assert result.reason and "\n" not in result.reason and len(result.reason) < 120, (path, result.reason)
    else:
        assert isinstance(result, ParsedDocument)
        # text, or pages for OCR to read (ingest.scans)
        assert any(page.strip() for page in result.pages) or isinstance(result, ScanDocument), path


# -- real files -----------------------------------------------------------------------------------------


def all_shared_files() -> Iterator[tuple[Path, str | None]]:
    """Every file under the shared pdfs folder (manifest or not), with its password where it needs one."""
    entries = {e["file"]: e for e in map(json.loads, (PDFS / "manifest.jsonl").read_text().splitlines())}
    on_disk = {
        str(p.relative_to(PDFS)) for p in PDFS.rglob("*") if p.is_file() and p.name != "manifest.jsonl"
    }
    assert set(entries) <= on_disk, "manifest lists files that are missing"
    for rel in sorted(on_disk):
        yield PDFS / rel, entries.get(rel, {}).get("password")


@needs_pdfs
@pytest.mark.slow
def test_every_shared_file_ends_as_text_or_one_line_reason() -> None:
    timeout = 20.0
    manifest = {e["file"]: e for e in map(json.loads, (PDFS / "manifest.jsonl").read_text().splitlines())}
    outcomes: dict[str, str] = {}
    with ParserPool(workers=1, timeout=timeout, memory_mb=1024) as pool:
        for path, password in all_shared_files():
            ((done, result),) = list(pool.parse([path], password))
            check_result(done, result)
            rel = str(path.relative_to(PDFS))
            if isinstance(result, ScanDocument) and not any(result.pages):
                outcomes[rel] = f"awaits OCR, {len(result.ocr_pages)} pages"
            elif isinstance(result, ParsedDocument):
                outcomes[rel] = f"ok, {len(result.pages)} pages"
                if rel in manifest and "pages" in manifest[rel]:
                    assert len(result.pages) == manifest[rel]["pages"], rel
            else:
                outcomes[rel] = result.reason
    for rel, expected in FAST_SUBSET.items():
        if not manifest[rel].get("password"):  # here the encrypted ones got their password
            assert outcomes[rel].startswith(expected), (rel, outcomes[rel])


@needs_pdfs
def test_hostile_subset_through_the_pool(capfd: pytest.CaptureFixture[str]) -> None:
    paths = [PDFS / rel for rel in FAST_SUBSET]
    with ParserPool(workers=2, timeout=20, memory_mb=1024) as pool:
        results = dict(pool.parse(paths))
    assert set(results) == set(paths)  # every file, once
    for rel, expected in FAST_SUBSET.items():
        result = results[PDFS / rel]
        check_result(PDFS / rel, result)
        if expected == "ok":
            assert isinstance(result, ParsedDocument) and len(result.pages) == 30
        elif expected == "awaits OCR":  # the parse only finds the pages to recognise; ingest.scans reads them
            assert isinstance(result, ScanDocument) and result.ocr_pages == [0]
        else:
            assert isinstance(result, LoadError) and result.reason == expected
    out, err = capfd.readouterr()
    assert err == "" and out == ""  # pypdf's complaints (these files cause many) stay in the workers


@needs_pdfs
def test_passwords_and_logs_cross_the_process_boundary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with ParserPool(workers=1, timeout=20) as pool:
        ((_, doc),) = pool.parse([PDFS / "adversarial" / "pypdf__r4-aes-user-password.pdf"], "asdfzxcv")
        ((_, tam),) = pool.parse([PDFS / "adversarial" / "pdfjs__TAMReview.pdf"])
    assert isinstance(doc, ParsedDocument) and "pdf encryption test" in doc.pages[0]
    assert isinstance(tam, ParsedDocument)
    assert any(r.name == "ingest.pdf" and "Unicode map" in r.getMessage() for r in caplog.records)


@needs_pdfs
def test_in_process_mode_matches_the_loader() -> None:
    from ingest.loaders import load_file

    path = PDFS / "adversarial" / "qpdf__20-pages.pdf"
    with ParserPool(workers=0) as pool:
        ((done, doc),) = pool.parse([path], "user")
        ((_, error),) = pool.parse([path])
    assert done == path and doc == load_file(path, "user")
    assert isinstance(error, LoadError) and error.reason == "encrypted: pass --password"


# -- bounds, with loaders that misbehave on purpose ------------------------------------------------------


def test_a_hanging_file_is_killed_at_the_timeout_and_the_pool_goes_on(files: Any) -> None:
    paths = files("hang.txt", "after1.txt", "after2.txt")
    with ParserPool(workers=1, timeout=1.5, loader="tests.helpers:slow_loader") as pool:
        results = list(pool.parse(paths))  # 'hang.txt' sleeps an hour: only the pool's kill ends it
        survivor = pool.worker_pids
    assert [path for path, _ in results] == paths  # one worker: input order
    assert isinstance(results[0][1], LoadError) and results[0][1].reason == timeout_reason(1.5)
    assert results[0][1].reason == "too large / took too long (over 1.5 s)"
    docs = [result for _, result in results[1:]]
    assert all(isinstance(doc, ParsedDocument) for doc in docs)
    assert survivor and all(
        f"pid {survivor[0]}" == doc.pages[0] for doc in docs if isinstance(doc, ParsedDocument)
    )


def test_results_come_in_completion_order_with_two_workers(files: Any, tmp_path: Path, monkeypatch: Any) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("RAG_TEST_MARKER_DIR", str(markers))
    paths = files("held.txt", "quick.txt")
    order: list[str] = []
    with ParserPool(workers=2, timeout=20, loader="tests.helpers:slow_loader") as pool:
        for path, _ in pool.parse(paths):
            order.append(path.name)
            (markers / "release").touch()  # 'held.txt' can finish only once a result has come out
        assert len(set(pool.worker_pids)) == 2
    assert order == ["quick.txt", "held.txt"]


def test_next_file_is_parsing_while_the_caller_works(files: Any, tmp_path: Path, monkeypatch: Any) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("RAG_TEST_MARKER_DIR", str(markers))
    paths = files("first.txt", "second.txt")
    with ParserPool(workers=1, timeout=20, loader="tests.helpers:slow_loader") as pool:
        results = pool.parse(paths)
        next(results)
        # The caller has not asked for the second result, yet the worker already has the second file.
        deadline = time.monotonic() + 10
        while not (markers / "second.txt.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (markers / "second.txt.started").exists()
        assert [path.name for path, _ in results] == ["second.txt"]


def test_a_result_waiting_while_the_caller_works_past_the_timeout_is_not_a_timeout(files: Any) -> None:
    """The clock bounds the parse, not the caller: ingestion embeds one big document for minutes while the
    next file, parsed in a second, waits in the pipe; it must arrive as a document, not as a timeout."""
    with ParserPool(workers=1, timeout=1.0, loader="tests.helpers:slow_loader") as pool:
        results = pool.parse(files("big.txt", "next.txt"))
        _, first = next(results)
        time.sleep(3.0)  # the caller embeds "big.txt"; "next.txt" was handed to the worker meanwhile
        ((_, second),) = list(results)
    assert isinstance(first, ParsedDocument)
    assert isinstance(second, ParsedDocument), second


def test_memory_cap_gives_out_of_memory_and_the_pool_goes_on(files: Any) -> None:
    paths = files("hog.txt", "after.txt")
    with ParserPool(workers=1, timeout=20, memory_mb=512, loader="tests.helpers:hog_loader") as pool:
        results = list(pool.parse(paths))
    assert isinstance(results[0][1], LoadError)
    assert results[0][1].reason == memory_reason(512) == "out of memory parsing (over 512 MB)"
    assert isinstance(results[1][1], ParsedDocument)


def test_crashes_are_reported_and_the_pool_goes_on(files: Any, caplog: pytest.LogCaptureFixture) -> None:
    paths = files("segv.txt", "oomkill.txt", "bug.txt", "fine.txt")
    with ParserPool(workers=1, timeout=20, loader="tests.helpers:crash_loader") as pool:
        reasons = [r.reason if isinstance(r, LoadError) else "ok" for _, r in pool.parse(paths)]
    assert reasons == [
        "parser crashed (SIGSEGV)",
        "out of memory parsing (killed by the system)",
        "internal error: ZeroDivisionError: division by zero",
        "ok",
    ]
    # The loader bug's traceback was logged in the worker and re-emitted here.
    assert any("ZeroDivisionError" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_abandoned_iteration_kills_busy_workers_and_the_pool_stays_usable(files: Any) -> None:
    with ParserPool(workers=2, timeout=60, loader="tests.helpers:slow_loader") as pool:
        for path, _result in pool.parse(files("quick.txt", "hang.txt")):
            assert path.name == "quick.txt"
            quick_pid, hung_pid = pool.worker_pids  # slot order: quick.txt went to the first worker
            break
        assert wait_gone([hung_pid], 30) == [] and alive(quick_pid)
        assert [p.name for p, _ in pool.parse(files("again.txt"))] == ["again.txt"]
    assert wait_gone([quick_pid, *pool.worker_pids], 30) == []


def test_workers_ignore_ctrl_c_and_live_in_their_own_session(files: Any) -> None:
    with ParserPool(workers=1, timeout=20, loader="tests.helpers:slow_loader") as pool:
        ((_, first),) = pool.parse(files("a.txt"))
        (pid,) = pool.worker_pids
        assert os.getsid(pid) == pid != os.getsid(0)
        os.kill(pid, signal.SIGINT)
        ((_, second),) = pool.parse(files("b.txt"))
        assert pool.worker_pids == [pid]
    assert isinstance(first, ParsedDocument) and isinstance(second, ParsedDocument)
    assert second.pages == [f"pid {pid}"]


def test_bad_loader_names_fail_loudly(files: Any) -> None:
    with pytest.raises(ValueError, match="package.module:function"):
        ParserPool(loader="no_colon_here")
    with (
        ParserPool(workers=1, loader="tests.no_such_module:load") as pool,
        pytest.raises(RuntimeError, match="could not start"),
    ):
        list(pool.parse(files("x.txt")))


PARENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ingest.sandbox import ParserPool

    def main():
        folder = Path(sys.argv[1])
        idle = ParserPool(workers=1, loader="tests.helpers:slow_loader")
        list(idle.parse([folder / "quick.txt"]))  # done: this worker now waits for work
        busy = ParserPool(workers=2, timeout=600, loader="tests.helpers:slow_loader")
        results = busy.parse([folder / "quick.txt", folder / "hang1.txt", folder / "hang2.txt"])
        next(results)  # both workers are now inside a hanging file
        print(" ".join(map(str, idle.worker_pids + busy.worker_pids)), flush=True)
        time.sleep(600)

    if __name__ == "__main__":
        main()
    """
)


def test_kill_9_of_the_parent_leaves_no_worker_behind(files: Any, tmp_path: Path) -> None:
    files("quick.txt", "hang1.txt", "hang2.txt")
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path])}
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        parent.kill()
        parent.wait(10)
        assert wait_gone(pids, 30) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        for pid in pids if "pids" in locals() else []:  # never leave a hung test worker behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.stdout is not None:
            parent.stdout.close()
