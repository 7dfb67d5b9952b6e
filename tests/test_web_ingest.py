"""Articles from links and feeds (qa/ingest/web.py) against a test-owned news site on loopback
(tests/web_fixtures.py): what was ingested, what was reported and why; safety refusals."""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi.testclient import TestClient

from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
from qa.api import create_api
from qa.ingest.loaders import make_article
from qa.ingest.web import Fetcher, FetchError, FetchPolicy, WebLoader, canonical_url, url_article_id
from qa.service import QAService
from qa.settings import Settings
from web_fixtures import NewsSite, TALKS, page


def _service(tmp_path, **policy) -> QAService:
    emb = DesignedEmbeddings()
    service = QAService(settings=Settings(index_dir=tmp_path / "idx", url_private="allow"), embeddings=emb,
                        store=MemoryStore(emb), llm=scripted_llm("x"))
    settings = {"private": True, "host_delay_s": 0.0, "timeout_s": 1.0, "max_bytes": 200_000, **policy}
    service.web_loader = lambda: WebLoader(Fetcher(FetchPolicy(**settings)), make_article)
    return service


@pytest.fixture
def site():
    with NewsSite(slow_s=2.5) as news:
        yield news


def _by_path(report) -> dict[str, object]:
    return {r.path: r for r in report.files}


def test_canonical_urls_drop_tracking_parameters_and_fragments():
    assert canonical_url("HTTPS://News.Example/a/b?utm_source=x&id=3&fbclid=9#top") == "https://news.example/a/b?id=3"
    assert url_article_id("https://news.example/world/talks?utm_medium=rss") == url_article_id(
        "https://news.example/world/talks")


def test_a_link_is_ingested_with_its_title_date_language_and_canonical_url(tmp_path, site):
    service = _service(tmp_path)
    report = service.ingest([f"{site.base}/world/talks?utm_source=newsletter"])
    assert (report.added, report.failed) == (1, 0)
    [row] = service.articles()
    assert row["title"] == "Bessent and He agree a framework in Kuala Lumpur"
    assert row["published"] == "2025-10-26" and row["language"] == "en"
    assert row["source"] == f"{site.base}/world/talks"
    assert "rare earths" in service.article(row["article_id"])["text"]


def test_an_rss_feed_ingests_its_items_pages_and_reports_what_it_could_not(tmp_path, site):
    service = _service(tmp_path)
    report = service.ingest([f"{site.base}/feed.rss"])
    rows = {r["title"]: r for r in service.articles()}
    assert set(rows) == {"Bessent and He agree a framework in Kuala Lumpur", "La BCE laisse ses taux inchangés",
                         "Markets close higher"}
    assert rows["La BCE laisse ses taux inchangés"]["language"] == "fr"
    assert rows["La BCE laisse ses taux inchangés"]["published"] is None  # neither the page nor the feed dates it
    markets = rows["Markets close higher"]
    assert markets["published"] == "2025-10-27"  # the feed's date; the item's own HTML description as text
    text = service.article(markets["article_id"])["text"]
    assert "Stocks rose on Monday" in text and "<b>" not in text
    assert report.added == 3 and report.failed == 1
    failed = [r for r in report.files if r.status == "failed"]
    assert failed[0].path == f"{site.base}/missing" and "HTTP 404" in failed[0].error


def test_the_same_story_from_a_feed_and_a_link_is_one_article(tmp_path, site):
    service = _service(tmp_path)
    service.ingest([f"{site.base}/feed.rss"])
    atom = service.ingest([f"{site.base}/feed.atom"])
    link = service.ingest([f"{site.base}/world/talks?fbclid=abc"])
    assert (atom.added, atom.unchanged) == (1, 1) and (link.added, link.unchanged) == (0, 1)
    assert len(service.articles()) == 4


def test_an_updated_page_replaces_its_chunks(tmp_path, site):
    service = _service(tmp_path)
    url = f"{site.base}/world/talks"
    service.ingest([url])
    before = set(service.store.ids())
    site.routes["/world/talks"] = (200, {"Content-Type": "text/html"}, page(
        "Bessent and He agree a framework in Kuala Lumpur", TALKS + ["Update: both sides confirmed the deal on "
                                                                     "Monday in separate statements."], "2025-10-26"))
    again = service.ingest([url])
    after = set(service.store.ids())
    assert again.replaced == 1 and before != after and not (before - after) & after
    assert "confirmed the deal" in service.article(service.articles()[0]["article_id"])["text"]


