"""What every benchmark script shares: where things are, the machine, percentiles, tables, QA documents.

The scripts run as ``python benchmarks/NAME.py`` from the project root (``make bench``); each one puts the
project root first on ``sys.path`` before importing the project (see ``ROOT`` below), so the checkout it
sits in is the one measured, whatever else is installed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QA = SHARED / "qa"


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, load: what a reader needs to compare figures between machines."""
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gib = int(line.split()[1]) / 2**20
    except OSError:
        pass
    import torch

    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "avx512_bf16": "avx512_bf16" in flags,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
    }


def make_log(json_mode: bool) -> Callable[[str], None]:
    """Progress lines: on stdout, or on stderr when stdout carries the JSON result."""
    stream = sys.stderr if json_mode else sys.stdout

    def log(line: str) -> None:
        print(line, file=stream, flush=True)

    return log


def load_avg() -> float:
    """The 1-minute load average (2 cores: above 2 means something else is competing)."""
    return round(os.getloadavg()[0], 2)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (readable on a terminal, pasteable into docs/benchmarks.md)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return "–"
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    body = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in body]
    return "\n".join(lines)


def dump_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


class CachingEmbedder:
    """An Embedder that embeds each distinct text once (copies of an article cost no model time)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self._cache: dict[tuple[bool, str], np.ndarray] = {}

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return list(self.inner.count_tokens(texts))

    def prefill(self, texts: Sequence[str], *, query: bool = False, batch: int = 256) -> None:
        """Embed ``texts`` ahead, in large batches (vectors equal to one-by-one up to rounding)."""
        todo = list(dict.fromkeys(t for t in texts if (query, t) not in self._cache))
        for start in range(0, len(todo), batch):
            self._store(todo[start : start + batch], query)

    def _store(self, texts: list[str], query: bool) -> None:
        for text, vec in zip(texts, self.inner.embed(texts, query=query), strict=True):
            self._cache[(query, text)] = vec

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (query, t) not in self._cache))
        if missing:
            self._store(missing, query)
        if not texts:
            return np.asarray(self.inner.embed([], query=query))
        return np.stack([self._cache[(query, t)] for t in texts])


# -- QA data sets (SQuAD JSON) -----------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]  # gold answer texts; empty for unanswerable
    impossible: bool
    doc: str  # the article it was asked about
    paragraph: int  # 0-based paragraph index within the article = page - 1


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[str, ...]


def read_squad(path: Path) -> tuple[list[Article], list[Question]]:
    """Articles (title, paragraphs) and questions of a SQuAD-format file, in file order."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    articles: list[Article] = []
    questions: list[Question] = []
    for art in data:
        title = " ".join(art["title"].replace("_", " ").split())
        paragraphs = tuple(p["context"].replace("\ufeff", "").strip() for p in art["paragraphs"])
        articles.append(Article(title, paragraphs))
        for i, p in enumerate(art["paragraphs"]):
            for qa in p["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = () if impossible else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(Question(qa["id"], qa["question"].strip(), answers, impossible, title, i))
    return articles, questions


def article_document(article: Article, source: str, tag: str = "") -> Any:
    """One article as a ParsedDocument: one page per paragraph; ``tag`` makes a distinct copy's identity."""
    import hashlib

    from rag.types import ParsedDocument

    body = "\n\f\n".join(article.paragraphs)
    sha = hashlib.sha256(f"{source}\0{tag}\0{article.title}\0{body}".encode()).hexdigest()
    name = f"{article.title}{f' ({tag})' if tag else ''}.txt"
    return ParsedDocument(name=name, sha256=sha, pages=list(article.paragraphs), title=article.title,
                          size=len(body.encode()))
