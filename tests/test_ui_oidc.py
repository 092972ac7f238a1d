"""Department mode end to end: a real OpenID Connect provider on loopback, `rag ui`, and headless Chromium.

The provider is oidc-provider-mock (it speaks the real protocol: discovery, authorization code, signed ID
tokens with the users' claims, end-session), run in this process on a free loopback port. Ana (group rrhh)
signs in, uploads to her group's collection and asks; Bob (group fisica) signs in and finds nothing of it:
not in the picker, the pages, the answers or the sidebar's conversations. A grant given while Bob is signed
in counts from his next request; a token past its expiry is no sign-in; sign-out works.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.access.control import Identity
from rag.index.writer import Indexer
from tests.conftest import subprocess_env
from tests.helpers import make_doc, pending
from tests.ollama_stub import OllamaStub, free_port
from tests.test_ui_browser import CASE, CHROMEDRIVER, CHROMIUM, SAMPLE, careful_model

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    # the provider (in this process) uses Authlib APIs that Authlib now deprecates; not our code
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]

SECRET = "c" * 40
HR = "rrhh-expedientes"
PHYSICS = "fisica-docs"
PHYSICS_DOC = make_doc("horario_laboratorio.pdf", ["El laboratorio de física abre de 9 a 14 horas."])
USERS = {
    "ana": {"email": "ana@uni.es", "name": "Ana Ruiz", "groups": ["rrhh"]},
    "bob": {"email": "bob@uni.es", "name": "Bob Vidal", "groups": ["fisica"]},
}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """oidc-provider-mock on a free loopback port, with Ana and Bob; yields its issuer URL."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback, for the test only
    import oidc_provider_mock
    import werkzeug.serving

    app = oidc_provider_mock.app(user_claims=[oidc_provider_mock.User(sub=sub, claims=claims)
                                              for sub, claims in USERS.items()])
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def set_user(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    """Register (or change) a user at the provider, through its own API."""
    request = urllib.request.Request(f"{issuer}/users/{sub}", data=json.dumps(claims).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


@pytest.fixture
def department(settings: Any, service: Any) -> Any:
    """HR's collection (empty; group rrhh writes) and physics' (one document; group fisica reads)."""
    operator = Identity.operator()
    service.create_collection(HR, identity=operator, group="rrhh")
    service.create_collection(PHYSICS, identity=operator, group="fisica", group_right="read")
    Indexer(service.index, service.embedder, PHYSICS).add([pending(PHYSICS_DOC)])
    return service


@pytest.fixture
def app_url(settings: Any, department: Any, provider: str, ollama_stub: OllamaStub, tmp_path: Path) -> Iterator[str]:
    """`python -m rag ui` in department mode on a free loopback port, signing in at the provider."""
    ollama_stub.reply = careful_model
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = subprocess_env(settings, OLLAMA_HOST=ollama_stub.url, RAG_MODE="department", RAG_COOKIE_SECRET=SECRET,
                         RAG_OIDC_SERVER_METADATA_URL=f"{provider}/.well-known/openid-configuration",
                         RAG_OIDC_CLIENT_ID="rag-privado", RAG_OIDC_CLIENT_SECRET="client-secret",
                         RAG_OIDC_REDIRECT_URI=f"{url}/oauth2callback", AUTHLIB_INSECURE_TRANSPORT="1")
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ui", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        server_log = (tmp_path / "server.log").read_text(errors="replace")
        assert SECRET not in server_log and "client-secret" not in server_log, "a secret reached the log"


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Start a fresh headless Chromium (its own profile: its own cookies) per call; all quit at the end."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Chromium and chromedriver are not installed (Debian: `make browser`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []
    profiles: list[Path] = []

    def start() -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1400"):
            options.add_argument(flag)
        profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"rag-oidc-{os.getpid()}-{time.monotonic_ns()}"
        options.add_argument(f"--user-data-dir={profile}")
        profiles.append(profile)
        drivers.append(webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options))
        return drivers[-1]

    try:
        yield start
    finally:
        for number, driver in enumerate(drivers):
            driver.save_screenshot(str(tmp_path / f"last-{number}.png"))
            driver.quit()
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


class Page:
    """A signed-in (or not) browser on the app, with the few moves these tests make."""

    def __init__(self, driver: Any, url: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.url = url
        self.wait = WebDriverWait(driver, 180)

    def body(self) -> str:
        """The page's text; empty while a navigation replaces the page (the old body goes stale mid-read)."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except StaleElementReferenceException:
            return ""

    def button(self, label: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        # contains: a button's text also holds its icon's name (Material Symbols are ligatures)
        return self.wait.until(ec.element_to_be_clickable((By.XPATH, f"//button[contains(., '{label}')]")))

    def shows(self, text: str) -> None:
        self.wait.until(lambda d: text in self.body())

    def open(self, path: str = "", until: str = "") -> None:
        self.driver.get(f"{self.url}/{path}")
        if until:
            self.shows(until)

    def sign_in(self, sub: str, as_new: bool = False) -> None:
        """From the sign-in page, through the provider's authorization form, back to the app."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.button("Iniciar sesión").click()
        if as_new:  # not one of the provider's predefined users: type the subject
            box = self.wait.until(ec.element_to_be_clickable((By.NAME, "sub")))
            box.send_keys(sub)
            self.driver.find_element(By.XPATH, "//button[normalize-space(.)='Authorize']").click()
        else:
            self.wait.until(ec.element_to_be_clickable((By.XPATH, f"//button[@value='{sub}']"))).click()
        self.wait.until(lambda d: d.current_url.startswith(self.url))
        self.shows("Cerrar sesión")

    def lists_conversation(self, conversation_id: str) -> bool:
        """Whether the sidebar lists this conversation (Streamlit marks each element with its key)."""
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.CSS_SELECTOR, f"[class*='st-key-conv-open-{conversation_id}']"))

    def picker_options(self) -> list[str]:
        """The collection picker's options (opened, read, closed again)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = self.wait.until(lambda d: d.find_element(
            By.XPATH, "//section[@data-testid='stSidebar']//div[@data-testid='stSelectbox'][1]"))
        box.click()
        options = self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role='option']"))
        names = [o.text.strip() for o in options]
        box.find_element(By.TAG_NAME, "input").send_keys(Keys.ESCAPE)
        return names

    def choose_collection(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        box = self.driver.find_element(
            By.XPATH, "//section[@data-testid='stSidebar']//div[@data-testid='stSelectbox'][1]")
        box.click()
        self.wait.until(lambda d: d.find_element(By.XPATH, f"//*[@role='option'][contains(., '{name}')]")).click()
        self.shows(name)

    def ask(self, question: str, until: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support import expected_conditions as ec

        box = self.wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='stChatInputTextArea']")))
        box.send_keys(question)
        box.send_keys(Keys.ENTER)
        self.shows(until)


def test_two_users_in_different_groups(app_url, chromium, department, provider, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    fact = CASE["answer_contains"]

    # -- Ana (rrhh): signs in, uploads to her group's collection, asks, opens the cited page -------------
    ana = Page(chromium(), app_url)
    ana.open(until="Iniciar sesión")
    assert HR not in ana.body() and PHYSICS not in ana.body()  # nothing of the index before signing in
    ana.sign_in("ana")
    assert "Ana Ruiz" in ana.body()
    assert ana.picker_options() == [HR]
    ana.open("upload", until="Subir e indexar")
    ana.driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(SAMPLE / CASE["source"]))
    chip = f"[data-testid='stFileChipName'][title='{CASE['source']}']"
    ana.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, chip)))
    ana.button("Subir e indexar").click()
    ana.shows("Añadidos (1)")
    ana.driver.find_element(By.XPATH, "//a[contains(., 'Preguntar')]").click()
    ana.ask(CASE["question"], until=f"pág. {CASE['page']}")
    assert fact in " ".join(ana.body().split())
    ana.button("Ver página completa").click()
    ana.wait.until(lambda d: fact in " ".join(d.find_element(By.CSS_SELECTOR, "[role='dialog']").text.split()))
    ana.driver.save_screenshot(str(tmp_path / "ana.png"))
    [conversation] = department.conversations.list(Identity.from_claims(USERS["ana"], department.settings))
    title = conversation.title

    # a reload keeps her signed in and lists the conversation, which reopens with its citation
    ana.open(until="Cerrar sesión")
    ana.shows(title[:20])
    assert ana.lists_conversation(conversation.id)
    ana.driver.find_element(By.XPATH, f"//button[contains(., '{title[:20]}')]").click()
    ana.shows(f"pág. {CASE['page']}")

    # -- Bob (fisica): cannot see, search, ask about, open or count it, nor read her conversations -------
    bob = Page(chromium(), app_url)
    bob.open(until="Iniciar sesión")
    bob.sign_in("bob")
    assert bob.picker_options() == [PHYSICS]
    for path, until in (("", "Preguntar"), ("documents", "Documentos"), ("upload", "Subir documentos")):
        bob.open(path, until=until)
        bob.shows("Cerrar sesión")
        shown = bob.body()
        assert HR not in shown and CASE["source"] not in shown and title[:20] not in shown, path
        assert not bob.lists_conversation(conversation.id)
    bob.open("documents", until="horario_laboratorio.pdf")  # his one document; hers are neither listed nor counted
    assert CASE["source"] not in bob.body()
    bob.open(until="Preguntar")
    bob.ask(CASE["question"], until="Redactada por")  # asked in his collection: her passages never come back
    shown = " ".join(bob.body().split())
    assert fact not in shown and CASE["source"] not in shown and HR not in shown

    # -- a grant given while Bob is signed in counts from his next request --------------------------------
    department.grant(HR, "user:bob@uni.es", "read", identity=Identity.operator())
    bob.open(until="Cerrar sesión")
    assert bob.picker_options() == [PHYSICS, HR]
    bob.choose_collection(HR)
    bob.ask(CASE["question"], until=f"pág. {CASE['page']}")
    assert fact in " ".join(bob.body().split())
    assert not bob.lists_conversation(conversation.id)  # hers stays hers, whatever he may read
    department.revoke(HR, "user:bob@uni.es", identity=Identity.operator())
    bob.open(until="Cerrar sesión")
    assert bob.picker_options() == [PHYSICS]

    # -- sign-out: back to the sign-in page --------------------------------------------------------------
    bob.button("Cerrar sesión").click()
    bob.wait.until(lambda d: "End session" in bob.body() or "Iniciar sesión" in bob.body())
    if "End session" in bob.body():  # the provider's own end-session page asks to confirm
        bob.driver.find_element(By.XPATH, "//button[contains(., 'End session')]").click()
    bob.shows("Iniciar sesión")
    bob.open(until="Iniciar sesión")
    assert PHYSICS not in bob.body()


def test_an_expired_token_signs_the_user_out(app_url, chromium, provider) -> None:
    lifetime = 25  # seconds: long enough to sign in on a slow machine, short enough to wait for
    expires = int(time.time()) + lifetime
    set_user(provider, "carla", {"email": "carla@uni.es", "name": "Carla", "groups": ["fisica"], "exp": expires})
    carla = Page(chromium(), app_url)
    carla.open(until="Iniciar sesión")
    carla.sign_in("carla", as_new=True)
    assert PHYSICS in carla.picker_options()
    time.sleep(max(0.0, expires - time.time()) + 1)
    carla.open(until="Iniciar sesión")
    shown = carla.body()
    assert "caducado" in shown and PHYSICS not in shown and "Cerrar sesión" not in shown
