"""The signed-in user's API keys: make one (its secret shown once), see hers, revoke one.

A self-contained panel for the department pages to mount (``render(store, identity, lang)``); the keys
are rag.access.keys's, each carrying the user's groups at the moment she makes it (refreshed at her sign-ins by
``KeyStore.refresh_groups``), so a program using it can do exactly what she can in this app.
"""

from __future__ import annotations

import streamlit as st

from rag.access.control import Identity
from rag.access.keys import KeyStore
from rag.errors import RagError
from ui.components import md_escape
from ui.i18n import Lang

KEYS_STRINGS: dict[str, dict[str, str]] = {
    "es": {
        "keys.title": "Claves de la API",
        "keys.caption": "Una clave deja que otro programa (la intranet, Moodle, Open WebUI, un script) consulte "
                        "los documentos **en su nombre y con sus permisos**. Envíela como "
                        "`Authorization: Bearer CLAVE` a la API (`/v1` para clientes de OpenAI).",
        "keys.label": "Para qué es",
        "keys.label_placeholder": "p. ej. plugin de Moodle",
        "keys.create": "Crear una clave",
        "keys.created": "Copie la clave ahora: no se volverá a mostrar.",
        "keys.none": "No tiene claves activas.",
        "keys.revoke": "Revocar",
        "keys.revoked": "Clave {id} revocada: deja de funcionar en la próxima petición.",
        "keys.created_at": "Creada",
        "keys.last_used": "Último uso",
        "keys.never": "nunca",
    },
    "en": {
        "keys.title": "API keys",
        "keys.caption": "A key lets another program (the intranet, Moodle, Open WebUI, a script) query the "
                        "documents **as you, with your permissions**. Send it as `Authorization: Bearer KEY` "
                        "to the API (`/v1` for OpenAI clients).",
        "keys.label": "What it is for",
        "keys.label_placeholder": "e.g. Moodle plugin",
        "keys.create": "Create a key",
        "keys.created": "Copy the key now: it will not be shown again.",
        "keys.none": "You have no active keys.",
        "keys.revoke": "Revoke",
        "keys.revoked": "Key {id} revoked: it stops working at its next request.",
        "keys.created_at": "Created",
        "keys.last_used": "Last used",
        "keys.never": "never",
    },
}


def render(store: KeyStore, identity: Identity, lang: Lang) -> None:
    """The panel, for ``identity``'s own keys only."""
    text = KEYS_STRINGS[lang]
    st.subheader(text["keys.title"], anchor=False)
    st.caption(text["keys.caption"])
    with st.form("api-key-create", clear_on_submit=True):
        label = st.text_input(text["keys.label"], placeholder=text["keys.label_placeholder"], max_chars=100)
        if st.form_submit_button(text["keys.create"], icon=":material/key:"):
            try:
                _info, secret = store.create(identity.user, sorted(identity.groups), label)
            except RagError as exc:
                st.error(md_escape(str(exc)))
            else:
                st.warning(text["keys.created"], icon=":material/content_copy:")
                st.code(secret, language=None)
    keys = store.list(identity.user)
    if not keys:
        st.info(text["keys.none"], icon=":material/info:")
        return
    for key in keys:
        left, right = st.columns([5, 1], vertical_alignment="center")
        used = key.last_used_at or text["keys.never"]
        left.markdown(f"`rag_{key.id}_…` {md_escape(key.label)}  \n"
                      f"{text['keys.created_at']}: {key.created_at} · {text['keys.last_used']}: {used}")
        if right.button(text["keys.revoke"], key=f"revoke-{key.id}", icon=":material/block:"):
            store.revoke(key.id, user=identity.user)
            st.success(text["keys.revoked"].format(id=key.id))
            st.rerun()
