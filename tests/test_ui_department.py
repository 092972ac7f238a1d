"""Department mode's web side without a browser: who the page acts for, and that it shows nothing else.

AppTest cannot run st.login, but it can seed ``st.user`` with an ID token's claims, which is all the app
reads of a sign-in; the sign-in itself, against a real OpenID Connect provider, is tests/test_ui_oidc.py.
The app runs on a temporary data directory with the real index and embedding model; Ollama is down, so
answers are extractive.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from rag.access import Identity
from rag.errors import ConversationNotFoundError, SettingsError
from rag.indexing import Indexer
from tests.conftest import ROOT
from tests.helpers import make_doc, pending
from ui.auth import resolve, token_expired

APP = ROOT / "ui" / "app.py"
SECRET = "s" * 40
HR = "rrhh-expedientes"
HR_DOC = make_doc("expediente_disciplinario.pdf", [
    "Expediente disciplinario 42: se sanciona a Pérez con suspensión de empleo durante quince días.",
])
PUBLIC = "calendario"
PUBLIC_DOC = make_doc("calendario_academico.pdf", ["El primer semestre comienza el 3 de marzo de 2026."])

ANA = {"email": "ana@uni.es", "name": "Ana", "groups": ["rrhh"], "sub": "ana"}
BOB = {"email": "bob@uni.es", "name": "Bob", "groups": ["fisica"], "sub": "bob"}
ADMIN = {"email": "jefa@uni.es", "name": "Jefa", "groups": ["decanato"], "sub": "jefa"}


def signed_in(claims: dict[str, Any], lifetime: float = 3600) -> dict[str, Any]:
    now = int(time.time())
    return {**claims, "is_logged_in": True, "iat": now, "exp": now + lifetime}


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from ui.state import load_answerer, load_service, probe_ollama

    yield
    load_answerer.clear()
    load_service.clear()
    probe_ollama.clear()


@pytest.fixture
def department(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app's environment: department mode on the test's data directory, jefa@uni.es administrator."""
    for key, value in {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODE": "department",
                       "RAG_COOKIE_SECRET": SECRET, "RAG_ADMIN_USERS": ADMIN["email"]}.items():
        monkeypatch.setenv(key, value)
    return settings.model_copy(update={"mode": "department", "cookie_secret": SecretStr(SECRET),
                                       "admin_users": [ADMIN["email"]]})


@pytest.fixture
def indexed(department: Any, embedder: Any) -> Any:
    """Two collections: human resources' (group rrhh writes) and the public calendar (fisica reads)."""
    from rag.service import Service

    service = Service(department, embedder=embedder)
    ana = Identity.from_claims(ANA, department)
    service.create_collection(HR, identity=ana, group="rrhh")
    Indexer(service.index, service.embedder, HR).add([pending(HR_DOC)])
    jefa = Identity.from_claims(ADMIN, department)
    service.create_collection(PUBLIC, identity=jefa)
    Indexer(service.index, service.embedder, PUBLIC).add([pending(PUBLIC_DOC)])
    service.grant(PUBLIC, "group:fisica", "read", identity=jefa)
    service.grant(PUBLIC, "group:rrhh", "read", identity=jefa)
    return service


def start(user: dict[str, Any], page: str | None = None, **session: Any) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.user = user
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    return at


def everything(at: AppTest) -> str:
    """All text the page (main and sidebar) shows, widget labels and options included."""
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "info", "warning", "error", "success", "html", "metric"):
        for element in getattr(at, kind):
            parts.append(str(getattr(element, "value", "") or getattr(element, "body", "")))
            parts.append(str(getattr(element, "label", "")))
    for kind in ("selectbox", "button", "text_input"):
        for element in getattr(at, kind):
            parts.append(str(element.label))
            parts += [str(o) for o in getattr(element, "options", [])]
    return "\n".join(parts)


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question)
    return at.run()


# -- who is calling ---------------------------------------------------------------------------------

