"""The web app's entry point (``rag ui`` runs ``streamlit run ui/app.py``): page set-up, sidebar, pages."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit puts this file's folder on sys.path, not the project's: make `rag`, `ingest` and `ui` the
# ones beside this file, whatever is installed.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from rag.access.control import Identity  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.settings import Settings  # noqa: E402
from ui.auth import account_box, administers, current_identity, department  # noqa: E402
from ui.components import CSS, md_escape  # noqa: E402
from ui.conversations import OPEN_CHAT, conversation_list  # noqa: E402
from ui.i18n import Translator  # noqa: E402
from ui.sidebar import language_picker, render_sidebar  # noqa: E402
from ui.state import AppContext, load_key_store, load_service, probe_ollama, set_context, settings_key  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
KEY_GROUPS_DONE = "_key_groups_refreshed_for"  # session state: the user whose keys got her groups
ICON = Path(__file__).resolve().parent / "static" / "icon.png"  # a file: a ":material/…:" icon is fetched from Google


def main() -> None:
    if "lang" not in st.session_state:
        st.session_state["lang"] = "es"
    tr = Translator(st.session_state["lang"])
    st.set_page_config(page_title=tr("app.title"), page_icon=str(ICON), layout="centered")
    st.html(CSS)
    try:
        settings = Settings()
    except (ValidationError, RagError) as exc:
        st.error(tr("app.settings_error", error=md_escape(str(exc))), icon=":material/settings:")
        st.stop()
    identity = current_identity(settings, tr, language_picker)  # department mode: sign-in page until signed in
    refresh_key_groups(settings, identity)
    try:
        with st.spinner(tr("app.loading")):
            service = load_service(settings_key(settings), settings)
            service.collections(identity=identity)  # opens the index: a bad data directory is reported here
    except RagError as exc:
        st.error(tr("app.index_error", error=md_escape(str(exc))), icon=":material/database:")
        st.stop()
    status = probe_ollama(settings.ollama_url, settings)
    collection, model = render_sidebar(service, status, tr, identity)
    with st.sidebar:
        conversation_list(service, identity, tr)
        account_box(identity, settings, tr)
    if collection is None:  # department mode, and nothing granted yet: say so, show nothing else
        st.info(tr("sidebar.no_collections"), icon=":material/lock:")
        st.stop()
    set_context(AppContext(settings, service, collection, model, status, tr, identity))
    pages = [
        st.Page(VIEWS / "chat.py", title=tr("nav.chat"), icon=":material/forum:", url_path="chat", default=True),
        st.Page(VIEWS / "upload.py", title=tr("nav.upload"), icon=":material/upload_file:", url_path="upload"),
        st.Page(VIEWS / "documents.py", title=tr("nav.documents"), icon=":material/folder_open:",
                url_path="documents"),
        st.Page(VIEWS / "compare.py", title=tr("nav.compare"), icon=":material/compare_arrows:", url_path="compare"),
        st.Page(VIEWS / "leaderboard.py", title=tr("nav.leaderboard"), icon=":material/leaderboard:",
                url_path="leaderboard"),
    ]
    if department(settings) and administers(service, identity):
        pages.append(st.Page(VIEWS / "access.py", title=tr("nav.access"), icon=":material/admin_panel_settings:",
                             url_path="access"))
    if department(settings):
        pages.append(st.Page(VIEWS / "keys.py", title=tr("nav.keys"), icon=":material/key:", url_path="keys"))
    if department(settings) and identity.admin:
        pages.append(st.Page(VIEWS / "audit.py", title=tr("nav.audit"), icon=":material/history:",
                             url_path="audit"))
    page = st.navigation(pages)
    if st.session_state.pop(OPEN_CHAT, False) and page.url_path != "chat":  # a conversation was reopened
        st.switch_page(pages[0])
    page.run()


def refresh_key_groups(settings: Settings, identity: Identity) -> None:
    """Once per browser session, give the user's API keys the groups her sign-in carries now."""
    if department(settings) and st.session_state.get(KEY_GROUPS_DONE) != identity.user:
        load_key_store(str(settings.data_dir)).refresh_groups(identity.user, identity.groups)
        st.session_state[KEY_GROUPS_DONE] = identity.user


main()
