"""``rag reembed``: rebuild a collection's vectors with the current embedding model (RAG_EMBED_MODEL)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rag.cli.common import add_collection, add_json, cli_identity, load_settings, print_json
from rag.service import Service
from rag.types import DocumentInfo


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "reembed", help="re-embed a collection with the current embedding model (RAG_EMBED_MODEL)")
    add_collection(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    add_json(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    service = Service.from_settings(load_settings(args))
    collection = service.collection(args.collection)
    identity = cli_identity(service.settings)
    docs = service.documents(collection, identity=identity)
    passages = sum(d.chunks for d in docs)
    recorded = service.index.catalog(collection).get_meta("embedder") if docs else None
    target = service.embedder.name
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"rag reembed: re-embedding {passages} passages of {collection!r} replaces its vectors; "
                  "add --yes to confirm", file=sys.stderr)
            return 2
        answer = input(f"Re-embed {passages} passages of {collection!r} ({recorded} -> {target})? [y/N] ")
        if answer.strip().lower() not in {"y", "yes", "s", "si", "sí"}:
            print("nothing changed")
            return 1
    began = time.perf_counter()
    bar: Any = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        bar = tqdm(total=passages, unit="passage", file=sys.stderr, dynamic_ncols=True)

    def on_document(doc: DocumentInfo, chunks: int) -> None:
        if bar is not None:
            bar.update(chunks)

    try:
        done = service.reembed(collection, on_document=on_document, identity=identity)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - began
    if args.json:
        print_json({"collection": collection, "embedder": target, "previous": recorded,
                    "documents": len(docs), "passages": done, "seconds": round(seconds, 1)})
    else:
        print(f"re-embedded {done} passages of {len(docs)} document(s) in {collection!r} with {target} "
              f"({seconds:.0f} s)")
    return 0
