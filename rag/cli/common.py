"""Helpers shared by the subcommands: settings at the edge, JSON output, safe terminal text."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from rag.settings import Settings

# ANSI escape sequences and other control characters: document text must not drive the terminal.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def add_collection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", "-c", metavar="C", help="collection (default: RAG_COLLECTION)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "collection", None):
        overrides["collection"] = args.collection
    return Settings(**overrides)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def safe(text: str) -> str:
    """Text fit for a terminal: no escape sequences or control characters (newlines kept)."""
    return _CONTROL.sub("", text)


def excerpt(text: str, limit: int = 240) -> str:
    text = " ".join(safe(text).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def pages(page: int, page_end: int) -> str:
    return f"p. {page}" if page_end <= page else f"pp. {page}-{page_end}"
