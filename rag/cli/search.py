"""``rag search``: retrieval only."""

from __future__ import annotations

import argparse
from typing import Any

from rag.cli.common import (
    add_collection,
    add_json,
    cli_identity,
    excerpt,
    load_settings,
    pages,
    positive,
    print_json,
    safe,
)
from rag.service import Service


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("search", help="find the passages that match a question")
    p.add_argument("question")
    add_collection(p)
    p.add_argument("-k", type=positive, default=None, metavar="K", help="passages to return (default: RAG_TOP_K)")
    p.add_argument("--method", choices=["hybrid", "dense", "lexical"], default="hybrid",
                   help="retriever (default: hybrid)")
    add_json(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    service = Service.from_settings(load_settings(args))
    hits = service.search(args.question, args.collection, k=args.k, method=args.method,
                          identity=cli_identity(service.settings))
    if args.json:
        print_json({"query": args.question, "hits": [h.to_json() for h in hits]})
        return 0
    if not hits:
        print("No passages found. Is anything ingested? Try `rag docs list`.")
        return 0
    for hit in hits:
        where = safe(hit.locator) if hit.locator else pages(hit.page, hit.page_end)
        print(f"[{hit.rank}] {safe(hit.source)}, {where}  (score {hit.score:.3f})")
        print(f"    {excerpt(hit.text, 400)}\n")
    return 0
