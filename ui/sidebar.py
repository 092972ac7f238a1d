"""The sidebar: collection picker (and a new collection), Ollama's status and model, the language."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from rag.access.control import Identity
from rag.answer.generation import OllamaStatus
from rag.errors import RagError, SettingsError
from rag.service import Service
from rag.settings import validate_collection
from ui.auth import owner_group_picker
from ui.components import md_escape
from ui.i18n import LANGUAGE_LABEL, LANGUAGES, Translator
from ui.model_facts import option_label, picker_facts, render_model_facts, render_recommendations


def _create_collection(service: Service, tr: Translator, identity: Identity) -> None:
    """Button callback: runs before the rerun, so it may still set the picker's value."""
    name = (st.session_state.get("new_collection") or "").strip()
    group = st.session_state.get("new_collection_group") or None
    try:
        validate_collection(name)
    except SettingsError:
        st.session_state["_collection_msg"] = ("error", tr("sidebar.invalid_collection"))
        return
    try:
        created = service.create_collection(name, identity=identity, group=group)
    except RagError as exc:  # a name taken by a collection the caller cannot see, no group chosen
        st.session_state["_collection_msg"] = ("error", md_escape(str(exc)))
        return
    st.session_state["collection"] = created
    st.session_state["new_collection"] = ""
    st.session_state["_collection_msg"] = ("success", tr("sidebar.created", name=created))


def collection_picker(service: Service, tr: Translator, identity: Identity | None = None) -> str | None:
    """The collection to work in, among those the caller may read (None: there is none yet)."""
    identity = identity or Identity.local()
    options = service.collections(identity=identity)
    if st.session_state.get("collection") not in options:
        default = service.settings.collection
        st.session_state["collection"] = default if default in options else (options[0] if options else None)
    collection: str | None = st.selectbox(tr("sidebar.collection"), options, key="collection",
                                          help=tr("sidebar.collection_help"), icon=":material/folder:")
    with (st.popover(tr("sidebar.new_collection"), icon=":material/create_new_folder:", width="stretch"),
          st.form("new_collection_form", border=False)):
        st.text_input(tr("sidebar.new_collection_name"), key="new_collection",
                      placeholder=tr("sidebar.new_collection_placeholder"))
        owner_group_picker(service, tr, identity)
        st.form_submit_button(tr("sidebar.create"), type="primary", on_click=_create_collection,
                              args=(service, tr, identity))
        msg = st.session_state.pop("_collection_msg", None)
        if msg:  # inside the popover, which stays open: under it the message would be hidden
            kind, text = msg
            (st.error if kind == "error" else st.success)(text)
    return collection


def model_picker(status: OllamaStatus, configured: str, tr: Translator,
                 label: Callable[[str], str] = str) -> str:
    """The model to answer with; a status line says whether Ollama answers."""
    if not status.reachable:
        st.markdown(tr("sidebar.ollama_down"), help=status.error)
        return configured
    st.markdown(tr("sidebar.ollama_ok", version=status.version))
    models = [m for m in status.models if "embed" not in m]  # embedding models cannot answer
    if not models:
        st.warning(tr("sidebar.no_models", model=configured), icon=":material/download:")
        return configured
    if st.session_state.get("model") not in models:
        pulled = next((m for m in models if m in (configured, f"{configured}:latest")), None)
        st.session_state["model"] = pulled or models[0]
    model: str = st.selectbox(tr("sidebar.model"), models, key="model", help=tr("sidebar.model_help"),
                              icon=":material/smart_toy:", format_func=label)
    if not status.has(configured):
        st.caption(tr("sidebar.model_missing", model=configured))
    return model


def language_picker() -> None:
    st.segmented_control(LANGUAGE_LABEL, list(LANGUAGES), format_func=LANGUAGES.__getitem__,
                         key="lang", required=True, width="stretch")


def render_sidebar(service: Service, status: OllamaStatus, tr: Translator,
                   identity: Identity | None = None) -> tuple[str | None, str]:
    """Draw the sidebar; return the chosen collection (None: the caller may read none) and model."""
    with st.sidebar:
        collection = collection_picker(service, tr, identity)
        st.divider()
        facts = picker_facts(service.settings, status)
        model = model_picker(status, service.settings.model, tr, label=option_label(facts, tr))
        if status.reachable:
            render_model_facts(facts, model, tr)
        render_recommendations(tr)
        st.divider()
        language_picker()
        st.caption(tr("sidebar.private"))
    return collection, model
