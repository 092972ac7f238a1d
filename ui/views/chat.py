"""Ask: a chat whose answers stream in, each followed by its sources as cards."""

from __future__ import annotations

import logging
import time
from typing import Any

import streamlit as st

from rag.errors import RagError
from rag.types import Answer, Hit, Turn
from ui.components import (
    Exchange,
    answer_markdown,
    md_escape,
    render_answer,
    render_user,
    where_md,
)
from ui.conversations import history_key, new_conversation, save_exchange
from ui.state import AppContext, context, load_answerer, settings_key

log = logging.getLogger(__name__)
_REDRAW_SECONDS = 0.05  # redraw the growing answer at most this often
MAX_TURNS = 10  # earlier exchanges a follow-up question is read with
USER, ASSISTANT = ":material/person:", ":material/menu_book:"


def header(ctx: AppContext, documents: int, history: list[Exchange]) -> None:
    tr = ctx.tr
    st.title(tr("chat.title"), anchor=False)
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.caption(tr("chat.caption", collection=md_escape(ctx.collection), documents=documents))
    if right.button(tr("chat.new"), icon=":material/restart_alt:", disabled=not history, key="new_chat",
                    type="tertiary", width="stretch"):
        new_conversation(ctx.collection)
        st.rerun()
    if not ctx.ollama.reachable:
        st.warning(tr("banner.ollama_down", host=ctx.ollama.host, model=ctx.model), icon=":material/cloud_off:")


def stream_answer(ctx: AppContext, question: str, history: list[Exchange], live: Any) -> Answer | None:
    """Stream one answer into ``live`` (an st.empty); None if it could not be made (the reason is shown)."""
    tr = ctx.tr
    try:
        answerer = load_answerer(settings_key(ctx.settings), ctx.collection, ctx.model, ctx.service, ctx.identity)
    except RagError as exc:  # no longer the caller's to read (a grant revoked since the page was drawn)
        live.error(tr("chat.error", error=md_escape(str(exc))), icon=":material/error:")
        return None
    turns = [Turn(ex.question, ex.answer.answer) for ex in history if ex.answer.answer][-MAX_TURNS:]
    with live.container():  # the status and the growing text, until the finished answer replaces them
        status = st.status(tr("chat.searching"), expanded=False)
        slot = st.empty()
    text, shown_at = "", 0.0
    answer: Answer | None = None
    try:
        for kind, data in answerer.stream(question, turns):
            if kind == "hits":
                hits: list[Hit] = data
                label = tr("chat.consulted", n=len(hits)) if hits else tr("chat.no_passages")
                status.update(label=label, state="running")
                for hit in hits:
                    status.markdown(f"**{hit.rank}\\.** {md_escape(hit.source)} · "
                                    f":gray[{where_md(tr, hit.page, hit.page_end, hit.locator)}]")
            elif kind == "token":
                if not text:
                    status.update(label=tr("chat.writing"))
                text += data
                if time.monotonic() - shown_at >= _REDRAW_SECONDS:
                    slot.markdown(answer_markdown(text, cursor=True))
                    shown_at = time.monotonic()
            elif kind == "done":
                answer = data
    except RagError as exc:
        status.update(state="error")
        slot.error(tr("chat.error", error=md_escape(str(exc))), icon=":material/error:")
        return None
    except Exception:
        log.exception("answering failed")
        status.update(state="error")
        slot.error(tr("chat.failed"), icon=":material/error:")
        return None
    if answer is None:
        status.update(state="error")
        slot.error(tr("chat.failed"), icon=":material/error:")
        return None
    return answer


def main() -> None:
    ctx = context()
    tr = ctx.tr
    key = history_key(ctx.collection)
    history: list[Exchange] = st.session_state.setdefault(key, [])
    documents = len(ctx.service.documents(ctx.collection, identity=ctx.identity))
    # read first (the box is pinned to the bottom wherever it is called): the welcome goes once a question comes
    question = st.chat_input(tr("chat.placeholder"), key="question", disabled=not documents)
    header(ctx, documents, history)

    if not documents:
        st.info(tr("chat.empty_collection"), icon=":material/inbox:")
        st.page_link("views/upload.py", label=tr("chat.go_upload"), icon=":material/upload_file:")
    elif not history and question is None:
        st.info(tr("chat.welcome", collection=md_escape(ctx.collection)), icon=":material/lightbulb:")

    for i, exchange in enumerate(history):
        with st.chat_message("user", avatar=USER):
            render_user(exchange.question)
        with st.chat_message("assistant", avatar=ASSISTANT), st.empty().container():
            # (inside an st.empty, as while it streamed: the elements keep their places on every rerun)
            if not exchange.answer.answer and not exchange.answer.hits:  # withheld: no longer readable
                st.info(tr("conv.no_passages"), icon=":material/lock:")
                continue
            render_answer(tr, ctx.service, ctx.collection, exchange.answer, key=f"{ctx.collection}-{i}")

    if question is None:
        return
    if not question.strip():
        st.warning(tr("chat.empty_question"), icon=":material/edit:")
        return
    with st.chat_message("user", avatar=USER):
        render_user(question)
    with st.chat_message("assistant", avatar=ASSISTANT):
        live = st.empty()
        answer = stream_answer(ctx, question, history, live)
        if answer is not None:
            history.append(Exchange(question, answer))
            save_exchange(ctx.service, ctx.identity, ctx.collection, answer)
            with live.container():
                render_answer(tr, ctx.service, ctx.collection, answer, key=f"{ctx.collection}-{len(history) - 1}")


main()
