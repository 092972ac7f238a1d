"""``rag ingest``: contributed to the ``rag`` command through the ``rag.commands`` entry point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rag.cli.common import add_collection, add_json, cli_identity, load_settings, print_json, safe
from rag.service import Service


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "ingest", help="add files or folders (PDF, .txt, .md) to a collection",
        description="Index files and folders (recursively). Unchanged files are skipped by content hash, "
                    "changed files replace their old passages; bad files are reported, never fatal.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_collection(p)
    p.add_argument("--password", help="password for encrypted PDFs, Office and OpenDocument files "
                   "(empty PDF passwords are tried anyway)")
    p.add_argument("--prune", action="store_true", help="remove documents whose files are gone")
    p.add_argument("--workers", type=int, default=1, help="parser processes (default: 1)")
    add_json(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ingest.pipeline import IngestJob, IngestReport, discover
    from ingest.progress import BarProgress, LineProgress

    service = Service.from_settings(load_settings(args))
    report = IngestReport()
    sources = discover(args.paths, report)
    progress = BarProgress() if sys.stderr.isatty() and not args.json else LineProgress()
    job = IngestJob(service, args.collection, password=args.password, progress=progress, workers=max(0, args.workers),
                    identity=cli_identity(service.settings))
    job.run(sources, prune=args.prune, report=report)
    if args.json:
        print_json(report.to_json())
        return 0
    print(f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
          f"{len(report.removed)} removed, {len(report.failed)} failed; {report.chunks} passages "
          f"in {report.seconds:.1f} s (collection {job.collection!r})")
    for failure in report.failed:
        print(f"  failed {safe(failure['path'])}: {safe(failure['reason'])}")
    return 0
