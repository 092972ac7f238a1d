"""``rag ui``: start the web app (Streamlit) on loopback."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rag.errors import SettingsError
from rag.settings import Settings


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("ui", help="start the web app")
    p.add_argument("--host", default=os.environ.get("RAG_UI_HOST", "127.0.0.1"),
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("RAG_UI_PORT", "8501")))
    p.set_defaults(handler=run)


def app_path() -> Path:
    """ui/app.py, located without importing the ui package (the library never imports it)."""
    spec = importlib.util.find_spec("ui")
    if spec is None or not spec.submodule_search_locations:
        raise SettingsError("the web app (package 'ui') is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def streamlit_command(host: str, port: int, max_upload_mb: int = 200) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        "--server.maxUploadSize", str(max_upload_mb),
        # the rest of .streamlit/config.toml, which Streamlit reads only from the working directory
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
    ]


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    command = streamlit_command(args.host, args.port, settings.max_upload_mb)
    print(f"Opening the web app at http://{args.host}:{args.port}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if hasattr(os, "execv"):
        # Become Streamlit, so a stop signal (docker stop, a supervisor, a test) reaches the server itself
        # instead of leaving it running without its parent.
        os.execv(command[0], command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
