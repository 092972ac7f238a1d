"""Activity: the audit trail (uploads, removals, re-indexing, grants), for administrators only."""

from __future__ import annotations

import json

import streamlit as st

from rag.errors import RagError
from ui.components import md_escape
from ui.state import context

SHOWN = 500  # newest lines listed


def main() -> None:
    ctx = context()
    tr = ctx.tr
    st.title(tr("audit.title"), anchor=False)
    st.caption(tr("audit.caption"))
    try:
        entries = ctx.service.audit(SHOWN, identity=ctx.identity)
    except RagError as exc:  # no longer an administrator since the menu was drawn
        st.error(md_escape(str(exc)), icon=":material/lock:")
        return
    if not entries:
        st.info(tr("audit.empty"), icon=":material/info:")
        return
    rows = [{tr("audit.at"): e.at, tr("audit.user"): e.user, tr("audit.action"): e.action,
             tr("audit.collection"): e.collection,
             tr("audit.detail"): json.dumps(e.detail, ensure_ascii=False) if e.detail else ""} for e in entries]
    st.dataframe(rows, hide_index=True, width="stretch")


main()
