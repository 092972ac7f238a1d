"""Compare models: one question, the same passages to two models, both answers streaming side by side,
each with its cited sources and timings; then a vote, kept on this machine."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from rag.answer.compare import SIDES, Comparer, Comparison, Side, SideResult
from rag.errors import RagError
from rag.models.votes import DEFAULT_USER, VoteStore
from rag.types import Answer
from ui.components import answer_markdown, answer_meta, md_escape, md_with_code, pages_label, source_card
from ui.i18n import Translator
from ui.model_facts import licence_badge, option_label, picker_facts
from ui.state import AppContext, context, load_answerer, settings_key

log = logging.getLogger(__name__)
_REDRAW_SECONDS = 0.05
VERDICT_KEYS = {"a": "compare.vote_a", "b": "compare.vote_b", "tie": "compare.vote_tie",
                "both_wrong": "compare.vote_both_wrong"}


@dataclass
class Shown:
    """The last comparison of this session and collection, kept so that voting can rerun the page."""

    comparison: Comparison
    voted: str = ""


def result_key(ctx: AppContext) -> str:
    return f"compare:{ctx.collection}"


def current_user(ctx: AppContext) -> str:
    """Who votes: the signed-in user in department mode, else 'local'."""
    return ctx.identity.user if ctx.settings.mode == "department" else DEFAULT_USER


def choices(ctx: AppContext) -> list[str]:
    """Models that can answer; the configured one too when it is not pulled, so the page can say so."""
    models = [m for m in ctx.ollama.models if "embed" not in m]
    configured = ctx.settings.model
    if ctx.ollama.reachable and not ctx.ollama.has(configured):
        models.append(configured)
    return models


def pick_models(ctx: AppContext, tr: Translator) -> tuple[str, str] | None:
    models = choices(ctx)
    if len(models) < 2:
        st.info(tr("compare.need_two"), icon=":material/download:")
        return None
    if st.session_state.get("compare_a") not in models:
        st.session_state["compare_a"] = ctx.model if ctx.model in models else models[0]
    if st.session_state.get("compare_b") not in models:
        st.session_state["compare_b"] = next(m for m in models if m != st.session_state["compare_a"])
    facts = picker_facts(ctx.settings, ctx.ollama)
    label = option_label(facts, tr)  # a restricted licence is marked here too, where the model is chosen
    left, right = st.columns(2)
    a: str = left.selectbox(tr("compare.model_a"), models, key="compare_a", icon=":material/smart_toy:",
                            format_func=label)
    b: str = right.selectbox(tr("compare.model_b"), models, key="compare_b", icon=":material/smart_toy:",
                             format_func=label)
    for column, model in ((left, a), (right, b)):
        found = facts.get(model)
        if found is not None:
            column.markdown(licence_badge(found, tr))
    if a == b:
        st.warning(tr("compare.same"), icon=":material/compare_arrows:")
        return None
    return a, b


def stats_line(tr: Translator, result: SideResult) -> str:
    def secs(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else "–"

    tps = f"{result.tokens_per_second:.1f}" if result.tokens_per_second is not None else "–"
    return tr("compare.stats", ttft=secs(result.ttft), tps=tps, seconds=secs(result.seconds))


def render_side(tr: Translator, ctx: AppContext, side: Side, result: SideResult, key: str) -> None:
    """One finished side: the answer, its flags, its cited sources (or why there is none), its timings."""
    st.markdown(f"**{side.upper()} · {md_escape(result.model)}**")
    if result.outcome == "missing":
        st.error(tr("compare.missing", model=result.model), icon=":material/download:")
        return
    if result.outcome == "cancelled":
        st.caption(tr("compare.cancelled"))
        return
    answer = result.answer
    if answer is None:
        st.error(tr("compare.error", error=md_escape(result.error)), icon=":material/error:")
        return
    st.markdown(answer_markdown(answer.answer))
    answer_meta(tr, answer)
    if answer.mode == "llm" and answer.supported and not answer.abstained:
        st.markdown(tr("compare.supported"))
    st.caption(stats_line(tr, result))
    for citation in answer.citations:
        source_card(tr, ctx.service, ctx.collection, answer, citation, key=f"{key}-{side}")


def render_extractive(tr: Translator, ctx: AppContext, answer: Answer, key: str) -> None:
    st.warning(tr("compare.down", host=ctx.ollama.host), icon=":material/cloud_off:")
    st.markdown(answer_markdown(answer.answer))
    answer_meta(tr, answer)
    for citation in answer.citations:
        source_card(tr, ctx.service, ctx.collection, answer, citation, key=f"{key}-x")


def render_comparison(tr: Translator, ctx: AppContext, comparison: Comparison, key: str) -> None:
    if comparison.extractive is not None:
        render_extractive(tr, ctx, comparison.extractive, key)
        return
    st.caption(tr("compare.concurrent", n=ctx.settings.ollama_parallel) if comparison.concurrent
               else tr("compare.sequential"))
    columns = st.columns(2, border=True)
    for side, column in zip(SIDES, columns, strict=True):
        with column:
            render_side(tr, ctx, side, comparison.side(side), key)
    hits = comparison.hits
    if hits:
        with st.expander(tr("answer.passages", n=len(hits)), icon=":material/manage_search:"):
            for hit in hits:
                st.markdown(f"**{hit.rank}\\.** {md_escape(hit.source)} · "
                            f":gray[{pages_label(tr, hit.page, hit.page_end)}]")


def stream_comparison(tr: Translator, ctx: AppContext, question: str, models: tuple[str, str]) -> Comparison | None:
    """Run the comparison, both answers growing in two columns; None if it could not run (shown why)."""
    comparer = Comparer.from_settings(ctx.settings, ctx.service.retriever(ctx.collection, identity=ctx.identity),
                                     models)
    st.caption(tr("compare.concurrent", n=ctx.settings.ollama_parallel) if comparer.concurrent
               else tr("compare.sequential"))
    columns = st.columns(2, border=True)
    slots: dict[str, Any] = {}
    for name, column, model in zip(SIDES, columns, models, strict=True):
        with column:
            st.markdown(f"**{name.upper()} · {md_escape(model)}**")
            slots[name] = st.empty()
            slots[name].caption(tr("compare.waiting"))
    texts: dict[str, str] = {"a": "", "b": ""}
    shown_at = 0.0
    try:
        for side, kind, data in comparer.stream(question):
            if kind == "token" and side:
                texts[side] += data
                if time.monotonic() - shown_at >= _REDRAW_SECONDS:
                    slots[side].markdown(answer_markdown(texts[side], cursor=True))
                    shown_at = time.monotonic()
            elif kind == "start" and side:
                slots[side].caption(tr("chat.writing"))
            elif kind == "status" and side:
                slots[side].caption(md_with_code(data))
            elif kind == "done" and not side:
                comparison: Comparison = data
                return comparison
    except RagError as exc:
        st.error(tr("compare.error", error=md_escape(str(exc))), icon=":material/error:")
    except Exception:
        log.exception("comparing failed")
        st.error(tr("chat.failed"), icon=":material/error:")
    finally:
        comparer.close()
    return None


def extractive_comparison(ctx: AppContext, question: str) -> Comparison:
    """With Ollama down, the chat's own answerer answers extractively, once, for both sides."""
    answer = load_answerer(settings_key(ctx.settings), ctx.collection, ctx.model, ctx.service).ask(question)
    down = SideResult(ctx.model, "error", error=answer.notice or "")
    return Comparison(question, answer.hits, down, SideResult("", "error"), False, extractive=answer,
                      notice=answer.notice)


