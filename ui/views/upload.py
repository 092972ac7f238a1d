"""Upload: several files (PDF, office documents, web pages, text, scans) at once into the chosen collection,
a bar per file, then a summary."""

from __future__ import annotations

import logging

import streamlit as st

from ingest.pipeline import IngestReport
from ingest.sniff import SUFFIXES as SUPPORTED
from ingest.uploads import Upload, ingest_uploads, upload_name
from rag.errors import LoadError, RagError
from ui.components import md_escape
from ui.progress import PageProgress
from ui.state import AppContext, context

log = logging.getLogger(__name__)


def display_name(raw: str) -> str:
    """The name the job will report a file under (the same clean-up as ingest_uploads)."""
    try:
        return upload_name(raw)
    except LoadError:
        return raw


def summary(ctx: AppContext, collection: str, report: IngestReport) -> None:
    """What the last upload did: added, updated, already there, failed with the reason."""
    tr = ctx.tr

    def names(items: list[str]) -> str:
        return ", ".join(md_escape(n) for n in items)

    if report.added:
        st.success(tr("upload.summary_added", n=len(report.added), names=names(report.added)),
                   icon=":material/check_circle:")
    if report.updated:
        st.success(tr("upload.summary_updated", n=len(report.updated), names=names(report.updated)),
                   icon=":material/sync:")
    if report.unchanged:
        st.info(tr("upload.summary_unchanged", n=len(report.unchanged), names=names(report.unchanged)),
                icon=":material/done_all:")
    if report.failed:
        lines = [tr("upload.summary_failed", n=len(report.failed))]
        for failure in report.failed:
            reason = tr.reason(failure["reason"], ctx.settings.max_upload_mb)
            lines.append(f"- **{md_escape(failure['path'])}**: {md_escape(reason)}")
        st.error("\n".join(lines), icon=":material/error:")
    st.caption(tr("upload.summary_time", chunks=report.chunks, seconds=report.seconds,
                  collection=md_escape(collection)))


def main() -> None:
    ctx = context()
    tr = ctx.tr
    limit = ctx.settings.max_upload_mb
    st.title(tr("upload.title"), anchor=False)
    if not ctx.service.can(ctx.collection, "write", identity=ctx.identity):
        st.info(tr("access.read_only", collection=md_escape(ctx.collection)), icon=":material/lock:")
        return
    st.markdown(tr("upload.intro", collection=md_escape(ctx.collection)))
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(tr("upload.files", mb=limit), type=[suffix[1:] for suffix in SUPPORTED],
                                 accept_multiple_files=True, max_upload_size=limit, key="files",
                                 help=tr("upload.files_help"))
        password = st.text_input(tr("upload.password"), type="password", key="pdf_password",
                                 help=tr("upload.password_help"))
        submitted = st.form_submit_button(tr("upload.submit"), icon=":material/upload:", type="primary")

    if submitted:
        if not files:
            st.warning(tr("upload.none"), icon=":material/attach_file:")
        else:
            uploads = [Upload(f.name, f.getvalue()) for f in files]
            with st.status(tr("upload.running", n=len(uploads)), expanded=True) as status:
                progress = PageProgress(tr, [display_name(u.name) for u in uploads], limit)
                try:
                    report = ingest_uploads(ctx.service, ctx.collection, uploads, password=password or None,
                                            progress=progress, identity=ctx.identity)
                except RagError as exc:
                    status.update(state="error")
                    st.error(tr("upload.error", error=md_escape(str(exc))), icon=":material/error:")
                    return
                except Exception as exc:  # a disk full or a bug: say so, keep the page working, log the trace
                    log.exception("upload failed")
                    status.update(state="error")
                    st.error(tr("upload.error", error=md_escape(f"{type(exc).__name__}: {exc}")),
                             icon=":material/error:")
                    return
                label = tr("upload.done_errors") if report.failed else tr("upload.done")
                status.update(label=label, state="error" if report.failed and not (
                    report.added or report.updated or report.unchanged) else "complete")
            st.session_state["upload_report"] = (ctx.collection, report)

    last = st.session_state.get("upload_report")
    if last:
        summary(ctx, *last)


main()
