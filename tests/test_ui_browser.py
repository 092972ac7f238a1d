"""End to end in a real headless Chromium: `rag ui` on loopback, upload a PDF, ask about it, see the cited page.

Needs Debian's `chromium` and `chromium-driver` (`make browser` installs them). The answer model is the
loopback Ollama stand-in acting as a careful model: it cites the retrieved passage that holds the answer,
so the test checks retrieval, citation checking and the page together. Screenshots land in the test's
temporary folder (printed, and kept by pytest under its basetemp).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.ollama_stub import OllamaStub, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SAMPLE = ROOT / "corpora" / "sample"
QUESTIONS = json.loads((ROOT / "corpora" / "sample_questions.json").read_text())["questions"]
CASE = next(q for q in QUESTIONS if q["id"] == "es-10")  # tribunal de tesis: procedimiento_titulacion.pdf p. 2
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)
# A partly scanned PDF made in the test: page 1 has a text layer, page 2 is the shared French scan (OCR).
FRANCAIS = ROOT.parent / "shared" / "data" / "pdfs" / "scanned" / "ocrmypdf__francais.pdf"
SCAN_NAME = "residencias_escaneado.pdf"
SCAN_QUESTION = "¿Qué whisky se menciona en el texto en francés?"
SCAN_FACT = "vieux whisky"


def careful_model(messages: list[dict[str, Any]]) -> list[str]:
    """Answer with the expected fact, citing the passage that holds it (as a good model would)."""
    prompt = messages[-1]["content"]
    if "<passage" not in prompt and SCAN_QUESTION in prompt:  # the condense step: it already stands alone
        return [SCAN_QUESTION]
    for n, text in _PASSAGE.findall(prompt):
        if SCAN_QUESTION in prompt and SCAN_FACT in " ".join(text.split()):
            answer = f"El texto en francés menciona un «{SCAN_FACT}» [{n}]."
            return [word + " " for word in answer.split(" ")]
        if SCAN_QUESTION not in prompt and CASE["answer_contains"] in " ".join(text.split()):
            answer = f"Según el procedimiento, el tribunal de tesis está compuesto por {CASE['answer_contains']} [{n}]."
            return [word + " " for word in answer.split(" ")]
    return ["No encuentro la respuesta en los documentos."]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Chromium and chromedriver are not installed (Debian: `make browser`, or "
                    "`apt-get install chromium chromium-driver`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1400"):
        options.add_argument(flag)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"rag-chromium-{os.getpid()}-{time.monotonic_ns()}"
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def app_url(settings: Any, ollama_stub: OllamaStub, tmp_path: Path) -> Iterator[str]:
    """`python -m rag ui` on a free loopback port, on the test's data directory and the Ollama stand-in."""
    ollama_stub.reply = careful_model
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ui", "--port", str(port)], cwd=tmp_path,
                            env=subprocess_env(settings, OLLAMA_HOST=ollama_stub.url), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
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


def test_upload_a_pdf_ask_and_see_the_cited_page(browser, app_url, tmp_path) -> None:
    if not FRANCAIS.is_file() or shutil.which("tesseract") is None:
        pytest.skip("needs the shared scans and Tesseract (apt-get install tesseract-ocr tesseract-ocr-spa)")
    try:
        upload_ask_and_check(browser, app_url, tmp_path)
    except Exception:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        print(f"failure screenshot: {tmp_path / 'failure.png'}")
        raise


