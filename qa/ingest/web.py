"""Articles from the web: a page's main text (trafilatura) or a feed's items (feedparser, RSS 0.9x/1.0/2.0 and
Atom), fetched with httpx under a `FetchPolicy`.

Safety: only http and https; every address a host resolves to is checked, on each redirect hop, and loopback,
private, link-local and other reserved addresses are refused unless the policy allows them (a server reachable
from other machines must not fetch its own network for a caller); robots.txt is honoured unless turned off;
timeouts, a size cap and a redirect limit bound every fetch; one request per host at a time, spaced by a delay;
a clear User-Agent.

Identity: an article from the web is known by its canonical URL (the page's <link rel=canonical> on the same
host, else the address it was fetched from, without tracking parameters or fragment), so the same story reached
from a feed and from a link is one article, and a changed page replaces its chunks on the next ingest.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from qa.errors import LoadError
from qa.types import Article

USER_AGENT = "newsqa/0.1 (question answering over news articles; +robots.txt honoured)"
TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|ref_src|_ga|yclid)$", re.I)
FEED_TYPES = ("rss", "atom", "rdf", "xml")


class FetchError(Exception):
    """A fetch refused or failed; the message names the URL's problem."""


def is_url(value: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value))


def canonical_url(url: str) -> str:
    """The URL without tracking parameters or fragment, scheme and host in lower case, the scheme's default port
    left out. A URL that cannot be parsed (a bad port, an unclosed IPv6 bracket) raises FetchError."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"not a valid URL ({exc})") from exc
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING.match(k)])
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    if port and port != {"http": 80, "https": 443}.get(scheme):
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def url_article_id(url: str) -> str:
    """A readable, stable id: the URL's last path segment and a hash of the canonical URL."""
    canonical = canonical_url(url)
    slug = re.sub(r"[^\w-]+", "-", urlsplit(canonical).path.rstrip("/").rsplit("/", 1)[-1]).strip("-")[:40]
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return f"{slug or urlsplit(canonical).hostname or 'page'}-{digest}"


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may do. `private`: reach loopback, private and link-local addresses."""

    private: bool = False
    robots: bool = True
    timeout_s: float = 20.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    host_delay_s: float = 1.0
    max_items: int = 50
    min_chars: int = 300  # less main text than this is not an article (a paywall stub, an index page)
    user_agent: str = USER_AGENT


@dataclass
class Fetched:
    url: str  # where the body came from, after redirects
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def _public_address(host: str, port: int) -> str:
    """The address to connect to for `host`: the first it resolves to, when every one is public; else FetchError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve the host {host!r} ({exc.strerror})") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        inner = [address]
        if isinstance(address, ipaddress.IPv6Address):  # IPv4 carried inside IPv6 (mapped, 6to4, Teredo)
            inner += [a for a in (address.ipv4_mapped, address.sixtofour, address.teredo and address.teredo[1]) if a]
        if any(not a.is_global or a.is_multicast for a in inner):
            raise FetchError(f"refused: {host} resolves to {address}, a loopback, private, link-local or other "
                             "non-public address (set NEWSQA_URL_PRIVATE=allow to fetch from this network)")
    return infos[0][4][0]


