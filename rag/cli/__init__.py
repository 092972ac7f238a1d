"""The ``rag`` command: one module per subcommand, each with ``register(subparsers)``.

Subcommands that need the ingestion job (``rag ingest``) are contributed through the ``rag.commands``
entry-point group, so this library never imports ``ingest``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from rag import __version__
from rag.errors import RagError
from rag.privacy import lock_down

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

_BUILTIN = ("rag.cli.search", "rag.cli.ask", "rag.cli.docs", "rag.cli.eval", "rag.cli.reembed",
            "rag.cli.ui", "rag.cli.models", "rag.cli.votes", "rag.cli.access", "rag.cli.keys")


def _register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import importlib

    for name in _BUILTIN:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command not built yet
        module.register(sub)
    for ep in entry_points(group="rag.commands"):
        ep.load()(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Private question answering over your own documents (local models, nothing leaves).",
    )
    parser.add_argument("--version", action="version", version=f"rag {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    lock_down()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except RagError as exc:
        print(f"rag {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rag {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rag search ... | head`: the reader has gone, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