def test_personal_mode_is_the_local_user_whatever_the_cookie_says(settings) -> None:
    assert resolve({}, settings).identity == Identity.local()
    assert resolve(signed_in(BOB), settings).identity == Identity.local()


def test_department_identity_comes_from_the_id_token(department) -> None:
    now = time.time()
    assert resolve({"is_logged_in": False}, department).state == "signed_out"
    assert resolve({}, department).state == "signed_out"
    ana = resolve(signed_in(ANA), department, now).identity
    assert ana == Identity("ana@uni.es", frozenset({"rrhh"}), False, "Ana")
    assert resolve(signed_in(ADMIN), department, now).identity.admin
    groups_as_text = resolve({**signed_in(ANA), "groups": "rrhh, becas"}, department, now).identity
    assert groups_as_text.groups == {"rrhh", "becas"}
    custom = department.model_copy(update={"groups_claim": "roles", "admin_groups": ["rrhh"]})
    assert resolve({**signed_in(ANA), "roles": ["rrhh"]}, custom, now).identity.admin
    nobody = resolve({"is_logged_in": True, "exp": now + 60}, department, now)
    assert nobody.state == "invalid" and "RAG_USER_CLAIM" in nobody.problem


def test_an_expired_token_is_no_sign_in(department) -> None:
    token = signed_in(ANA, lifetime=60)
    assert resolve(token, department, now=token["exp"] - 1).state == "ok"
    assert resolve(token, department, now=token["exp"]).state == "expired"
    assert resolve({**token, "exp": None}, department).state == "expired"  # no expiry said: not trusted
    # RAG_SESSION_LIFETIME caps a long token
    assert token_expired({"iat": 1000, "exp": 100_000}, lifetime=600, now=1599) is False
    assert token_expired({"iat": 1000, "exp": 100_000}, lifetime=600, now=1600) is True


# -- the page -----------------------------------------------------------------------------------------

def test_signed_out_visitors_see_only_the_sign_in_button(indexed) -> None:
    at = start({"is_logged_in": False})
    assert not at.exception
    assert at.button(key="sign_in").label == "Iniciar sesión"
    shown = everything(at)
    assert HR not in shown and PUBLIC not in shown and "Expediente" not in shown
    assert not at.sidebar.selectbox and not at.chat_input
    at.button_group[0].set_value("en").run()  # the language switch is there before signing in, too
    assert at.button(key="sign_in").label == "Sign in"
    at.button(key="sign_in").click().run()  # started without `rag ui`: no [auth] secrets to sign in with
    assert not at.exception and any("rag ui" in e.value for e in at.error)


def test_an_expired_session_asks_to_sign_in_again(indexed) -> None:
    token = signed_in(ANA)
    at = start({**token, "exp": int(time.time()) - 1})
    assert not at.exception
    assert any("caducado" in w.value for w in at.warning) and at.button(key="sign_in")
    assert HR not in everything(at)


def test_each_user_sees_only_the_collections_granted_to_them(indexed) -> None:
    ana = start(signed_in(ANA))
    assert not ana.exception
    assert ana.sidebar.selectbox(key="collection").options == [PUBLIC, HR]
    assert "Ana" in everything(ana) and ana.sidebar.button(key="sign_out")

    bob = start(signed_in(BOB), collection=HR)  # a collection named in his session is not his
    assert not bob.exception
    assert bob.sidebar.selectbox(key="collection").options == [PUBLIC]
    assert bob.sidebar.selectbox(key="collection").value == PUBLIC
    shown = everything(bob)
    assert HR not in shown and "Expediente" not in shown and "Pérez" not in shown
    for page in ("views/documents.py", "views/upload.py"):
        bob.switch_page(page).run()
        assert not bob.exception and HR not in everything(bob) and "Pérez" not in everything(bob)
    assert "no subir" in everything(bob)  # read right on the calendar: upload is refused with a reason


