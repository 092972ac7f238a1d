"""The worker side of the parser sandbox: bound this process, then parse files sent over a pipe.

Started by ``ingest.sandbox`` as a fresh interpreter (``python -c BOOTSTRAP fd sys.path...``); it never
imports the parent's ``__main__``. Protocol (pickled tuples over a multiprocessing Connection):
    parent -> worker: ("config", loader, memory_mb, timeout, parent_pid, per_unit, options), then
    (path, password) per file; the worker calls ``loader(path, password, **options)``
    worker -> parent: ("ready",) | ("fatal", detail) | ("units", n) | ("result", document or reason, logs,
    retire)

A loader that learns how many pages (slides, sheets' blocks) a file has calls ``announce_units(n)``: the
file's time limit then grows by ``per_unit`` seconds a unit (the pool's ``per_unit``), so a bound on a
300-page scan is not the bound on a memo.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from rag.errors import LoadError
from rag.types import ParsedDocument

logger = logging.getLogger(__name__)

Loader = Callable[..., ParsedDocument]  # loader(path, password, **options)
LogRecordData = tuple[str, int, str]  # logger name, level, message: what crosses back to the parent

BOOTSTRAP = (
    "import sys; sys.path[:] = sys.argv[2:]; from ingest.sandbox_worker import main; main(int(sys.argv[1]))"
)
_WATCHDOG_PERIOD = 0.5
_REASON_CHARS = 110
MAX_UNITS = 100_000  # more units than this extend the time limit no further


@dataclass
class _Job:
    """The worker's channel to the parent and the time allowance per unit of the file in hand."""

    conn: Connection | None = None
    per_unit: float = 0.0
    units: int = 0  # announced for the current file


_JOB = _Job()


def announce_units(units: int) -> None:
    """Say that the file being parsed has ``units`` pages (slides, blocks of rows): its time limit grows
    by the pool's per-unit allowance for each one beyond those already announced. Outside a worker (a
    parse in the calling process, a test) it does nothing."""
    extra = min(max(0, units), MAX_UNITS) - _JOB.units
    if _JOB.conn is None or _JOB.per_unit <= 0 or extra <= 0:
        return
    _JOB.units += extra
    _raise_cpu_limit(extra * _JOB.per_unit)
    _JOB.conn.send(("units", extra))


def resolve_loader(spec: str) -> Loader:
    """Import a loader named 'package.module:function' (module-level, so a fresh worker can find it)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"loader must look like 'package.module:function', got {spec!r}")
    return cast(Loader, getattr(importlib.import_module(module_name), attr))


def timeout_reason(timeout: float) -> str:
    """The reason given for a file that hit the time cap."""
    return f"too large / took too long (over {timeout:g} s)"


def memory_reason(memory_mb: int) -> str:
    """The reason given for a file that hit the memory cap."""
    return f"out of memory parsing (over {memory_mb} MB)"


def load_guarded(
    loader: Loader, path: Path, password: str | None, memory_mb: int, options: dict[str, Any] | None = None
) -> ParsedDocument | LoadError:
    """Run the loader; every outcome becomes a document or a LoadError (bugs are logged with traceback)."""
    try:
        return loader(path, password, **(options or {}))
    except LoadError as exc:
        return exc
    except MemoryError:
        return LoadError(memory_reason(memory_mb))
    except Exception as exc:  # a loader bug must cost one file, not the run
        logger.exception("loader failed on %s", path)
        return LoadError(one_line(f"internal error: {type(exc).__name__}: {exc}"))


def one_line(text: str, limit: int = _REASON_CHARS) -> str:
    """Whitespace collapsed, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(fd: int) -> None:
    """A worker's life: read its config, bound itself, import the loader, parse until EOF or retirement."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # belt and braces: it already runs in its own session
    conn = Connection(fd)
    try:
        _, loader_spec, memory_mb, timeout, parent_pid, per_unit, options = conn.recv()
    except (EOFError, OSError):
        return
    _JOB.conn, _JOB.per_unit = conn, float(per_unit)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    _limit_memory(memory_mb)
    collector = _Collector()
    root = logging.getLogger()
    root.handlers[:] = [collector]
    root.setLevel(logging.INFO)
    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)  # robustness chatter, never useful to users
    logging.captureWarnings(True)  # any other library's warnings reach the parent's logging, not stderr
    try:
        loader = resolve_loader(loader_spec)
    except Exception as exc:
        conn.send(("fatal", one_line(f"cannot import loader {loader_spec}: {type(exc).__name__}: {exc}")))
        return
    conn.send(("ready",))
    _serve(conn, loader, memory_mb, timeout, collector, options)


def _serve(conn: Connection, loader: Loader, memory_mb: int, timeout: float, collector: _Collector,
           options: dict[str, Any]) -> None:
    while True:
        try:
            path, password = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pool or died
        _limit_cpu(timeout)
        _JOB.units = 0
        result = load_guarded(loader, Path(path), password, memory_mb, options)
        # After a MemoryError the heap may be fragmented or half-built objects linger: start afresh.
        retire = isinstance(result, LoadError) and result.reason == memory_reason(memory_mb)
        payload: ParsedDocument | str = result if isinstance(result, ParsedDocument) else result.reason
        try:
            conn.send(("result", payload, collector.take(), retire))
        except MemoryError:
            conn.send(("result", memory_reason(memory_mb), [], True))
            return
        except (OSError, ValueError):
            return
        if retire:
            return


class _Collector(logging.Handler):
    """Keeps the worker's log records so the parent can re-emit them through its own logging setup."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[LogRecordData] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        self.records.append((record.name, record.levelno, text))

    def take(self) -> list[LogRecordData]:
        records, self.records = self.records, []
        return records


def _limit_memory(memory_mb: int) -> None:
    """Cap this process's address space (a bomb gets MemoryError), and leave no core files behind."""
    cap = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    _, core_hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, core_hard))


def _limit_cpu(timeout: float) -> None:
    """A CPU-time backstop for one job: SIGXCPU ends a worker stuck in C code even if the parent is gone."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + math.ceil(timeout) + 10
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _raise_cpu_limit(seconds: float) -> None:
    """Give the current job ``seconds`` more CPU time before SIGXCPU (announced units)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if soft == resource.RLIM_INFINITY:
        return
    soft += math.ceil(seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _watch_parent(parent_pid: int) -> None:
    """Exit as soon as the parent is gone (re-parented to init or a subreaper), busy or not."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(70)
        time.sleep(_WATCHDOG_PERIOD)
