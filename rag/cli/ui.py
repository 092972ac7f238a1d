"""``rag ui``: start the web app (Streamlit) on loopback; in department mode, with OIDC sign-in.

Streamlit reads its sign-in configuration (``[auth]``) only from a secrets file. In department mode this
command writes one from the settings into a private folder of its own (mode 0700, the file 0600), never
into the project, and points Streamlit at it; the secrets themselves are never printed or logged.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rag.errors import SettingsError
from rag.settings import Settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def redirect_uri(settings: Settings, host: str, port: int) -> str:
    """The URL the identity provider sends users back to: the setting, or this loopback server's own."""
    configured = settings.oidc_redirect_uri.strip()
    if configured:
        if not configured.rstrip("/").endswith("/oauth2callback"):
            raise SettingsError(f"RAG_OIDC_REDIRECT_URI must end in /oauth2callback (got {configured!r}); "
                                "register https://YOUR-HOST/oauth2callback with the identity provider")
        parsed = urlparse(configured)
        if settings.cookie_secure and parsed.scheme != "https" and parsed.hostname not in LOOPBACK:
            # Streamlit cannot mark its cookie Secure; what this app can do is never sign in over plain HTTP
            raise SettingsError(f"RAG_OIDC_REDIRECT_URI is plain http ({configured}): serve the app over HTTPS "
                                "through a TLS reverse proxy (docs/deployment.md), or set RAG_COOKIE_SECURE=false "
                                "on a closed test network")
        return configured.rstrip("/")
    if host in LOOPBACK:
        return f"http://{'127.0.0.1' if host == '::1' else host}:{port}/oauth2callback"
    raise SettingsError("set RAG_OIDC_REDIRECT_URI to the address users reach, ending in /oauth2callback "
                        "(e.g. https://rag.example.edu/oauth2callback), and register it with the identity provider")


def auth_secrets(settings: Settings, host: str, port: int) -> str:
    """Streamlit's ``[auth]`` section for department mode, from the settings; raises SettingsError for a gap."""
    secret = settings.cookie_secret.get_secret_value()  # Settings refuses department mode without one
    if not secret:
        raise SettingsError("department mode needs RAG_COOKIE_SECRET (see docs/deployment.md)")
    missing = [name for name, value in (("RAG_OIDC_SERVER_METADATA_URL", settings.oidc_server_metadata_url),
                                        ("RAG_OIDC_CLIENT_ID", settings.oidc_client_id),
                                        ("RAG_OIDC_CLIENT_SECRET", settings.oidc_client_secret.get_secret_value()))
               if not value.strip()]
    if missing:
        raise SettingsError(f"department mode needs {', '.join(missing)}: the identity provider's discovery URL "
                            "(…/.well-known/openid-configuration) and the client registered for this app")
    lines = [
        "[auth]",
        f"redirect_uri = {_toml(redirect_uri(settings, host, port))}",
        f"cookie_secret = {_toml(secret)}",
        f"client_id = {_toml(settings.oidc_client_id.strip())}",
        f"client_secret = {_toml(settings.oidc_client_secret.get_secret_value())}",
        f"server_metadata_url = {_toml(settings.oidc_server_metadata_url.strip())}",
    ]
    return "\n".join(lines) + "\n"


def write_secrets(text: str) -> Path:
    """Write Streamlit's secrets into a fresh private folder (0700, file 0600); returns the file."""
    folder = Path(tempfile.mkdtemp(prefix="rag-ui-"))  # mkdtemp makes it 0700, readable by this user only
    path = folder / "secrets.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def streamlit_command(host: str, port: int, max_upload_mb: int = 200, secrets: Path | None = None) -> list[str]:
    auth = ["--secrets.files", str(secrets)] if secrets is not None else []
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
        *auth,
    ]


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    secrets = None
    if settings.mode == "department":
        secrets = write_secrets(auth_secrets(settings, args.host, args.port))
        print("Department mode: users sign in with the identity provider", file=sys.stderr)
    command = streamlit_command(args.host, args.port, settings.max_upload_mb, secrets)
    print(f"Opening the web app at http://{args.host}:{args.port}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if hasattr(os, "execv"):
        # Become Streamlit, so a stop signal (docker stop, a supervisor, a test) reaches the server itself
        # instead of leaving it running without its parent.
        os.execv(command[0], command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
