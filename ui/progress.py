"""The ingestion job's progress (ingest.pipeline.ProgressSink) drawn on the page: one bar per file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from ui.components import md_escape
from ui.i18n import Translator


class PageProgress:
    """A bar per file (waiting, then done with its outcome) and a line for the passages so far."""

    def __init__(self, tr: Translator, names: Sequence[str], max_upload_mb: int = 0) -> None:
        self.tr = tr
        self.max_upload_mb = max_upload_mb
        self.bars: dict[str, Any] = {}
        self.pending: list[str] = []
        for name in names:
            if name not in self.bars:
                self.bars[name] = st.progress(0.0, text=tr("upload.queued", name=md_escape(name)))
                self.pending.append(name)
        self.passages = st.empty()
        self.working = False

    def start(self, files: int) -> None:
        pass

    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None:
        if status == "removed":
            return
        bar = self.bars.get(name)
        if bar is None:  # a name the page did not know (should not happen): give it its own bar
            bar = self.bars[name] = st.progress(0.0)
        if name in self.pending:
            self.pending.remove(name)
        if status == "failed":
            reason = md_escape(self.tr.reason(reason, self.max_upload_mb))
            bar.progress(1.0, text=self.tr("upload.file_failed", name=md_escape(name), reason=reason))
        else:
            bar.progress(1.0, text=self.tr(f"upload.file_{status}", name=md_escape(name), chunks=chunks))

    def chunks(self, done: int) -> None:
        """Passages embedded so far; the files not finished yet are the ones being read and embedded."""
        self.passages.caption(self.tr("upload.passages", n=done))
        if not self.working:
            self.working = True
            for name in self.pending:
                self.bars[name].progress(0.0, text=self.tr("upload.working", name=md_escape(name)))

    def ocr_pages(self, name: str, done: int, total: int) -> None:
        """A scan's bar fills as its pages are recognised."""
        bar = self.bars.get(name)
        if bar is not None and total:
            bar.progress(min(done / total, 0.99),
                         text=self.tr("upload.ocr_pages", name=md_escape(name), done=done, total=total))

    def message(self, text: str) -> None:
        st.info(md_escape(text), icon=":material/hourglass_top:")

    def close(self) -> None:
        pass
