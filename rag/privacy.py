"""Keep every library from phoning home; called first at each entry point.

Hugging Face runs offline unless the user switched downloads on explicitly (``RAG_ALLOW_DOWNLOADS``);
Chroma's telemetry is switched off in the store adapter's client settings as well as here.
"""

from __future__ import annotations

import os

_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def lock_down(allow_downloads: bool = False) -> None:
    """Set the environment so no library reaches out; safe to call more than once."""
    for key, value in _OFFLINE.items():
        if allow_downloads and key in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"}:
            continue
        os.environ[key] = value
    # huggingface_hub reads HF_HUB_OFFLINE once at import; if it was imported already, tell it too.
    try:
        import huggingface_hub.constants as hf_constants
    except ImportError:  # pragma: no cover - always installed with sentence-transformers
        return
    if not allow_downloads:
        hf_constants.HF_HUB_OFFLINE = True