def test_a_question_reaches_only_the_askers_collections(indexed) -> None:
    ana = ask(start(signed_in(ANA), collection=HR), "¿Qué sanción tiene el expediente 42?")
    assert not ana.exception and "suspensión" in everything(ana)

    bob = ask(start(signed_in(BOB)), "¿Qué sanción tiene el expediente 42 de Pérez?")
    assert not bob.exception
    shown = everything(bob)
    assert "suspensión" not in shown and HR not in shown and "expediente\\_disciplinario" not in shown


def test_grants_changed_while_signed_in_count_from_the_next_run(indexed) -> None:
    jefa = Identity.from_claims(ADMIN, indexed.settings)
    bob = start(signed_in(BOB))
    assert HR not in bob.sidebar.selectbox(key="collection").options
    indexed.grant(HR, "user:bob@uni.es", "read", identity=jefa)
    bob.run()
    assert HR in bob.sidebar.selectbox(key="collection").options
    bob.sidebar.selectbox(key="collection").set_value(HR).run()
    bob = ask(bob, "¿Qué sanción tiene el expediente 42?")
    assert "suspensión" in everything(bob)

    indexed.revoke(HR, "user:bob@uni.es", identity=jefa)
    bob.run()
    assert bob.sidebar.selectbox(key="collection").value == PUBLIC
    assert HR not in bob.sidebar.selectbox(key="collection").options
    bob = ask(bob, "¿Qué sanción tiene el expediente 42?")
    assert not bob.exception and "Pérez" not in everything(bob)


def test_new_collections_belong_to_a_group_of_the_creator(indexed) -> None:
    ana = start(signed_in(ANA))
    picker = ana.sidebar.selectbox(key="new_collection_group")
    assert picker.options == ["rrhh"]  # not an administrator: one of her groups, not "only me"
    ana.sidebar.text_input(key="new_collection").set_value("rrhh-nominas")
    ana.sidebar.button[0].click().run()
    assert not ana.exception and ana.sidebar.selectbox(key="collection").value == "rrhh-nominas"
    grants = {g.principal: g.right for g in indexed.grants("rrhh-nominas", identity=Identity.operator())}
    assert grants == {"group:rrhh": "write", "user:ana@uni.es": "admin"}
    assert "rrhh-nominas" not in start(signed_in(BOB)).sidebar.selectbox(key="collection").options


def test_conversations_are_kept_reopened_and_deleted_by_their_owner(indexed) -> None:
    ask(start(signed_in(ANA), collection=HR), "¿Qué sanción tiene el expediente 42?")
    [saved] = indexed.conversations.list(Identity.from_claims(ANA, indexed.settings))
    assert saved.collection == HR and saved.title.startswith("¿Qué sanción")

    # a new session (a reload) lists it and reopens it with its sources
    again = start(signed_in(ANA))
    again.sidebar.button(key=f"conv-open-{saved.id}").click().run()
    assert not again.exception
    assert again.sidebar.selectbox(key="collection").value == HR
    assert len(again.chat_message) == 2 and "suspensión" in everything(again)

    # nobody else lists or reads it
    bob = Identity.from_claims(BOB, indexed.settings)
    assert indexed.conversations.list(bob) == []
    with pytest.raises(ConversationNotFoundError):
        indexed.conversations.get(bob, saved.id)
    assert f"conv-open-{saved.id}" not in [b.key for b in start(signed_in(BOB)).sidebar.button]

    again.sidebar.button(key=f"conv-delete-{saved.id}").click().run()
    assert indexed.conversations.list(Identity.from_claims(ANA, indexed.settings)) == []
    assert len(again.chat_message) == 0


def test_permissions_page_for_collection_administrators_only(indexed) -> None:
    ana = start(signed_in(ANA), "views/access.py")  # she created HR: she administers it
    assert not ana.exception
    assert ana.selectbox(key="grants_collection").options == [HR]
    assert "rrhh" in everything(ana)
    ana.selectbox(key="grant_kind").set_value("user")
    ana.text_input(key="grant_name").set_value("bob@uni.es")
    ana.selectbox(key="grant_right").set_value("read")
    next(b for b in ana.button if b.label == "Conceder").click().run()
    assert not ana.exception
    assert any(g.principal == "user:bob@uni.es" and g.right == "read"
               for g in indexed.grants(HR, identity=Identity.operator()))
    assert HR in start(signed_in(BOB)).sidebar.selectbox(key="collection").options

    bob = start(signed_in(BOB))
    assert not bob.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not in his menu
        bob.switch_page("views/access.py")


