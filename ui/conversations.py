"""The caller's saved conversations in the sidebar: reopen one (with its citations), delete one's own.

The chat page keeps each answered question through ``save_exchange``; the list and the turns come from the
library's ConversationStore, which only ever shows a user their own conversations, and withholds the
answers of a collection they may no longer read.
"""

from __future__ import annotations

import contextlib
import logging

import streamlit as st

from rag.access.control import Identity
from rag.errors import ConversationNotFoundError, RagError
from rag.service import Service
from rag.types import Answer
from ui.components import Exchange, md_escape
from ui.i18n import Translator

log = logging.getLogger(__name__)
SHOWN = 30  # conversations listed in the sidebar, newest first
OPEN_CHAT = "_open_chat"  # set when a conversation was reopened: app.py switches to the chat page


def history_key(collection: str) -> str:
    """Where the chat page keeps the exchanges of the conversation open in ``collection``."""
    return f"chat:{collection}"


def conversation_key(collection: str) -> str:
    """Where the chat page keeps the id of the conversation open in ``collection`` (absent: a new one)."""
    return f"conversation:{collection}"


def save_exchange(service: Service, identity: Identity, collection: str, answer: Answer) -> None:
    """Keep one answered question in the open conversation of ``collection`` (starting one if none is open)."""
    key = conversation_key(collection)
    store = service.conversations
    try:
        try:
            st.session_state[key] = store.append(identity, st.session_state.get(key), collection, answer)
        except ConversationNotFoundError:  # deleted meanwhile (from another tab): the answer starts a new one
            st.session_state[key] = store.append(identity, None, collection, answer)
    except RagError as exc:  # read access revoked since the answer was made: it is shown, not kept
        log.warning("answer not kept in %s's conversations: %s", identity.user, exc)


def new_conversation(collection: str) -> None:
    st.session_state[history_key(collection)] = []
    st.session_state.pop(conversation_key(collection), None)


def _open(service: Service, identity: Identity, conversation_id: str, tr: Translator) -> None:
    """Button callback: load the conversation into its collection's chat and go there."""
    try:
        stored = service.conversations.get(identity, conversation_id)
    except RagError:
        st.session_state["_conversation_msg"] = tr("conv.gone")
        return
    collection = stored.info.collection
    if not collection or not service.can(collection, "read", identity=identity):
        st.session_state["_conversation_msg"] = tr("conv.no_passages")
        return
    st.session_state["collection"] = collection
    st.session_state[history_key(collection)] = [Exchange(t.question, t.answer) for t in stored.turns]
    st.session_state[conversation_key(collection)] = stored.info.id
    st.session_state[OPEN_CHAT] = True


def _delete(service: Service, identity: Identity, conversation_id: str, tr: Translator) -> None:
    with contextlib.suppress(RagError):  # already gone: the list no longer shows it either
        service.conversations.delete(identity, conversation_id)
    for key in [k for k in st.session_state if str(k).startswith("conversation:")]:
        if st.session_state[key] == conversation_id:  # it was open: its chat empties
            new_conversation(str(key).split(":", 1)[1])
    st.session_state["_conversation_msg"] = tr("conv.deleted")


def conversation_list(service: Service, identity: Identity, tr: Translator) -> None:
    """The sidebar's list: each title reopens its conversation, the bin deletes it."""
    try:
        saved = service.conversations.list(identity, limit=SHOWN)
    except RagError as exc:  # the access database cannot be read: the rest of the page still works
        log.warning("conversations unavailable: %s", exc)
        return
    open_ids = {st.session_state.get(k) for k in st.session_state if str(k).startswith("conversation:")}
    with st.expander(tr("conv.title"), icon=":material/history:", expanded=bool(saved)):
        message = st.session_state.pop("_conversation_msg", None)
        if message:
            st.caption(message)
        if not saved:
            st.caption(tr("conv.none"))
        for info in saved:
            title, delete = st.columns([6, 1], vertical_alignment="center", gap="small")
            label = md_escape(info.title) if info.title else tr("conv.untitled")
            title.button(label, key=f"conv-open-{info.id}", type="tertiary", width="stretch",
                         icon=":material/chat:" if info.id in open_ids else ":material/chat_bubble_outline:",
                         help=md_escape(info.collection) if info.collection else None,
                         on_click=_open, args=(service, identity, info.id, tr))
            delete.button("", key=f"conv-delete-{info.id}", type="tertiary", icon=":material/delete:",
                          help=tr("conv.delete"), on_click=_delete, args=(service, identity, info.id, tr))
