"""What every page needs, loaded once per process (index, embedding model, answerer) or once per run.

The slow things are ``st.cache_resource`` entries keyed by the settings, so a second question costs only
retrieval and generation; Ollama's status is cached for a few seconds so reruns do not hit it each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from rag.access.control import Identity
from rag.access.keys import KeyStore
from rag.answer.answerer import Answerer
from rag.answer.generation import OllamaStatus, ollama_status
from rag.encoders.embedders import Embedder, make_embedder
from rag.privacy import lock_down
from rag.service import Service
from rag.settings import Settings
from ui.i18n import CHECKING_OLLAMA, Translator

OLLAMA_STATUS_TTL = 10  # seconds


@dataclass(frozen=True)
class AppContext:
    """The settings, the service, the caller and the sidebar's choices, for the page being drawn.

    Every call a page makes to the service names ``identity``: what the caller may not read does not exist.
    """

    settings: Settings
    service: Service
    collection: str
    model: str
    ollama: OllamaStatus
    tr: Translator
    identity: Identity = Identity.local()


@st.cache_resource(show_spinner=False)
def load_embedder(embed_model: str, precision: str, _settings: Settings) -> Embedder:
    """The embedding model, loaded and warmed once per process (shared by every collection and session)."""
    embedder = make_embedder(_settings)
    embedder.embed(["warm up"])
    return embedder


@st.cache_resource(show_spinner=False)
def load_service(settings_key: str, _settings: Settings) -> Service:
    """The service (index opened lazily, embedder shared) for one set of settings."""
    lock_down(_settings.allow_downloads)
    embedder = load_embedder(_settings.embed_model, _settings.embed_precision, _settings)
    return Service(_settings, embedder=embedder)


@st.cache_resource(show_spinner=False, max_entries=256)
def load_answerer(settings_key: str, collection: str, model: str, _service: Service,
                  identity: Identity | None = None) -> Answerer:
    """The answering chain for one collection, model and caller, built once and shared by that caller's
    sessions (its retriever checks the caller's right again on every question, so a revoked grant counts
    from the next one); the collection's lexical postings start loading into memory now (in the background,
    ~4.5 s at 100k passages), not on its first question."""
    answerer = _service.answerer(collection, identity=identity, model=model)  # refused if it may not read
    if _service.index.exists(collection):
        _service.index.catalog(collection).postings()
    return answerer


@st.cache_resource(show_spinner=False)
def load_key_store(data_dir: str) -> KeyStore:
    """The data directory's API keys, opened once per process (the store is thread-safe)."""
    return KeyStore.open(Path(data_dir))


@st.cache_data(ttl=OLLAMA_STATUS_TTL, show_spinner=CHECKING_OLLAMA)
def probe_ollama(host: str, _settings: Settings) -> OllamaStatus:
    """Ollama's status, asked at most every few seconds per host."""
    return ollama_status(_settings)


def settings_key(settings: Settings) -> str:
    return settings.model_dump_json()


def set_context(ctx: AppContext) -> None:
    st.session_state["_ctx"] = ctx


def context() -> AppContext:
    """The context app.py prepared for this run (pages are only ever run through app.py)."""
    ctx: AppContext = st.session_state["_ctx"]
    return ctx


def caller() -> Identity:
    """Who this run acts for (shared pieces that are handed the service but not the context ask here)."""
    return context().identity
