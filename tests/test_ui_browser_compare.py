"""Compare mode end to end in a real headless Chromium: two models answer side by side, both cited; a vote is
recorded and counted on the leaderboard. Same set-up as tests/test_ui_browser.py (its fixtures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.ollama_stub import OllamaStub
from tests.test_ui_browser import CASE, SAMPLE, app_url, browser, script_done  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def ingested(settings: Any, tmp_path: Path) -> Any:
    """One sample PDF ingested by `rag ingest` in its own process, before the app opens the index."""
    done = subprocess.run([sys.executable, "-m", "rag", "ingest", str(SAMPLE / CASE["source"])], cwd=tmp_path,
                          env=subprocess_env(settings), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return settings


def test_compare_two_models_vote_and_see_the_leaderboard(ingested, model_zoo: OllamaStub, browser,  # noqa: F811
                                                         app_url, tmp_path) -> None:  # noqa: F811
    try:
        compare_vote_and_check(browser, app_url, settings=ingested)
    except Exception:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        print(f"failure screenshot: {tmp_path / 'failure.png'}")
        raise
    browser.save_screenshot(str(tmp_path / "leaderboard.png"))


def compare_vote_and_check(driver: Any, url: str, settings: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from rag.models.votes import VoteStore

    wait = WebDriverWait(driver, 180)
    driver.get(f"{url}/compare")
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='stChatInputTextArea']")))
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(., 'Modelo B')]")))
    box.send_keys(CASE["question"])
    box.send_keys(Keys.ENTER)
    # both finished answers, each with its source card, then the vote form
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").text.count("Redactada por") == 2)
    vote_b = wait.until(ec.element_to_be_clickable((By.XPATH, "//button[contains(., 'B es mejor')]")))
    page = driver.find_element(By.TAG_NAME, "body").text
    assert CASE["answer_contains"] in " ".join(page.split())  # the careful model's answer (A)
    assert "Otra respuesta, de otro modelo" in page  # the other model's (B)
    assert page.count(f"{CASE['source']}") >= 2 and page.count("citada") == 2
    assert "tokens/s" in page
    wait.until(script_done)  # no rerun left to dim the page in the screenshot
    driver.save_screenshot(str(Path(settings.data_dir).parent / "compare.png"))
    vote_b.click()
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(., 'Voto guardado')]")))
    (vote,) = VoteStore.open(settings.data_dir, "default").votes()
    assert (vote.model_a, vote.model_b, vote.verdict) == ("qwen2.5:7b", "llama3.1:8b", "b")

    driver.find_element(By.XPATH, "//a[contains(., 'Clasificación')]").click()
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(., '1 en total')]")))
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(., 'de victorias')]")))
    board = driver.find_element(By.TAG_NAME, "body").text
    assert "llama3.1:8b: 100% de victorias" in board and "qwen2.5:7b: 0% de victorias" in board