def partly_scanned_pdf() -> bytes:
    import io

    import pypdfium2 as pdfium

    from tests.helpers import make_pdf

    doc = pdfium.PdfDocument(make_pdf(["Residencias universitarias: normas de convivencia y horario de visitas."]))
    doc.import_pages(pdfium.PdfDocument(FRANCAIS.read_bytes()))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def script_done(driver: Any) -> bool:
    """True once Streamlit has no run in progress (its "Running..." widget is gone)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        widgets = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")
        return not any(e.is_displayed() for e in widgets)
    except StaleElementReferenceException:  # redrawn while looked at: ask again
        return False


def upload_ask_and_check(browser: Any, app_url: str, tmp_path: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # Streamlit redraws elements while a page reruns: a reference found a moment ago may be gone
    wait = WebDriverWait(browser, 180, ignored_exceptions=(StaleElementReferenceException,))

    def button(label: str) -> Any:
        # contains: a button's text also holds its icon's name (Material Symbols are ligatures)
        return wait.until(ec.element_to_be_clickable((By.XPATH, f"//button[contains(., '{label}')]")))

    # Upload the PDF and the partly scanned one through the page's file input
    scan = tmp_path / SCAN_NAME
    scan.write_bytes(partly_scanned_pdf())
    browser.get(f"{app_url}/upload")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(f"{SAMPLE / CASE['source']}\n{scan}")
    # the uploader shows the files once their bytes reached the server
    for name in (CASE["source"], SCAN_NAME):
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"[data-testid='stFileChipName'][title='{name}']")))
    button("Subir e indexar").click()
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(., 'Añadidos (2)')]")))
    browser.save_screenshot(str(tmp_path / "upload.png"))

    # Ask about it in the chat
    browser.find_element(By.XPATH, "//a[contains(., 'Preguntar')]").click()
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='stChatInputTextArea']")))
    box.send_keys(CASE["question"])
    box.send_keys(Keys.ENTER)
    card = (f"//p[contains(., '{CASE['source']}') and contains(., 'pág. {CASE['page']}')]"
            "/ancestor::div[@data-testid='stVerticalBlock'][1]")
    wait.until(ec.presence_of_element_located((By.XPATH, card)))
    # the hits are listed while the answer still streams: wait for the finished answer's badge
    wait.until(lambda b: "Redactada por" in b.find_element(By.TAG_NAME, "body").text)
    wait.until(script_done)  # no rerun left to dim the page in the screenshot
    browser.save_screenshot(str(tmp_path / "answer.png"))
    print(f"screenshots: {tmp_path / 'upload.png'} {tmp_path / 'answer.png'}")

    page = browser.find_element(By.TAG_NAME, "body").text
    assert CASE["answer_contains"] in page and "Redactada por" in page
    passage = browser.find_element(By.XPATH, card + "//div[@class='rag-passage']")
    assert CASE["answer_contains"] in " ".join(passage.text.split())
    assert passage.find_elements(By.TAG_NAME, "mark"), "the supporting words are highlighted"

    # The whole page opens in a dialog
    browser.find_element(By.XPATH, card + "//button[contains(., 'Ver página completa')]").click()
    dialog = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[role='dialog']")))
    # the dialog's frame appears before Streamlit fills it: wait for the page text, then check it
    wait.until(lambda b: CASE["answer_contains"] in " ".join(
        b.find_element(By.CSS_SELECTOR, "[role='dialog']").text.split()))
    dialog = browser.find_element(By.CSS_SELECTOR, "[role='dialog']")
    assert CASE["answer_contains"] in " ".join(dialog.text.split())
    browser.save_screenshot(str(tmp_path / "page.png"))

    # The partly scanned PDF: asked about its scanned page, cited on page 2, shown as an image
    browser.find_element(By.CSS_SELECTOR, "[role='dialog']").send_keys(Keys.ESCAPE)
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "[role='dialog']")))
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='stChatInputTextArea']")))
    box.send_keys(SCAN_QUESTION)
    box.send_keys(Keys.ENTER)
    scan_card = (f"//p[contains(., '{SCAN_NAME}') and contains(., 'pág. 2')]"
                 "/ancestor::div[@data-testid='stVerticalBlock'][1]")
    # the second answer finished (a click while it streams would rerun the page under it)
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").text.count("Redactada por") >= 2)
    # the card, not the same name in a collapsed list of consulted passages
    found = wait.until(lambda b: [e for e in b.find_elements(By.XPATH, scan_card) if e.is_displayed()
                                  and "Ver página completa" in e.text])
    assert "Texto reconocido por OCR" in found[0].text
    found[0].find_element(By.XPATH, ".//button[contains(., 'Ver página completa')]").click()
    image = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[role='dialog'] img")))
    assert image.size["width"] > 100 and image.size["height"] > 100
    wait.until(lambda b: SCAN_FACT in " ".join(b.find_element(By.CSS_SELECTOR, "[role='dialog']").text.split()))
    assert "se reconoció con OCR" in browser.find_element(By.CSS_SELECTOR, "[role='dialog']").text
    wait.until(script_done)
    browser.save_screenshot(str(tmp_path / "scan_page.png"))

    # Private: the browser fetched nothing from outside this machine
    urls = [json.loads(entry["message"])["message"].get("params", {}).get("request", {}).get("url", "")
            for entry in browser.get_log("performance")]
    here = app_url.split("://", 1)[1]
    network = [u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))]  # not chrome://, data:
    outside = {u for u in network if u.split("://", 1)[1].split("/", 1)[0] != here}
    assert network and not outside, outside
