"""Who is asking: the signed-in user in department mode (Streamlit's st.login / st.user), the local user otherwise.

The rules live in plain functions over ``st.user``'s claims (``resolve``, ``token_expired``), so tests check
them without a browser (AppTest cannot sign in); ``current_identity`` is the thin part that talks to Streamlit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st
from streamlit.errors import StreamlitAPIException

from rag.access.control import Identity
from rag.errors import SettingsError
from rag.service import Service
from rag.settings import Settings
from ui.components import md_escape
from ui.i18n import Translator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignIn:
    """What this run knows of its caller: ``state`` is "ok" (with ``identity``), "signed_out", "expired" or
    "invalid" (the provider's claims name nobody; ``problem`` says why)."""

    state: Literal["ok", "signed_out", "expired", "invalid"]
    identity: Identity | None = None
    problem: str = ""


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def token_expired(claims: Mapping[str, Any], lifetime: float, now: float | None = None) -> bool:
    """True once the ID token's ``exp`` has passed, or ``lifetime`` seconds after it was issued (``iat``).

    Streamlit keeps its identity cookie for 30 days and checks neither. A token without a readable ``exp``
    counts as expired: the provider did not say how long it holds.
    Example: {"iat": 1000, "exp": 4600}, lifetime 600 -> expired from 1600 on.
    """
    expires = _number(claims.get("exp"))
    if expires is None:
        return True
    issued = _number(claims.get("iat"))
    if issued is not None:
        expires = min(expires, issued + lifetime)
    return (time.time() if now is None else now) >= expires


def resolve(user_info: Mapping[str, Any], settings: Settings, now: float | None = None) -> SignIn:
    """The caller that Streamlit's ``st.user`` describes, under these settings (no Streamlit needed here).

    Personal mode: the local user, always. Department mode: signed out without a login, expired from the ID
    token's ``exp`` (or ``RAG_SESSION_LIFETIME`` after ``iat``), else the identity its claims give.
    """
    if not department(settings):
        return SignIn("ok", Identity.local())
    if not user_info.get("is_logged_in"):
        return SignIn("signed_out")
    if token_expired(user_info, settings.session_lifetime, now):
        return SignIn("expired")
    try:
        return SignIn("ok", Identity.from_claims(user_info, settings))
    except SettingsError as exc:
        return SignIn("invalid", problem=str(exc))


def department(settings: Settings) -> bool:
    return settings.mode == "department"


def sign_in_page(tr: Translator, expired: bool = False, extra: Callable[[], None] | None = None) -> None:
    """What a signed-out visitor sees: one button to the identity provider (and ``extra``, the language
    switch), nothing of the index."""
    st.title(tr("auth.title"), anchor=False)
    if expired:
        st.warning(tr("auth.expired"), icon=":material/schedule:")
    st.markdown(tr("auth.intro"))
    if st.button(tr("auth.sign_in"), icon=":material/login:", type="primary", key="sign_in"):
        try:
            st.login()
        except StreamlitAPIException as exc:  # no [auth] secrets: started without `rag ui`
            log.error("sign-in is not configured: %s", exc)
            st.error(tr("auth.not_configured"), icon=":material/settings:")
            return
        st.stop()
    if extra is not None:
        st.divider()
        extra()


def current_identity(settings: Settings, tr: Translator, extra: Callable[[], None] | None = None) -> Identity:
    """The caller of this run; in department mode, draws the sign-in page (with ``extra``) and stops when
    there is none."""
    sign_in = resolve(st.user.to_dict() if department(settings) else {}, settings)
    if sign_in.identity is not None:
        return sign_in.identity
    if sign_in.state == "invalid":
        log.warning("sign-in refused: %s", sign_in.problem)
        st.error(tr("auth.no_subject"), icon=":material/person_off:")
        if st.button(tr("auth.sign_out"), icon=":material/logout:", key="sign_out_bad"):
            st.logout()
    else:
        # Expired: signed out as far as this app goes (no identity from the stale cookie), and signing in
        # again replaces the cookie. st.logout here would also end the provider's own session.
        sign_in_page(tr, expired=sign_in.state == "expired", extra=extra)
    st.stop()
    raise AssertionError("st.stop() returns only outside a script run")


def account_box(identity: Identity, settings: Settings, tr: Translator) -> None:
    """Sidebar: who is signed in (and whether an administrator), and the sign-out button."""
    if not department(settings):
        return
    label = tr("auth.signed_in_as", user=md_escape(identity.label))
    if identity.admin:
        label += " · " + tr("auth.admin")
    st.markdown(label, help=md_escape(identity.user))
    if st.button(tr("auth.sign_out"), icon=":material/logout:", key="sign_out", width="stretch"):
        st.logout()
        st.stop()


def owner_group_picker(service: Service, tr: Translator, identity: Identity) -> None:
    """In the new-collection form (department mode): which of the caller's groups will own it.

    Administrators may also keep it to themselves; anyone else picks one of their groups (the library
    refuses a collection that belongs to nobody's group).
    """
    if not department(service.settings):
        return
    groups: list[str] = sorted(identity.groups)
    options = ["", *groups] if identity.admin else groups
    st.selectbox(tr("sidebar.owner_group"), options, key="new_collection_group",
                 format_func=lambda g: g or tr("sidebar.owner_me"), help=tr("sidebar.owner_group_help"),
                 icon=":material/group:")


def administers(service: Service, identity: Identity) -> bool:
    """Whether the caller may change the grants of at least one collection (the permissions page is theirs)."""
    if identity.admin:
        return True
    return any(service.access.can(identity, c, "admin") for c in service.collections(identity=identity))
