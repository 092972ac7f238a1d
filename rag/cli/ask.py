"""``rag ask "QUESTION"``: answer from the indexed documents, streamed, then list the sources.

Exit 0 whenever an answer was given, generated or extractive; the index being unusable is the only
failure (a RagError, which ``rag.cli.main`` prints as one line with exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from rag.answer.prompts import UNSUPPORTED
from rag.answer.sanitize import strip_control
from rag.cli.common import add_collection, load_settings, positive
from rag.settings import Settings, validate_collection
from rag.text import collapse, detect_language
from rag.types import Answer, Citation, page_locator

if TYPE_CHECKING:
    from rag.answer.answerer import Answerer

_SOURCES = {"es": "Fuentes", "en": "Sources"}
_EXCERPT_CHARS = 160


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ask`` subcommand."""
    parser = subparsers.add_parser(
        "ask",
        help="answer a question from your documents, citing them",
        description="Answer a question from the indexed documents with a local Ollama model, citing file "
        "and page. Without Ollama, the answer is the best supporting sentences (extractive).",
    )
    parser.add_argument("question", help='e.g. "¿Cuál es la nota mínima de aprobación?"')
    add_collection(parser)
    parser.add_argument("--model", help="Ollama model for the answer (default: RAG_MODEL)")
    parser.add_argument("-k", type=positive, default=None, help="passages to retrieve (default: RAG_TOP_K)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    parser.add_argument("--compare", metavar="MODEL_A,MODEL_B",
                        help="two models answer from the same passages, side by side (see `rag votes`)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Build settings and the answerer, then answer."""
    settings = load_settings(args, **({"model": args.model} if args.model else {}))
    collection = validate_collection(args.collection or settings.collection)
    if args.compare:
        from rag.answer.compare import parse_pair
        from rag.cli import compare

        comparer = compare.build_comparer(settings, collection, parse_pair(args.compare))
        try:
            return compare.run(comparer, args.question, k=args.k, as_json=args.json)
        finally:
            comparer.close()
    answerer = build_answerer(settings, collection)
    try:
        return run(answerer, args.question, k=args.k, as_json=args.json)
    finally:
        answerer.close()


def build_answerer(settings: Settings, collection: str) -> Answerer:
    """The one seam to the index: ``Service.from_settings(settings).retriever(collection)``."""
    from rag.answer.answerer import Answerer
    from rag.cli.common import cli_identity
    from rag.service import Service  # the index; imported here so `rag --help` stays fast

    retriever = Service.from_settings(settings).retriever(collection, identity=cli_identity(settings))
    return Answerer.from_settings(settings, retriever)


def run(
    answerer: Answerer,
    question: str,
    k: int | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Answer ``question`` on ``out`` (streamed, or one JSON object); notices go to ``err``."""
    out = out or sys.stdout
    err = err or sys.stderr
    if as_json:
        answer = answerer.ask(question, k=k)
        out.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
        return 0
    final: Answer | None = None
    told: set[str] = set()
    for kind, data in answerer.stream(question, k=k):
        if kind == "token":
            out.write(strip_control(data))
            out.flush()
        elif kind == "status":
            told.add(data)
            err.write(strip_control(data) + "\n")
            err.flush()
        elif kind == "done":
            final = data
    out.write("\n")
    if final is None:  # pragma: no cover - the chain always ends with "done"
        return 1
    lang = detect_language(question)
    if final.citations:
        out.write(f"\n{_SOURCES[lang]}:\n")
        for citation in final.citations:
            out.write(format_citation(citation) + "\n")
    if final.notice and final.notice not in told:
        err.write(strip_control(final.notice) + "\n")
    if final.mode == "llm" and not final.supported and not final.abstained:
        err.write(UNSUPPORTED[lang] + "\n")
    out.flush()
    return 0


def format_citation(citation: Citation) -> str:
    """One source line: ``[1] reglamento.pdf, p. 3 — "La nota mínima…"``."""
    pages = citation.locator or page_locator(citation.page, max(citation.page, citation.page_end))
    excerpt = strip_control(collapse(citation.text))
    if len(excerpt) > _EXCERPT_CHARS:
        excerpt = excerpt[:_EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    return f'[{citation.n}] {strip_control(citation.source)}, {pages} — "{excerpt}"'
