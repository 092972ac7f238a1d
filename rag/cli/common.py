"""Helpers shared by the subcommands: settings at the edge, JSON output, safe terminal text."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from rag.access.control import Identity
from rag.answer.sanitize import strip_control
from rag.errors import SettingsError
from rag.settings import Settings, validate_collection


def add_collection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", "-c", metavar="C", help="collection (default: RAG_COLLECTION)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings from the environment; a bad value is one clear line. The command's --collection is checked
    here but stays the command's: only RAG_COLLECTION names the default one, which exists before its first
    document, so a mistyped --collection is an error (CollectionNotFoundError), never a new, empty collection."""
    if getattr(args, "collection", None):
        validate_collection(args.collection)
    try:
        return Settings(**overrides)
    except ValidationError as exc:  # a bad RAG_* variable or option
        problems = "; ".join(
            f"{_variable(err['loc'])}: {err['msg']} (got {err.get('input')!r})" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


_told_operator = False


def cli_identity(settings: Settings) -> Identity:
    """Who a command acts as: the local user, or in department mode the operator (an administrator of
    every collection), which is said once on stderr."""
    global _told_operator
    if settings.mode == "personal":
        return Identity.local()
    if not _told_operator:
        print("rag: department mode: acting as the operator, an administrator of every collection",
              file=sys.stderr)
        _told_operator = True
    return Identity.operator()


def _variable(loc: tuple[Any, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    return "OLLAMA_HOST" if name == "ollama_host" else f"RAG_{name.upper()}"


def positive(value: str) -> int:
    """argparse type for counts such as -k."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def safe(text: str) -> str:
    """Document or model text fit for a terminal: no escape sequences or control characters."""
    return strip_control(text)


def excerpt(text: str, limit: int = 240) -> str:
    text = " ".join(safe(text).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def pages(page: int, page_end: int) -> str:
    return f"p. {page}" if page_end <= page else f"pp. {page}-{page_end}"
