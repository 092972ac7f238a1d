"""``rag serve``: contributed to the ``rag`` command through the ``rag.commands`` entry point."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from rag.cli.common import load_settings
from rag.errors import SettingsError

DEFAULT_PORT = 8502


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help="start the HTTP API (REST and OpenAI-compatible chat)",
        description="Start the HTTP API on uvicorn: REST under /api, OpenAI-compatible chat under /v1, "
                    "documentation at /docs. Listens on loopback unless told otherwise.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--trust-network", action="store_true",
                   help="listen beyond loopback in personal mode without a key (inside a container published on "
                        "127.0.0.1 only, or behind a proxy that authenticates)")
    p.set_defaults(handler=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from rag.access.keys import KeyStore
    from rag.service import Service

    settings = load_settings(args)
    if settings.mode == "department" and settings.api_key.get_secret_value():
        raise SettingsError("RAG_API_KEY is personal mode's key; in department mode every key belongs to a user: "
                            "unset it and use `rag keys create --user NAME`")
    if (settings.mode == "personal" and not _loopback(args.host) and not args.trust_network
            and not settings.api_key.get_secret_value()
            and not KeyStore.open(settings.data_dir).any_active()):
        raise SettingsError(f"refusing to listen on {args.host} without a key: anyone who reaches it could read "
                            "every document. Set RAG_API_KEY or create one with `rag keys create --user NAME` "
                            "(or --trust-network if the network is yours alone)")
    service = Service.from_settings(settings)
    print(f"API on http://{args.host}:{args.port} (docs: /docs, OpenAI-compatible: /v1)", file=sys.stderr)
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="warning",
                access_log=False, server_header=False)
    return 0