def test_activity_log_for_administrators(indexed) -> None:
    jefa = start(signed_in(ADMIN), "views/audit.py")
    assert not jefa.exception
    frame = jefa.dataframe[0].value
    assert {"create", "grant"} <= set(frame.iloc[:, 2])
    assert "sanción" not in frame.to_string()  # questions are not logged unless the operator says so


# -- rag ui in department mode ----------------------------------------------------------------------

def test_rag_ui_writes_the_sign_in_secrets_privately(department, tmp_path) -> None:
    from rag.cli.ui import auth_secrets, streamlit_command, write_secrets

    settings = department.model_copy(update={
        "oidc_server_metadata_url": "https://idp.example.edu/.well-known/openid-configuration",
        "oidc_client_id": "rag", "oidc_client_secret": SecretStr("client-secret-xyz"),
        "oidc_redirect_uri": "https://rag.example.edu/oauth2callback"})
    text = auth_secrets(settings, "0.0.0.0", 8501)
    assert 'redirect_uri = "https://rag.example.edu/oauth2callback"' in text
    assert f'cookie_secret = "{SECRET}"' in text and 'client_secret = "client-secret-xyz"' in text
    path = write_secrets(text)
    try:
        assert not path.is_relative_to(ROOT)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        command = streamlit_command("127.0.0.1", 8501, secrets=path)
        assert command[command.index("--secrets.files") + 1] == str(path)
        assert SECRET not in " ".join(command)
    finally:
        path.unlink()
        path.parent.rmdir()

    plain = settings.model_copy(update={"oidc_redirect_uri": "http://rag.example.edu/oauth2callback"})
    with pytest.raises(SettingsError, match="HTTPS"):  # RAG_COOKIE_SECURE (the default): sign in over TLS only
        auth_secrets(plain, "0.0.0.0", 8501)
    assert "http://rag.example.edu" in auth_secrets(plain.model_copy(update={"cookie_secure": False}), "0.0.0.0", 1)

    loopback = settings.model_copy(update={"oidc_redirect_uri": ""})
    assert 'redirect_uri = "http://127.0.0.1:8600/oauth2callback"' in auth_secrets(loopback, "127.0.0.1", 8600)
    with pytest.raises(SettingsError, match="RAG_OIDC_REDIRECT_URI"):
        auth_secrets(loopback, "0.0.0.0", 8501)
    with pytest.raises(SettingsError, match="RAG_OIDC_CLIENT_ID"):
        auth_secrets(settings.model_copy(update={"oidc_client_id": ""}), "127.0.0.1", 8501)


def test_rag_ui_refuses_department_mode_without_a_cookie_secret(settings, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    env = subprocess_env(settings, RAG_MODE="department", RAG_OIDC_CLIENT_SECRET="client-secret-xyz")
    done = subprocess.run([sys.executable, "-m", "rag", "ui", "--port", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "RAG_COOKIE_SECRET" in done.stderr and "client-secret-xyz" not in done.stderr + done.stdout


def test_losing_read_access_loses_the_old_answers_too(indexed) -> None:
    ask(start(signed_in(ANA), collection=PUBLIC), "¿Cuándo comienza el primer semestre?")
    [saved] = indexed.conversations.list(Identity.from_claims(ANA, indexed.settings))
    indexed.revoke(PUBLIC, "group:rrhh", identity=Identity.from_claims(ADMIN, indexed.settings))

    ana = start(signed_in(ANA))
    ana.sidebar.button(key=f"conv-open-{saved.id}").click().run()
    assert not ana.exception
    shown = everything(ana)
    assert "Ya no tiene acceso" in shown
    assert "marzo" not in shown and "calendario\\_academico" not in shown and PUBLIC not in shown
