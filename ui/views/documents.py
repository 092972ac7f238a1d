"""Documents: what the collection holds (name, pages, passages, date), with re-index and remove."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from ingest.pipeline import UPLOAD_PREFIX, Source
from ingest.uploads import documents_sources, reingest_document, remove_document
from rag.errors import RagError
from rag.types import DocumentInfo
from ui.components import md_escape, rerun_with, show_flash, units_label
from ui.state import AppContext, context

PAGE_SIZE = 50  # rows drawn at once; a filter finds the rest


def when(iso: str, lang: str) -> str:
    """'2026-03-02T14:05:00+00:00' -> '02/03/2026 15:05' (local time; ISO order in English)."""
    try:
        stamp = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    return stamp.strftime("%d/%m/%Y %H:%M" if lang == "es" else "%Y-%m-%d %H:%M")


def size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{max(1, round(n / 1024))} KB" if n else "—"


def reingest(ctx: AppContext, doc: DocumentInfo) -> None:
    tr = ctx.tr
    try:
        with st.spinner(tr("docs.reingesting", name=md_escape(doc.name))):
            report = reingest_document(ctx.service, ctx.collection, doc.sha256, identity=ctx.identity)
    except RagError as exc:
        rerun_with(tr("docs.reingest_failed", name=md_escape(doc.name), reason=md_escape(str(exc))), "error")
        return
    if report.failed:
        reason = tr.reason(report.failed[0]["reason"], ctx.settings.max_upload_mb)
        rerun_with(tr("docs.reingest_failed", name=md_escape(doc.name), reason=md_escape(reason)), "error")
    rerun_with(tr("docs.reingested", name=md_escape(doc.name), chunks=report.chunks))


def remove(ctx: AppContext, doc: DocumentInfo) -> None:
    try:
        with st.spinner(ctx.tr("docs.removing", name=md_escape(doc.name))):
            remove_document(ctx.service, ctx.collection, doc.sha256, identity=ctx.identity)
    except RagError as exc:
        rerun_with(ctx.tr("docs.error", error=md_escape(str(exc))), "error")
    rerun_with(ctx.tr("docs.removed", name=md_escape(doc.name)))


def row(ctx: AppContext, doc: DocumentInfo, sources: list[Source], writable: bool = True) -> None:
    tr = ctx.tr
    with st.container(border=True):
        info, actions = st.columns([1, 1], vertical_alignment="center")
        with info:
            icon = ":material/picture_as_pdf:" if doc.name.lower().endswith(".pdf") else ":material/description:"
            st.markdown(f"{icon} **{md_escape(doc.name)}**")
            meta = tr("docs.meta", units=units_label(tr, doc), chunks=doc.chunks, size=size(doc.size),
                      date=when(doc.ingested_at, tr.lang))
            others = [n for n in doc.names if n != doc.name]
            if others:
                meta += "  \n" + tr("docs.also", names=", ".join(md_escape(n) for n in others))
            st.caption(meta)
        if not writable:  # read right only: the list, without the buttons the library would refuse
            return
        with actions.container(horizontal=True, horizontal_alignment="right"):
            if st.button(tr("docs.reingest"), key=f"reingest-{doc.sha256}", icon=":material/refresh:",
                         disabled=not sources,
                         help=tr("docs.reingest_help") if sources else tr("docs.reingest_unavailable")):
                reingest(ctx, doc)
            with st.popover(tr("docs.remove"), icon=":material/delete:"):
                uploaded = any(s.key.startswith(UPLOAD_PREFIX) for s in sources)
                confirm = tr("docs.remove_confirm", name=md_escape(doc.name), collection=md_escape(ctx.collection))
                st.markdown(confirm + (" " + tr("docs.remove_upload") if uploaded else ""))
                if st.button(tr("docs.remove_yes"), key=f"remove-{doc.sha256}", type="primary",
                             icon=":material/delete_forever:"):
                    remove(ctx, doc)


def main() -> None:
    ctx = context()
    tr = ctx.tr
    st.title(tr("docs.title"), anchor=False)
    st.caption(tr("docs.caption", collection=md_escape(ctx.collection)) + " · " + tr("docs.reingest_about"))
    show_flash()
    docs = ctx.service.documents(ctx.collection, identity=ctx.identity)
    writable = ctx.service.can(ctx.collection, "write", identity=ctx.identity)
    if not docs:
        st.info(tr("docs.empty"), icon=":material/inbox:")
        st.page_link("views/upload.py", label=tr("chat.go_upload"), icon=":material/upload_file:")
        return
    total, pages, passages = st.columns(3, border=True)
    total.metric(tr("docs.count"), len(docs))
    pages.metric(tr("docs.pages"), sum(d.pages for d in docs if d.unit == "page"))  # slides etc. are no pages
    passages.metric(tr("docs.passages"), sum(d.chunks for d in docs))

    wanted = ""
    if len(docs) > 10:
        wanted = st.text_input(tr("docs.filter"), key="docs_filter", icon=":material/search:").strip().lower()
    shown = [d for d in docs if not wanted or any(wanted in n.lower() for n in d.names)]
    if wanted and not shown:
        st.info(tr("docs.no_match", text=md_escape(wanted)))
    page = shown[:PAGE_SIZE]
    sources = documents_sources(ctx.service, ctx.collection, {d.sha256 for d in page}, identity=ctx.identity)
    for doc in page:
        row(ctx, doc, sources[doc.sha256], writable)
    if len(shown) > PAGE_SIZE:
        st.caption(tr("docs.showing", shown=PAGE_SIZE, total=len(shown)))


main()