@dataclass
class Fetcher:
    """GETs under a policy, one request per host at a time, `host_delay_s` apart."""

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    clock: Callable[[], float] = time.monotonic
    transport: object | None = None  # an httpx transport (tests: httpx.MockTransport)
    # Conditional GET: url -> {"etag", "last_modified"} of its last 200 (a watcher keeps them between polls).
    validators: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._http = None  # the httpx client, made on the first request
        self._hosts: dict[str, threading.Lock] = {}
        self._last: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser | None] = {}
        self._guard = threading.Lock()

    def _check(self, url: str) -> tuple[str, str | None]:
        """(the URL's host, the checked address to connect to, or None when private addresses are allowed and the
        name is resolved at connect time); FetchError for a URL that may not be fetched."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchError(f"not a valid URL ({exc})") from exc
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"only http and https URLs can be fetched, not {parts.scheme or 'this'}:")
        if not parts.hostname:
            raise FetchError("the URL has no host")
        return parts.hostname, None if self.policy.private else _public_address(parts.hostname, port)

    @staticmethod
    def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """The request for `url` sent to the checked `address` (no second DNS answer can move it elsewhere): the
        URL with the address as host, the original host in the Host header and, for https, as the TLS server
        name (certificate checked against it)."""
        parts = urlsplit(url)
        target = f"[{address}]" if ":" in address else address
        if parts.port:
            target += f":{parts.port}"
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return urlunsplit((parts.scheme, target, parts.path, parts.query, "")), {"Host": parts.netloc}, extensions

    def _wait_turn(self, host: str) -> threading.Lock:
        with self._guard:
            lock = self._hosts.setdefault(host, threading.Lock())
        lock.acquire()
        wait = self._last.get(host, -1e9) + self.policy.host_delay_s - self.clock()
        if wait > 0:
            time.sleep(wait)
        return lock

    @property
    def _client(self):
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=self.policy.timeout_s, follow_redirects=False, transport=self.transport,
                                      headers={"User-Agent": self.policy.user_agent})
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _one(self, url: str, headers: dict[str, str] | None) -> Fetched:
        import httpx

        host, address = self._check(url)
        target, extra, extensions = (url, {}, {}) if address is None else self._pinned(url, address)
        lock = self._wait_turn(host)
        try:
            with self._client.stream("GET", target, headers={**(headers or {}), **extra},
                                     extensions=extensions) as reply:
                declared = int(reply.headers.get("content-length") or 0)
                if declared > self.policy.max_bytes:
                    raise FetchError(f"the page is {declared:,} bytes, over the {self.policy.max_bytes:,}-byte limit")
                body = bytearray()
                for piece in reply.iter_bytes():
                    body += piece
                    if len(body) > self.policy.max_bytes:
                        raise FetchError(f"the page is over the {self.policy.max_bytes:,}-byte limit")
                return Fetched(url, reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, bytes(body))
        except httpx.TimeoutException as exc:
            raise FetchError(f"no answer within {self.policy.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot fetch: {exc}") from exc
        finally:
            self._last[host] = self.clock()
            lock.release()

    def allowed_by_robots(self, url: str) -> bool:
        if not self.policy.robots:
            return True
        self._check(url)  # a malformed or refused URL is named before robots.txt is looked for
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        if root not in self._robots:
            parser: RobotFileParser | None = None
            try:
                got = self._one(root + "/robots.txt", None)
                if got.status == 200:
                    parser = RobotFileParser()
                    parser.parse(got.body.decode("utf-8", "replace").splitlines())
            except FetchError:
                parser = None  # no robots.txt to read: allowed
            self._robots[root] = parser
        parser = self._robots[root]
        return parser is None or parser.can_fetch(self.policy.user_agent, url)

    def get(self, url: str, headers: dict[str, str] | None = None) -> Fetched:
        """GET `url`, following redirects (each hop checked again); 304 and 4xx/5xx come back as they are. A URL
        with validators from an earlier 200 is asked conditionally (If-None-Match / If-Modified-Since)."""
        known = self.validators.get(url) or {}
        asks = (("etag", "If-None-Match"), ("last_modified", "If-Modified-Since"))
        got = self._follow(url, {**(headers or {}), **{h: known[k] for k, h in asks if known.get(k)}})
        if got.status == 200:
            fresh = {k: got.headers[h] for k, h in (("etag", "etag"), ("last_modified", "last-modified"))
                     if got.headers.get(h)}
            if fresh:
                self.validators[url] = fresh
        return got

    def _follow(self, url: str, headers: dict[str, str]) -> Fetched:
        seen = [url]
        for _ in range(self.policy.max_redirects + 1):
            if not self.allowed_by_robots(url):
                raise FetchError("robots.txt of this site disallows fetching it (set NEWSQA_URL_ROBOTS=false to "
                                 "ignore robots.txt)")
            got = self._one(url, headers)
            location = got.headers.get("location")
            if got.status in (301, 302, 303, 307, 308) and location:
                try:
                    url = urljoin(url, location)
                except ValueError as exc:
                    raise FetchError(f"a redirect to an invalid URL ({exc})") from exc
                if url in seen:
                    raise FetchError(f"a redirect loop ({' -> '.join(seen + [url])})")
                seen.append(url)
                continue
            return got
        raise FetchError(f"more than {self.policy.max_redirects} redirects")


def _text_of_html(fragment: str) -> str:
    import lxml.html

    try:
        return " ".join(lxml.html.fromstring(fragment).text_content().split())
    except Exception:  # lxml refuses empty or odd fragments
        return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def _feed_date(entry) -> date | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return date(stamp.tm_year, stamp.tm_mon, stamp.tm_mday) if stamp else None


def looks_like_feed(fetched: Fetched) -> bool:
    """Served as RSS/Atom/XML, or a document whose root element is a feed's (an XHTML page is not)."""
    if any(kind in fetched.content_type for kind in FEED_TYPES) and "html" not in fetched.content_type:
        return True
    head = fetched.body[:1000].lstrip().lower()
    return head.startswith((b"<rss", b"<feed", b"<rdf")) or (
        head.startswith(b"<?xml") and any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf")))


@dataclass
class Preloaded:
    """What one URL gave (articles, or errors naming what failed), fetched before the ingest that writes it: a
    server fetches outside its write lock, so a slow site never holds up the other writers."""

    source: str
    items: list[Article | LoadError]

    def __str__(self) -> str:
        return self.source


@dataclass
class WebLoader:
    """URLs -> Articles (or LoadErrors naming the URL and the reason), for the ingest pipeline."""

    fetcher: Fetcher
    make_article: Callable[..., Article]

    @property
    def policy(self) -> FetchPolicy:
        return self.fetcher.policy

    def preload(self, urls: list[str]) -> list[Preloaded]:
        """Fetch every URL now and close the connections; the ingest that takes the result does no network I/O."""
        try:
            return [Preloaded(url, list(self.load(url))) for url in urls]
        finally:
            self.fetcher.close()

    def load(self, url: str) -> Iterator[Article | LoadError]:
        """The articles at `url` (a page, or a feed's items); nothing when the server says it has not changed
        since the last fetch (304)."""
        try:
            fetched = self.fetcher.get(url)
            if fetched.status == 304:
                return
            fetched = self._ok(fetched)
        except FetchError as exc:
            yield LoadError(url, str(exc))
            return
        if looks_like_feed(fetched):
            yield from self._feed(url, fetched)
            return
        try:
            yield self._page(fetched)
        except FetchError as exc:
            yield LoadError(url, str(exc))

    @staticmethod
    def _ok(fetched: Fetched) -> Fetched:
        if fetched.status != 200:
            raise FetchError(f"HTTP {fetched.status}")
        return fetched

    def _page(self, fetched: Fetched, *, feed_date: date | None = None, feed_title: str | None = None) -> Article:
        import trafilatura

        from qa.ingest.loaders import decode, parse_date

        html = decode(fetched.body, fetched.url)
        doc = trafilatura.bare_extraction(html, url=fetched.url, with_metadata=True, include_comments=False,
                                          include_tables=False)
        text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
        if len(text) < self.policy.min_chars:
            raise FetchError(f"not an article: {len(text)} characters of main text (a paywall stub, an index page or "
                             f"a page too short to answer from; {self.policy.min_chars} at least)")
        declared = getattr(doc, "url", None)
        try:
            same_host = bool(declared) and urlsplit(declared).hostname == urlsplit(fetched.url).hostname
        except ValueError:
            same_host = False
        canonical = canonical_url(declared if same_host else fetched.url)
        try:
            return self.make_article(article_id=url_article_id(canonical), title=getattr(doc, "title", None) or feed_title,
                                     text=text, source=canonical, url=canonical,
                                     published=parse_date(getattr(doc, "date", None)) or feed_date,
                                     language=getattr(doc, "language", None))
        except ValueError as exc:
            raise FetchError(str(exc)) from exc

    def _feed(self, url: str, fetched: Fetched) -> Iterator[Article | LoadError]:
        import feedparser

        parsed = feedparser.parse(fetched.body)
        entries = [e for e in parsed.entries if e.get("link") or e.get("title") or e.get("summary") or e.get("content")]
        if not entries:
            problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
            yield LoadError(url, f"not a readable feed ({problem})" if problem else "the feed has no items")
            return
        for entry in entries[:self.policy.max_items]:
            link = entry.get("link")
            where = link or f"{url} item {entry.get('id') or entry.get('title') or '?'}"
            when, title = _feed_date(entry), entry.get("title")
            page_error = None
            if link:
                try:
                    got = self.fetcher.get(link)
                    if got.status == 304:  # unchanged since the last poll: already in the index
                        continue
                    yield self._page(self._ok(got), feed_date=when, feed_title=title)
                    continue
                except FetchError as exc:
                    page_error = str(exc)
            content = entry.get("content") or [{}]
            body = _text_of_html(content[0].get("value") or entry.get("summary") or "")
            if not body:
                yield LoadError(where, page_error or "the item has neither a link nor any text")
                continue
            try:
                canonical = canonical_url(link) if link else None
                ident = url_article_id(canonical) if canonical else "item-" + hashlib.sha256(
                    f"{url}\x1f{entry.get('id') or title}".encode()).hexdigest()[:12]
                yield self.make_article(article_id=ident, title=title, text=body, source=canonical or url,
                                        url=canonical, published=when, language=entry.get("language"))
            except (ValueError, FetchError) as exc:
                yield LoadError(where, str(exc))
