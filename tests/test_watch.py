"""Watched feeds (qa/ingest/watch.py, `newsqa watch`, /api/feeds) against the loopback news site of
tests/web_fixtures.py: conditional polls, updates, back-off, state across restarts, and a poll killed midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from fastapi.testclient import TestClient

from conftest import REPO
from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
from qa.api import create_api
from qa.ingest.loaders import make_article
from qa.errors import InputError
from qa.ingest.watch import FeedWatcher
from qa.ingest.web import Fetcher, FetchPolicy, WebLoader
from qa.service import QAService
from qa.settings import Settings
from scripted_server import ScriptedServer
from web_fixtures import LOUVRE, NewsSite, page

import pytest


def _service(tmp_path, store=None) -> QAService:
    emb = DesignedEmbeddings()
    service = QAService(settings=Settings(index_dir=tmp_path / "idx", url_private="allow"), embeddings=emb,
                        store=store or MemoryStore(emb), llm=scripted_llm("x"))
    service.web_loader = lambda: WebLoader(Fetcher(FetchPolicy(private=True, host_delay_s=0.0, timeout_s=2.0)),
                                           make_article)
    return service


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def site():
    with NewsSite() as news:
        yield news


def test_a_second_poll_gets_304s_and_adds_nothing(tmp_path, site):
    service, clock = _service(tmp_path), Clock()
    watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=60, clock=clock)
    url = watcher.add(f"{site.base}/feed.atom").url
    first = watcher.poll(url)
    assert (first.new, first.updated, first.failed, first.last_error) == (2, 0, 0, None)
    assert watcher.due() == [] and first.next_poll == clock.now + 60
    clock.now += 61
    assert watcher.due() == [url]
    second = watcher.poll(url)
    assert (second.new, second.updated, second.failed) == (0, 0, 0)
    assert "/feed.atom" in site.not_modified and len(service.articles()) == 2


def test_an_item_updated_on_the_server_replaces_its_chunks(tmp_path, site):
    service = _service(tmp_path)
    watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=60)
    url = watcher.add(f"{site.base}/feed.atom").url
    watcher.poll(url)
    louvre = next(a for a in service.articles() if a["title"].startswith("Louvre"))
    before = set(service.store.ids(where={"article_id": louvre["article_id"]}))
    site.routes["/culture/louvre"] = (200, {"Content-Type": "text/html"}, page(
        "Louvre robbed of crown jewels", LOUVRE + ["Update: two suspects were arrested on Saturday evening."],
        "2025-10-19"))
    site.routes["/feed.atom"] = (200, site.routes["/feed.atom"][1], site.routes["/feed.atom"][2].replace(
        "2025-10-19T12:00:00Z</updated><summary>", "2025-10-26T08:00:00Z</updated><summary>"))
    again = watcher.poll(url)
    after = set(service.store.ids(where={"article_id": louvre["article_id"]}))
    assert (again.new, again.updated) == (0, 1) and before.isdisjoint(after) and len(service.articles()) == 2
    assert "two suspects" in service.article(louvre["article_id"])["text"]


def test_a_failing_feed_backs_off_and_never_stops_the_others(tmp_path, site):
    service, clock = _service(tmp_path), Clock()
    watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=60, clock=clock)
    good = watcher.add(f"{site.base}/feed.atom").url
    bad = watcher.add(f"{site.base}/gone.rss").url
    polled = {s.url: s for s in watcher.poll_due()}
    assert polled[good].new == 2 and polled[good].failures == 0
    assert "HTTP 404" in polled[bad].last_error and polled[bad].failures == 1
    assert polled[bad].next_poll == clock.now + 120
    clock.now += 121
    watcher.poll(bad)
    assert watcher.feeds[bad].failures == 2 and watcher.feeds[bad].next_poll == clock.now + 240


def test_a_failed_item_is_fetched_again_on_the_next_poll(tmp_path, site):
    service = _service(tmp_path)
    watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=60)
    url = watcher.add(f"{site.base}/feed.rss").url
    assert watcher.poll(url).failed == 1  # the /missing item: HTTP 404, no text of its own
    site.routes["/missing"] = (200, {"Content-Type": "text/html"}, page("A story that moved", LOUVRE, "2025-10-27"))
    again = watcher.poll(url)
    assert (again.new, again.failed) == (1, 0) and "/feed.rss" not in site.not_modified


def test_a_feed_removed_while_its_poll_waits_is_skipped_and_bad_addresses_refused(tmp_path, site):
    service = _service(tmp_path)
    watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=60)
    url = watcher.add(f"{site.base}/feed.atom").url
    due = watcher.due()
    watcher.remove(url)
    assert due == [url] and watcher.poll_due() == []
    for bad in ("http://[::1", "http://a:99999/feed", "file:///etc/passwd", "feed.rss"):
        with pytest.raises(InputError):
            watcher.add(bad)


def test_the_feeds_list_survives_a_restart(tmp_path, site):
    service = _service(tmp_path)
    watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=60)
    url = watcher.add(f"{site.base}/feed.atom?utm_source=x").url
    watcher.poll(url)
    again = FeedWatcher(service, tmp_path / "feeds.json", every_s=60)
    assert list(again.feeds) == [f"{site.base}/feed.atom"] and again.feeds[url].validators
    assert again.feeds[url].public()["new"] == 2 and "validators" not in again.feeds[url].public()
    assert again.remove(url) and FeedWatcher(service, tmp_path / "feeds.json").feeds == {}


def test_the_rest_api_keeps_a_feeds_list(tmp_path, site):
    client = TestClient(create_api(_service(tmp_path)))
    added = client.post("/api/feeds", json={"url": f"{site.base}/feed.rss"})
    assert added.status_code == 200 and added.json()["last_poll"] is None
    polled = client.post("/api/feeds/poll").json()["polled"]
    assert polled[0]["new"] == 3 and polled[0]["failed"] == 1 and "HTTP 404" in polled[0]["last_error"]
    listed = client.get("/api/feeds").json()
    assert listed["feeds"][0]["url"] == f"{site.base}/feed.rss" and listed["every_s"] == 900
    assert client.request("DELETE", "/api/feeds", params={"url": f"{site.base}/feed.rss"}).status_code == 200
    assert client.request("DELETE", "/api/feeds", params={"url": f"{site.base}/feed.rss"}).status_code == 404
    assert client.post("/api/feeds", json={"url": "feed.rss"}).status_code == 422


def _index_sets(index) -> tuple[set, set]:
    from vectorstore.chroma import ChromaVectorStore, persistent_client

    store = ChromaVectorStore(persistent_client(index), DesignedEmbeddings())
    metas = store.metadata()
    return {m["article_id"] for _, m in metas}, {i for i, _ in metas}


@pytest.mark.timeout(300)
def test_a_poll_killed_midway_loses_and_duplicates_nothing(tmp_path, site):
    designed = DesignedEmbeddings()
    with ScriptedServer(embed=designed.embed_query) as models:
        env = {**os.environ, "NEWSQA_EMBEDDING_BACKEND": "openai", "NEWSQA_EMBEDDING_BASE_URL": models.base_url,
               "NEWSQA_EMBEDDING_MODEL": models.model, "NEWSQA_URL_PRIVATE": "allow", "NEWSQA_CHUNK_SIZE": "200"}
        feed = f"{site.base}/feed.rss"
        site.slow_s = 4.0
        site.routes["/slow"] = site.routes.pop("/eco/bce")  # the feed's second item, served slowly
        site.routes["/feed.rss"] = (200, site.routes["/feed.rss"][1],
                                    site.routes["/feed.rss"][2].replace(f"{site.base}/eco/bce", f"{site.base}/slow"))
        watch = [sys.executable, "-m", "qa", "watch", feed, "--once", "--index", str(tmp_path / "killed")]
        process = subprocess.Popen(watch, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + 120
        while "/slow" not in site.hits and time.monotonic() < deadline:  # killed while a page is being fetched
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert "/slow" in site.hits
        site.slow_s = 0.0
        clean = subprocess.run(watch[:-2] + ["--index", str(tmp_path / "killed")], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120)
        reference = subprocess.run(watch[:5] + ["--once", "--index", str(tmp_path / "reference")], cwd=REPO,
                                   env=env, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and reference.returncode == 0, clean.stderr
    assert "3 new, 0 updated, 1 failed (HTTP 404)" in clean.stdout  # the /missing item fails in both
    assert _index_sets(tmp_path / "killed") == _index_sets(tmp_path / "reference")
    articles, chunks = _index_sets(tmp_path / "killed")
    assert len(articles) == 3 and len(chunks) >= 3


@pytest.mark.timeout(180)
def test_the_articles_tab_watches_a_feed_in_a_real_browser(tmp_path, site):
    """Debian's chromium (Playwright) on the served page, fake models: a person adds a feed and sees its poll."""
    from pathlib import Path

    from live_api import running
    from ui.server import build_server

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed (make test installs it)")
    from playwright.sync_api import expect, sync_playwright

    service = _service(tmp_path)
    with running(build_server(service)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.goto(base + "/")
        page.get_by_role("tab", name="Articles").click()
        page.locator("#feed-url textarea, #feed-url input").first.fill(f"{site.base}/feed.atom")
        page.locator("#watch").click()
        expect(page.get_by_text(f"Watching {site.base}/feed.atom.")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Louvre robbed of crown jewels").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "feeds.png"), full_page=True)
        browser.close()
    assert {a["title"] for a in service.articles()} == {"Louvre robbed of crown jewels",
                                                        "Bessent and He agree a framework in Kuala Lumpur"}
    assert (tmp_path / "feeds.png").stat().st_size > 10_000
