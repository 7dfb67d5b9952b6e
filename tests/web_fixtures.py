"""A test-owned news site on a loopback port: article pages, an RSS 2.0 and an Atom feed (English and French
items, with and without dates, HTML in a description), and pages that fail the ways the web fails (404, a slow
page, an oversized page, a redirect loop, a malformed feed). Written for these tests."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def page(title: str, paragraphs: list[str], published: str | None = None, canonical: str | None = None) -> str:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title}</title>{meta}{link}</head><body><nav><a href='/'>Home</a> "
            f"<a href='/world'>World</a></nav><article><h1>{title}</h1>{body}</article>"
            f"<footer>Copyright The Test Gazette</footer></body></html>")


TALKS = [
    "Treasury Secretary Scott Bessent met Vice Premier He Lifeng in Kuala Lumpur on Sunday for a fourth round of "
    "trade talks between the two largest economies.",
    "The two sides agreed on a framework under which Beijing would postpone its new export controls on rare earths "
    "for one year, officials said after the meeting.",
    "Washington in turn dropped its threat of an additional 100 percent tariff on Chinese goods, which had been due "
    "to take effect on November 1.",
]
ECB = [
    "La Banque centrale européenne a laissé ses taux directeurs inchangés jeudi, pour la troisième réunion "
    "consécutive, à l'issue de son conseil des gouverneurs à Francfort.",
    "La présidente Christine Lagarde a estimé que l'inflation restait proche de l'objectif de 2 % et que "
    "l'économie de la zone euro résistait mieux que prévu aux droits de douane américains.",
    "Les marchés n'attendent pas de nouvelle baisse des taux avant l'été prochain, selon les économistes interrogés.",
]
LOUVRE = [
    "Thieves broke into the Louvre on Sunday morning and stole eight pieces of the French crown jewels from the "
    "Galerie d'Apollon in less than eight minutes, the culture ministry said.",
    "The thieves used a truck-mounted lift to reach a first-floor window on the side of the museum facing the Seine, "
    "then cut through display cases with power tools before fleeing on scooters.",
    "The museum stayed closed for the rest of the day while investigators searched the galleries for evidence.",
]

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>The Test Gazette</title><link>{base}/</link>
<item><title>Bessent and He agree a framework in Kuala Lumpur</title><link>{base}/world/talks?utm_source=rss&amp;utm_medium=feed</link>
<pubDate>Sun, 26 Oct 2025 18:00:00 GMT</pubDate><description>Trade talks in Malaysia.</description></item>
<item><title>La BCE laisse ses taux inchangés</title><link>{base}/eco/bce</link>
<description>La BCE ne bouge pas.</description></item>
<item><title>Markets close higher</title><guid isPermaLink="false">gazette-markets-1</guid>
<pubDate>Mon, 27 Oct 2025 21:00:00 GMT</pubDate>
<description>&lt;p&gt;Stocks &lt;b&gt;rose&lt;/b&gt; on Monday as investors welcomed the trade framework agreed in Kuala Lumpur, with the index closing at a record high after a session of heavy volume in technology shares.&lt;/p&gt;</description></item>
<item><title>A story that moved</title><link>{base}/missing</link><pubDate>Mon, 27 Oct 2025 08:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Gazette culture</title><id>urn:gazette:culture</id>
<updated>2025-10-19T12:00:00Z</updated>
<entry><title>Louvre robbed of crown jewels</title><id>urn:gazette:louvre</id>
<link href="{base}/culture/louvre"/><updated>2025-10-19T12:00:00Z</updated><summary>Jewels stolen.</summary></entry>
<entry><title>Bessent and He (again)</title><id>urn:gazette:talks</id>
<link href="{base}/world/talks?utm_campaign=atom"/><updated>2025-10-26T19:00:00Z</updated></entry>
</feed>"""


PORT_STORY = [
    "The harbour authority of Port Vellmar announced on Tuesday that it had ordered eleven electric pilot boats "
    "from the shipyard of Kessendorf, the largest order in its history.",
    "The boats will replace the diesel fleet by the spring of 2027, the authority's director Ilse Marquardt said at "
    "a press conference, and will cut the port's emissions by a fifth.",
    "The order is worth 48 million euros and includes ten years of maintenance, according to the shipyard.",
]
PORT_QUESTION = "How many electric pilot boats did Port Vellmar order?"


def publish_port_story(site: "NewsSite") -> str:
    """Serve the Port Vellmar story at /port/boats and a one-item RSS feed of it; returns the feed's URL (for
    bench/fresh.py and the fresh-news tests)."""
    site.routes["/port/boats"] = (200, {"Content-Type": "text/html"},
                                  page("Port Vellmar orders eleven electric pilot boats", PORT_STORY, "2026-12-07"))
    site.routes["/port.rss"] = (200, {"Content-Type": "application/rss+xml"}, (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Port news</title>'
        f"<item><title>Port Vellmar orders boats</title><link>{site.base}/port/boats</link>"
        "<pubDate>Mon, 07 Dec 2026 09:00:00 GMT</pubDate></item></channel></rss>"))
    return f"{site.base}/port.rss"


class NewsSite:
    """Serves `routes` (path -> (status, headers, body)) on 127.0.0.1; '/slow' waits `slow_s` first."""

    def __init__(self, slow_s: float = 3.0, etags: bool = True) -> None:
        self.hits: list[str] = []
        self.not_modified: list[str] = []  # paths answered 304
        self.etags = etags
        self.slow_s = slow_s
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.hits.append(self.path)
                path = self.path.split("?")[0]
                if path == "/slow":
                    time.sleep(outer.slow_s)
                status, headers, body = outer.routes.get(path, (404, {"Content-Type": "text/html"}, "<h1>Not found</h1>"))
                data = body.encode("utf-8") if isinstance(body, str) else body
                tag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
                if status == 200 and outer.etags:
                    headers = {**headers, "ETag": tag}
                    if self.headers.get("If-None-Match") == tag:
                        outer.not_modified.append(path)
                        self.send_response(304)
                        self.send_header("ETag", tag)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        html = {"Content-Type": "text/html; charset=utf-8"}
        self.routes: dict[str, tuple[int, dict[str, str], str | bytes]] = {
            "/world/talks": (200, html, page("Bessent and He agree a framework in Kuala Lumpur", TALKS, "2025-10-26",
                                             canonical=f"{self.base}/world/talks")),
            "/eco/bce": (200, html, page("La BCE laisse ses taux inchangés", ECB)),
            "/culture/louvre": (200, html, page("Louvre robbed of crown jewels", LOUVRE, "2025-10-19")),
            "/world": (200, html, page("World", ["<a href='/world/talks'>Talks</a> <a href='/a'>More</a>"])),
            "/paywall": (200, html, page("Subscribe", ["Subscribe to read this article."], "2025-10-26")),
            "/slow": (200, html, page("Slow", TALKS)),
            "/huge": (200, html, page("Huge", ["word " * 400_000])),
            "/loop-a": (302, {"Location": "/loop-b"}, ""),
            "/loop-b": (302, {"Location": "/loop-a"}, ""),
            "/moved": (301, {"Location": "/culture/louvre"}, ""),
            "/feed.rss": (200, {"Content-Type": "application/rss+xml"}, RSS.format(base=self.base)),
            "/feed.atom": (200, {"Content-Type": "application/atom+xml"}, ATOM.format(base=self.base)),
            "/broken.rss": (200, {"Content-Type": "application/rss+xml"}, "<rss><channel><item><title>Half"),
            "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private/\n"),
            "/private/memo": (200, html, page("Memo", TALKS)),
        }
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "NewsSite":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
