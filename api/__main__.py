"""``python -m api [--host H] [--port P]``: the same as ``rag serve`` (before the entry point is installed)."""

from __future__ import annotations

import argparse
import logging
import sys

from api.cli import register
from rag.errors import RagError
from rag.privacy import lock_down


def main() -> int:
    lock_down()
    parser = argparse.ArgumentParser(prog="python -m api")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *sys.argv[1:]])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except RagError as exc:
        print(f"rag serve: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
