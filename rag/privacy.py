"""Keep every library from phoning home; called first at each entry point, again once settings are known.

Whatever the caller's environment says:
- Hugging Face runs offline, unless the user switched downloads on explicitly (``RAG_ALLOW_DOWNLOADS=1``,
  the only switch: ``HF_HUB_OFFLINE=0`` in the shell does not do it);
- telemetry is off (Hugging Face, Chroma's anonymized telemetry, ``DO_NOT_TRACK``), and so is LangChain's
  tracing to LangSmith, which would send every prompt (the documents' passages) to a web service;
- no HTTP proxy is used: ``HTTP(S)_PROXY``/``ALL_PROXY`` would route the configured Ollama and Chroma
  endpoints' traffic (questions, passages, vectors) through another machine. With downloads on, proxies
  are kept for the downloads, and the Ollama and Chroma hosts are added to ``NO_PROXY``.
Chroma's telemetry is also switched off in the store adapter's client settings.

The caller's own values of the variables touched here are remembered at the first call, so a later call
with ``allow_downloads=True`` (once settings are read) can give back what the first call took away.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from urllib.parse import urlparse

_ALWAYS = {
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}
_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
}
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_NO_PROXY = ("NO_PROXY", "no_proxy")
_REMOVED = ("LANGCHAIN_HANDLER",)  # LangChain's old tracer switch

_caller: dict[str, str | None] | None = None  # the caller's values, saved by the first call


def lock_down(allow_downloads: bool = False, endpoints: Iterable[str] = ()) -> None:
    """Set the environment so no library reaches out; safe to call more than once.

    ``endpoints`` (the Ollama and Chroma URLs) matter only with downloads on: they bypass any proxy.
    """
    global _caller
    if _caller is None:
        keys = [*_ALWAYS, *_OFFLINE, *_PROXIES, *_NO_PROXY, *_REMOVED]
        _caller = {key: os.environ.get(key) for key in keys}
    for key, value in _ALWAYS.items():
        os.environ[key] = value
    for key in _REMOVED:
        os.environ.pop(key, None)
    if allow_downloads:
        for key in (*_OFFLINE, *_PROXIES, *_NO_PROXY):
            _restore(key, _caller[key])
        hosts = [h for h in (urlparse(e if "://" in e else f"http://{e}").hostname for e in endpoints if e) if h]
        if hosts and any(os.environ.get(key) for key in _PROXIES):
            for key in _NO_PROXY:
                os.environ[key] = ",".join([v for v in [os.environ.get(key)] if v] + hosts)
    else:
        os.environ.update(_OFFLINE)
        for key in _PROXIES:
            os.environ.pop(key, None)
    _tell_imported_libraries()


def _restore(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def _tell_imported_libraries() -> None:
    """Libraries that read these variables once, at import: if imported already, tell them too."""
    hf_constants = sys.modules.get("huggingface_hub.constants")
    if hf_constants is not None:
        offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
        hf_constants.HF_HUB_OFFLINE = offline.upper() in {"1", "ON", "YES", "TRUE"}  # type: ignore[attr-defined]
        hf_constants.HF_HUB_DISABLE_TELEMETRY = True  # type: ignore[attr-defined]
    langsmith_utils = sys.modules.get("langsmith.utils")
    if langsmith_utils is not None:  # caches the variables it read
        langsmith_utils.get_env_var.cache_clear()
