"""The chat page as a person uses it: real browser (Debian chromium via Playwright), real models, real Chroma.

`make test` installs chromium when it is missing. Set NEWSQA_SCREENSHOT=path to keep the screenshot
(the README's picture is made this way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from load_askers import free_port

pytestmark = pytest.mark.real_models

CHROMIUM = "/usr/bin/chromium"



@pytest.fixture(scope="module")
def server(tmp_path_factory, seeds_dir):
    index = tmp_path_factory.mktemp("ui-index")
    newsqa = [sys.executable, "-m", "qa"]
    subprocess.run([*newsqa, "ingest", *map(str, sorted(seeds_dir.glob("*.txt"))), "--index", str(index)],
                   check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path_factory.mktemp("ui-log") / "serve.log", "w")
    proc = subprocess.Popen([*newsqa, "serve", "--index", str(index), "--port", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"newsqa serve exited with {proc.returncode}; see {log.name}")
            time.sleep(1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_gradio_client_asks_through_the_running_app(server):
    from gradio_client import Client

    client = Client(server + "/", verbose=False)
    chat, _question, sources, _rewritten = client.predict(
        "When did Bessent last meet He Lifeng?", [], "2026-02-11", "", [], 5, False, api_name="/ask")
    reply = chat[-1]["content"][0]["text"] if isinstance(chat[-1]["content"], list) else chat[-1]["content"]
    assert "October 2025" in reply
    assert "004_a88b1a08a186ee89.txt" in sources and "<mark>" in sources


def test_chat_page_in_a_real_browser(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.goto(server + "/")
        page.get_by_text("Options (apply to the next question)").click()
        page.locator("#as-of textarea, #as-of input").first.fill("2026-02-11")
        page.locator("#show-rewrite input").check()
        page.locator("#question textarea").fill("When did Bessent last meet He Lifeng?")
        page.locator("#ask").click()
        sources = page.locator("#sources")
        # While the model reads, the panel lists what it reads; the cited sources replace the list.
        expect(sources.locator(".newsqa-reading")).to_contain_text("Reading", timeout=240_000)
        expect(sources.locator(".newsqa-reading-list")).to_contain_text("004_a88b1a08a186ee89.txt")
        expect(sources.locator("mark")).to_be_visible(timeout=240_000)
        expect(sources.locator(".newsqa-reading")).to_have_count(0)
        expect(page.locator("#chat")).to_contain_text("October 2025")
        expect(sources).to_contain_text("004_a88b1a08a186ee89.txt")
        expect(sources.locator(".lang").first).to_have_text("fr")
        assert "Malaisie" in sources.locator("mark").first.inner_text()

        page.locator("#question textarea").fill("And where was that?")
        page.locator("#ask").click()
        expect(page.locator("#rewritten")).to_contain_text("Searched for", timeout=300_000)
        # the follow-up's own answer names the place (Malaysia / Malaisie): a second mention in the chat
        page.wait_for_function("document.querySelector('#chat').innerText.split('Mala').length > 2",
                               timeout=60_000)
        shot = tmp_path / "chat.png"
        page.screenshot(path=str(shot), full_page=True)

        # A second browser session shares nothing: empty conversation, its own options.
        other = browser.new_context().new_page()
        other.goto(server + "/")
        expect(other.locator("#question textarea")).to_be_visible()
        assert "October 2025" not in other.locator("#chat").inner_text()
        other.get_by_text("Options (apply to the next question)").click()
        assert other.locator("#as-of textarea, #as-of input").first.input_value() != "2026-02-11"
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("NEWSQA_SCREENSHOT"):
        shutil.copy(shot, os.environ["NEWSQA_SCREENSHOT"])
