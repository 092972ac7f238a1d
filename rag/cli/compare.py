"""``rag ask --compare A,B``: two models answer from the same passages; each answer with its citations,
time to first token and tokens per second."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from rag.answer.sanitize import strip_control
from rag.cli.ask import format_citation
from rag.settings import Settings
from rag.text import detect_language

if TYPE_CHECKING:
    from rag.answer.compare import Comparer, SideResult

_SOURCES = {"es": "Fuentes", "en": "Sources"}


def build_comparer(settings: Settings, collection: str, models: tuple[str, str]) -> Comparer:
    """The same seam to the index as ``rag ask``, with two models."""
    from rag.answer.compare import Comparer
    from rag.cli.common import cli_identity
    from rag.service import Service

    retriever = Service.from_settings(settings).retriever(collection, identity=cli_identity(settings))
    return Comparer.from_settings(settings, retriever, models)


def run(comparer: Comparer, question: str, k: int | None = None, as_json: bool = False,
        out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Compare on ``out`` (each answer as it finishes, or one JSON object); progress goes to ``err``."""
    out = out or sys.stdout
    err = err or sys.stderr
    if as_json:
        out.write(json.dumps(comparer.compare(question, k).to_json(), ensure_ascii=False) + "\n")
        return 0
    lang = detect_language(question)
    for side, kind, data in comparer.stream(question, k):
        if kind == "hits" and not as_json:
            how = "at once" if comparer.concurrent else "one after the other (RAG_OLLAMA_PARALLEL=1)"
            err.write(f"{len(data)} passages retrieved; both models answer from them, {how}\n")
        elif kind == "done" and side:
            write_side(side, data, lang, out)
        elif kind == "done" and data.extractive is not None:
            if data.notice:
                err.write(strip_control(data.notice) + "\n")
            out.write(f"── extractive ──\n{strip_control(data.extractive.answer)}\n")
            for citation in data.extractive.citations:
                out.write(format_citation(citation) + "\n")
    out.flush()
    return 0


def write_side(side: str, result: SideResult, lang: str, out: TextIO) -> None:
    out.write(f"── {side.upper()}: {strip_control(result.model)} ──\n")
    if result.answer is None:
        out.write(("cancelled" if result.outcome == "cancelled" else strip_control(result.error)) + "\n\n")
        return
    answer = result.answer
    out.write(strip_control(answer.answer) + "\n")
    if answer.citations:
        out.write(f"{_SOURCES.get(lang, 'Sources')}:\n")
        for citation in answer.citations:
            out.write(format_citation(citation) + "\n")
    flags: list[str] = [answer.mode]
    if answer.mode == "llm":
        flags.append("abstained" if answer.abstained else "cited" if answer.supported else "UNSUPPORTED")
    if result.ttft is not None:
        flags.append(f"first token {result.ttft:.2f} s")
    if result.tokens_per_second is not None:
        flags.append(f"{result.tokens_per_second:.1f} tokens/s")
    out.write(f"({' · '.join(flags)})\n")
    if answer.notice:
        out.write(strip_control(answer.notice) + "\n")
    out.write("\n")