def vote_form(tr: Translator, ctx: AppContext, shown: Shown) -> None:
    comparison = shown.comparison
    if comparison.extractive is not None or any(comparison.side(s).answer is None for s in SIDES):
        return  # a vote compares two answers
    if shown.voted:
        st.success(tr("compare.voted", verdict=tr(VERDICT_KEYS[shown.voted])), icon=":material/how_to_vote:")
        return
    with st.form("vote", border=True):
        st.markdown(f"**{tr('compare.vote')}**")
        comment = st.text_input(tr("compare.comment"), key="vote_comment")
        cols = st.columns(4)
        chosen = ""
        for col, (verdict, label) in zip(cols, VERDICT_KEYS.items(), strict=True):
            if col.form_submit_button(tr(label), key=f"vote_{verdict}", width="stretch"):
                chosen = verdict
    if chosen:
        a, b = comparison.a, comparison.b
        VoteStore.open(ctx.settings.data_dir, ctx.collection).add(
            comparison.question, a.model, b.model, chosen, comment=comment or "", user=current_user(ctx),
            answer_a=a.answer.answer if a.answer else "", answer_b=b.answer.answer if b.answer else "")
        shown.voted = chosen
        st.rerun()


def main() -> None:
    ctx = context()
    tr = ctx.tr
    question = st.chat_input(tr("compare.placeholder"), key="compare_question")
    st.title(tr("compare.title"), anchor=False)
    st.caption(tr("compare.caption", collection=md_escape(ctx.collection)))
    models = pick_models(ctx, tr) if ctx.ollama.reachable else ("", "")
    key = result_key(ctx)
    if question is not None and question.strip() and models is not None:
        st.markdown(f"**{md_escape(question)}**")
        if ctx.ollama.reachable:
            comparison = stream_comparison(tr, ctx, question, models)
        else:  # nothing to compare: the extractive answer, once
            comparison = extractive_comparison(ctx, question)
        if comparison is not None:
            st.session_state[key] = Shown(comparison)
            st.rerun()  # draw the finished comparison the same way every rerun does
        return
    shown: Shown | None = st.session_state.get(key)
    if shown is not None:
        st.markdown(f"**{md_escape(shown.comparison.question)}**")
        render_comparison(tr, ctx, shown.comparison, key=f"cmp-{ctx.collection}")
        vote_form(tr, ctx, shown)


main()
