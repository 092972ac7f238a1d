"""Permissions: who may read, write or administer each collection the caller administers (department mode)."""

from __future__ import annotations

import streamlit as st

from rag.access.control import RIGHTS, Grant
from rag.errors import RagError
from ui.components import md_escape, rerun_with, show_flash
from ui.state import AppContext, context

KINDS = ("group", "user")


def principal_label(ctx: AppContext, principal: str) -> str:
    """'group:rrhh' -> ':material/group: rrhh' (escaped)."""
    kind, _, name = principal.partition(":")
    icon = ":material/group:" if kind == "group" else ":material/person:"
    return f"{icon} {md_escape(name)}"


def grant_row(ctx: AppContext, collection: str, grant: Grant) -> None:
    tr = ctx.tr
    with st.container(border=True):
        who, right, action = st.columns([3, 2, 1], vertical_alignment="center")
        who.markdown(principal_label(ctx, grant.principal))
        right.markdown(f"**{tr('right.' + grant.right)}**  \n:small[:gray[{md_escape(grant.granted_by)}]]")
        if action.button(tr("grants.revoke"), key=f"revoke-{collection}-{grant.principal}",
                         icon=":material/remove_circle:", type="tertiary"):
            try:
                ctx.service.revoke(collection, grant.principal, identity=ctx.identity)
            except RagError as exc:
                rerun_with(tr("grants.error", error=md_escape(str(exc))), "error")
            rerun_with(tr("grants.revoked", principal=principal_label(ctx, grant.principal)))


def grant_form(ctx: AppContext, collection: str) -> None:
    tr = ctx.tr
    with st.form(f"grant-{collection}", clear_on_submit=True):
        kind_col, name_col, right_col = st.columns([1, 2, 1], vertical_alignment="bottom")
        kind = kind_col.selectbox(tr("grants.kind"), KINDS, key="grant_kind",
                                  format_func=lambda k: tr(f"grants.kind_{k}"))
        name = name_col.text_input(tr("grants.name"), key="grant_name", help=tr("grants.name_help"))
        right = right_col.selectbox(tr("grants.right"), RIGHTS, key="grant_right",
                                    format_func=lambda r: tr(f"right.{r}"))
        submitted = st.form_submit_button(tr("grants.add"), icon=":material/add_moderator:", type="primary")
    if not submitted:
        return
    if not name.strip():
        st.warning(tr("grants.name_missing"), icon=":material/edit:")
        return
    principal = f"{kind}:{name.strip()}"
    try:
        ctx.service.grant(collection, principal, right, identity=ctx.identity)
    except RagError as exc:
        st.error(tr("grants.error", error=md_escape(str(exc))), icon=":material/error:")
        return
    rerun_with(tr("grants.granted", right=tr(f"right.{right}"), principal=principal_label(ctx, principal)))


def main() -> None:
    ctx = context()
    tr = ctx.tr
    st.title(tr("grants.title"), anchor=False)
    st.caption(tr("grants.caption"))
    show_flash()
    mine = [c for c in ctx.service.collections(identity=ctx.identity)
            if ctx.service.access.can(ctx.identity, c, "admin")]  # one query each; the page's calls check again
    if not mine:  # rights changed since the menu was drawn
        st.info(tr("grants.none_admin"), icon=":material/lock:")
        return
    if st.session_state.get("grants_collection") not in mine:
        st.session_state["grants_collection"] = ctx.collection if ctx.collection in mine else mine[0]
    collection: str = st.selectbox(tr("grants.collection"), mine, key="grants_collection",
                                   icon=":material/folder:")
    try:
        grants = ctx.service.grants(collection, identity=ctx.identity)
    except RagError as exc:
        st.error(tr("grants.error", error=md_escape(str(exc))), icon=":material/error:")
        return
    if not grants:
        st.info(tr("grants.empty"), icon=":material/info:")
    for grant in grants:
        grant_row(ctx, collection, grant)
    grant_form(ctx, collection)


main()
