"""``rag docs list|remove``: what a collection holds."""

from __future__ import annotations

import argparse
from typing import Any

from rag.cli.common import add_collection, add_json, cli_identity, load_settings, print_json, safe
from rag.service import Service
from rag.types import DocumentInfo


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("docs", help="list or remove documents")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = verbs.add_parser("list", help="documents in the collection")
    add_collection(ls)
    add_json(ls)
    ls.set_defaults(handler=run_list)
    rm = verbs.add_parser("remove", help="remove a document (by file name or sha256 prefix)")
    rm.add_argument("name")
    add_collection(rm)
    add_json(rm)
    rm.set_defaults(handler=run_remove)
    cols = verbs.add_parser("collections", help="the collections in the data directory")
    add_json(cols)
    cols.set_defaults(handler=run_collections)


def run_list(args: argparse.Namespace) -> int:
    service = Service.from_settings(load_settings(args))
    docs = service.documents(args.collection, identity=cli_identity(service.settings))
    if args.json:
        print_json({"collection": service.collection(args.collection), "documents": [d.to_json() for d in docs]})
        return 0
    if not docs:
        print(f"Collection {service.collection(args.collection)!r} is empty. Add files with `rag ingest PATH`.")
        return 0
    width = max(len(d.name) for d in docs)
    made = [_units(d) for d in docs]
    made_width = max(len("units"), *(len(m) for m in made))
    print(f"{'name'.ljust(width)}  {'units'.ljust(made_width)}  chunks  ingested (UTC)             sha256")
    for d, m in zip(docs, made, strict=True):
        also = f"  (also: {', '.join(n for n in d.names if n != d.name)})" if len(d.names) > 1 else ""
        print(f"{safe(d.name).ljust(width)}  {m.ljust(made_width)}  {d.chunks:6d}  {d.ingested_at:25s}  "
              f"{d.sha256[:12]}{safe(also)}")
    print(f"{len(docs)} document(s), {sum(d.chunks for d in docs)} passages")
    return 0


def _units(doc: DocumentInfo) -> str:
    """'12 pages', '8 slides', '5 sections', '2 sheets, 7 row blocks': what ``pages`` counts for this file."""
    def counted(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    if doc.unit == "sheet":
        blocks = counted(doc.pages, "row block")
        return f"{counted(doc.sheets, 'sheet')}, {blocks}" if doc.sheets else blocks
    return counted(doc.pages, doc.unit)


def run_remove(args: argparse.Namespace) -> int:
    service = Service.from_settings(load_settings(args))
    removed = service.remove_document(args.name, args.collection, identity=cli_identity(service.settings))
    if args.json:
        print_json({"removed": [d.name for d in removed]})
    else:
        for d in removed:
            print(f"removed {safe(d.name)} ({d.chunks} passages)")
    return 0


def run_collections(args: argparse.Namespace) -> int:
    service = Service.from_settings(load_settings(args))
    names = [n for n in service.collections(identity=cli_identity(service.settings)) if service.index.exists(n)]
    if args.json:
        print_json({"collections": names})
    else:
        print("\n".join(names) if names else "no collections yet")
    return 0