def test_each_failure_is_reported_with_its_reason_and_the_rest_goes_in(tmp_path, site):
    service = _service(tmp_path)
    b = site.base
    report = service.ingest([f"{b}/world", f"{b}/paywall", f"{b}/slow", f"{b}/huge", f"{b}/loop-a",
                             f"{b}/broken.rss", f"{b}/nope", f"{b}/private/memo", "ftp://example.org/a.txt",
                             f"{b}/moved"])
    why = {r.path.replace(b, ""): r.error for r in report.files if r.status == "failed"}
    assert "not an article" in why["/world"] and "not an article" in why["/paywall"]
    assert "no answer within 1 s" in why["/slow"]
    assert "byte limit" in why["/huge"]
    assert "redirect loop" in why["/loop-a"]
    assert "feed" in why["/broken.rss"]
    assert "HTTP 404" in why["/nope"]
    assert "robots.txt" in why["/private/memo"]
    assert "only http and https" in why["ftp://example.org/a.txt"]
    assert report.added == 1 and service.articles()[0]["title"] == "Louvre robbed of crown jewels"  # via /moved
    assert "/private/memo" not in site.hits  # robots.txt was read first, the page never fetched


def test_private_addresses_are_refused_unless_allowed(tmp_path, site, monkeypatch):
    service = _service(tmp_path, private=False)
    report = service.ingest([f"{site.base}/world/talks"])
    assert report.failed == 1 and "loopback, private, link-local" in report.files[0].error
    assert "NEWSQA_URL_PRIVATE" in report.files[0].error and site.hits == []

    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        table = {"news.example": "93.184.216.34", "intranet.example": "10.1.2.3", "cgnat.example": "100.100.100.200",
                 "mapped.example": "::ffff:127.0.0.1", "sixtofour.example": "2002:7f00:1::1", "v6.example": "::1"}
        if host in table:
            family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (table[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    sent: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:  # no packet leaves the process
        sent.append((request.url.host, request.headers["host"]))
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        if request.headers["host"] == "news.example" and request.url.path == "/jump":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
        return httpx.Response(200, text=page("Talks", TALKS))

    fetcher = Fetcher(FetchPolicy(private=False, host_delay_s=0.0), transport=httpx.MockTransport(handler))
    got = fetcher.get("http://news.example/world")
    # sent to the address that was checked, named in the Host header: a second DNS answer cannot redirect it
    assert got.status == 200 and got.url == "http://news.example/world"
    assert sent and all(pair == ("93.184.216.34", "news.example") for pair in sent)
    with pytest.raises(FetchError, match="169.254.169.254"):
        fetcher.get("http://news.example/jump")  # the redirect's target is checked again
    for host in ("intranet.example", "cgnat.example", "mapped.example", "sixtofour.example", "v6.example"):
        with pytest.raises(FetchError, match="non-public address"):
            fetcher.get(f"http://{host}/")


def test_malformed_urls_are_reported_not_raised(tmp_path, site):
    service = _service(tmp_path)
    report = service.ingest(["http://a:99999/", "http://[::1", f"{site.base}/feed.atom"])
    why = {r.path: r.error for r in report.files if r.status == "failed"}
    assert "not a valid URL" in why["http://a:99999/"] and "not a valid URL" in why["http://[::1"]
    assert report.added == 2
    assert canonical_url("https://[::1]:8443/a") == "https://[::1]:8443/a"
    assert canonical_url("https://news.example:80/feed") == "https://news.example:80/feed"


def test_a_server_bound_beyond_loopback_refuses_private_urls_by_default(tmp_path, monkeypatch):
    import uvicorn

    from ui import server

    service = QAService(settings=Settings(index_dir=tmp_path / "idx", api_token="t"), embeddings=DesignedEmbeddings(),
                        llm=scripted_llm("x"))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.setattr(server, "build_server", lambda *a, **k: None)
    server.serve(service, host="0.0.0.0", auth="u:p", token="t")
    assert service.settings.url_private == "refuse" and service.web_loader().policy.private is False
    local = QAService(settings=Settings(index_dir=tmp_path / "idx2"), embeddings=DesignedEmbeddings())
    server.serve(local, host="127.0.0.1")
    assert local.web_loader().policy.private is True


def test_the_rest_api_ingests_urls_and_names_what_is_not_one(tmp_path, site):
    client = TestClient(create_api(_service(tmp_path)))
    res = client.post("/api/ingest/urls", json={"urls": [f"{site.base}/feed.atom"]})
    assert res.status_code == 200 and res.json()["added"] == 2
    bad = client.post("/api/ingest/urls", json={"urls": ["data/sample"]})
    assert bad.status_code == 422 and "not a URL" in bad.json()["detail"]
