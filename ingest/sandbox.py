"""Bounded parsing: each file is parsed in a worker process with a time and a memory cap.

A resource bomb (a giant stream, a cyclic page tree, a huge allocation) then costs one file's timeout, not
the run. Workers are long-lived (importing pypdf costs time) and started lazily, each as a fresh
interpreter (fork+exec, never a bare fork: the parent may hold torch threads) in its own session, so
Ctrl-C at the terminal reaches only the parent. A worker exits by itself when the parent dies, even from
``kill -9``. See ``ingest.sandbox_worker`` for the worker's side.

Example:
    with ParserPool(workers=2, timeout=60, memory_mb=2048) as pool:
        for path, result in pool.parse(paths):  # completion order; the next files parse meanwhile
            if isinstance(result, LoadError): report(path, result.reason) else: embed(result)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import TracebackType
from typing import Any

from ingest.sandbox_worker import BOOTSTRAP, load_guarded, resolve_loader, timeout_reason
from rag.errors import LoadError
from rag.types import ParsedDocument

logger = logging.getLogger(__name__)

Result = tuple[Path, ParsedDocument | LoadError]

DEFAULT_LOADER = "ingest.loaders:load_file"
# A fresh worker starts Python and imports its loader (pypdf, cryptography) before its clock starts.
_STARTUP_LIMIT = 60.0


class ParserPool:
    """Up to ``workers`` files parsed at once, each bounded by ``timeout`` seconds and ``memory_mb``.

    ``workers=0`` parses in the calling process without any bound (debugging, tests of a loader).
    ``loader`` names the function that parses one file ('package.module:function', called as
    ``loader(path, password, **options)``); tests point it at deliberately misbehaving loaders, OCR at
    ``ingest.ocr:recognise_job`` with its languages in ``options``. ``per_unit``: seconds
    added to a file's ``timeout`` for each page (slide, block of rows) its loader announces
    (``ingest.sandbox_worker.announce_units``).
    Not thread-safe: one ``parse`` iteration at a time per pool.
    """

    def __init__(
        self, workers: int = 1, timeout: float = 60.0, memory_mb: int = 2048, loader: str = DEFAULT_LOADER,
        per_unit: float = 0.0, options: dict[str, Any] | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 (in-process) or more")
        if timeout <= 0 or memory_mb <= 0:
            raise ValueError("timeout and memory_mb must be positive")
        if not all(loader.partition(":")):  # imported by each worker; only its shape is checked here
            raise ValueError(f"loader must look like 'package.module:function', got {loader!r}")
        if per_unit < 0:
            raise ValueError("per_unit must not be negative")
        self.timeout = timeout
        self.per_unit = per_unit
        self.memory_mb = memory_mb
        self.loader = loader
        self.options = dict(options or {})
        self._slots = [_Slot(index) for index in range(workers)]
        self._busy = False
        self._closed = False

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers currently running (empty before the first file)."""
        return [slot.process.pid for slot in self._slots if slot.process is not None]

    def parse(self, paths: Iterable[Path], password: str | None = None) -> Iterator[Result]:
        """Yield (path, ParsedDocument or LoadError) for every path, in COMPLETION order.

        Paths are pulled lazily, and a freed worker gets its next file before a result is yielded, so
        parsing overlaps with whatever the caller does with each result. With one worker (or none)
        completion order is input order.
        """
        if self._closed:
            raise RuntimeError("ParserPool is closed")
        if self._busy:
            raise RuntimeError("ParserPool.parse is already running; finish that iteration first")
        self._busy = True
        try:
            if self._slots:
                yield from self._parse_in_workers(iter(paths), password)
            else:
                loader = resolve_loader(self.loader)
                for path in paths:
                    yield Path(path), load_guarded(loader, Path(path), password, self.memory_mb, self.options)
        finally:
            self._busy = False

    def close(self) -> None:
        """Stop every worker: idle ones leave on EOF, busy or stuck ones are killed."""
        self._closed = True
        for slot in self._slots:
            slot.stop()

    def _parse_in_workers(self, pending: Iterator[Path], password: str | None) -> Iterator[Result]:
        exhausted = False

        def fill() -> None:
            nonlocal exhausted
            for slot in self._slots:
                if exhausted:
                    return
                if slot.job is None:
                    try:
                        path = Path(next(pending))
                    except StopIteration:
                        exhausted = True
                        return
                    self._submit(slot, path, password)

        try:
            fill()
            while any(slot.job is not None for slot in self._slots):
                done = self._next_result()
                fill()  # keep the workers busy while the caller handles ``done``
                yield done
        finally:
            # An abandoned iteration (break, Ctrl-C) leaves jobs nobody will collect: stop those workers.
            for slot in self._slots:
                if slot.job is not None:
                    slot.job = None
                    slot.kill()

    def _submit(self, slot: _Slot, path: Path, password: str | None) -> None:
        if slot.conn is None:
            slot.start(self.loader, self.memory_mb, self.timeout, self.per_unit, self.options)
        assert slot.conn is not None
        try:
            slot.conn.send((str(path), password))
        except OSError:  # the idle worker died since its last file: a fresh one gets the file
            slot.kill()
            slot.start(self.loader, self.memory_mb, self.timeout, self.per_unit, self.options)
            assert slot.conn is not None
            slot.conn.send((str(path), password))
        slot.job = path
        slot.extended = 0.0
        slot.deadline = time.monotonic() + (self.timeout if slot.ready else _STARTUP_LIMIT)

    def _next_result(self) -> Result:
        """Block until one busy worker finishes, dies or runs out of time; return its file's result."""
        while True:
            busy = [slot for slot in self._slots if slot.job is not None]
            # What a worker has already sent comes first, however long the caller took to come back for
            # it (embedding a big document can take minutes): the deadline bounds the parse, not the caller.
            for slot in busy:
                if slot.conn is not None and slot.conn.poll():
                    result = self._collect(slot)
                    if result is not None:
                        return result
            busy = [slot for slot in self._slots if slot.job is not None]
            now = time.monotonic()
            for slot in busy:
                if slot.deadline <= now:
                    if not slot.ready:
                        slot.kill()
                        raise RuntimeError(f"a parser worker did not start within {_STARTUP_LIMIT:g} s")
                    return slot.finish(LoadError(timeout_reason(self.timeout + slot.extended)), kill=True)
            conns = [slot.conn for slot in busy if slot.conn is not None]
            ready = wait(conns, timeout=max(0.0, min(slot.deadline for slot in busy) - now))
            for slot in busy:
                if slot.conn in ready:
                    result = self._collect(slot)
                    if result is not None:
                        return result

    def _collect(self, slot: _Slot) -> Result | None:
        """Read what a worker sent (None for its 'ready' signal), or explain its death (EOF)."""
        assert slot.conn is not None and slot.process is not None
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            returncode = slot.reap()
            if not slot.ready:
                slot.kill()
                raise RuntimeError(
                    f"a parser worker exited while starting ({_describe(returncode)}); see the messages above"
                ) from None
            return slot.finish(LoadError(self._death_reason(returncode)), kill=True)
        if message[0] == "ready":
            slot.ready = True
            slot.deadline = time.monotonic() + self.timeout  # the file's clock starts now
            return None
        if message[0] == "units":  # the file is long: its clock gets the time its pages are allowed
            slot.deadline += int(message[1]) * self.per_unit
            slot.extended += int(message[1]) * self.per_unit
            return None
        if message[0] == "fatal":
            slot.kill()
            raise RuntimeError(f"a parser worker could not start: {message[1]}")
        _, payload, records, retire = message
        for name, level, text in records:
            logging.getLogger(name).log(level, "%s", text)
        result = payload if isinstance(payload, ParsedDocument) else LoadError(str(payload))
        return slot.finish(result, kill=retire)

    def _death_reason(self, returncode: int | None) -> str:
        if returncode == -signal.SIGXCPU:
            return timeout_reason(self.timeout)
        if returncode == -signal.SIGKILL:  # not ours (ours are reported as timeouts): the kernel's OOM killer
            return "out of memory parsing (killed by the system)"
        return f"parser crashed ({_describe(returncode)})"


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class _Slot:
    """One worker process and the file it is parsing, if any."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    conn: Connection | None = None
    ready: bool = False
    job: Path | None = None
    deadline: float = 0.0
    extended: float = 0.0  # seconds the current file's loader earned by announcing its pages

    def start(self, loader: str, memory_mb: int, timeout: float, per_unit: float = 0.0,
              options: dict[str, Any] | None = None) -> None:
        parent_sock, child_sock = socket.socketpair()
        with child_sock:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BOOTSTRAP, str(child_sock.fileno()), *sys.path],
                pass_fds=[child_sock.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # a stray print must never corrupt the parent's --json output
                start_new_session=True,  # no terminal Ctrl-C; killpg reaches anything it starts
            )
        # Closing our copy of the child's end (``with`` above) is what lets us see EOF when it dies.
        self.conn = Connection(parent_sock.detach())
        self.ready = False
        self.conn.send(("config", loader, memory_mb, timeout, os.getpid(), per_unit, options or {}))
        logger.debug("started parser worker %d (pid %d)", self.index, self.process.pid)

    def finish(self, result: ParsedDocument | LoadError, kill: bool) -> Result:
        assert self.job is not None
        path, self.job = self.job, None
        if kill:
            self.kill()
        return path, result

    def reap(self) -> int | None:
        """Wait briefly for a worker that closed its pipe; its return code, or None if still running."""
        assert self.process is not None
        try:
            return self.process.wait(2.0)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the worker and anything it started (it leads its own process group)."""
        process, conn = self.process, self.conn
        self.process, self.conn, self.ready = None, None, False
        if conn is not None:
            conn.close()
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            logger.warning("parser worker %d (pid %d) did not die", self.index, process.pid)

    def stop(self) -> None:
        """Let an idle worker leave on EOF, then make sure it has."""
        if self.process is not None and self.job is None and self.conn is not None:
            self.conn.close()
            self.conn = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(2.0)
        self.kill()
