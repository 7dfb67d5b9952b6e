"""Turn files into Articles: .txt, .md, .html, .json and .jsonl.

Each loader yields Articles, or a LoadError for a unit that cannot be used (a file, or one line of a JSON
lines file), so one bad input never stops the rest of the batch.

Libraries: trafilatura extracts the main text, title and date of HTML pages; py3langid detects the
language; dates in records are ISO 8601, other written forms go through dateparser. An untitled article is
named by its URL's slug or its first line (`qa.ingest.titles`).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

from qa.errors import LoadError
from qa.ingest.titles import guess_title
from qa.types import Article

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"}

# A leading date marker, as in wire exports: " date 2026-02-10 ..."
_DATE_MARKER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b\s*", re.IGNORECASE)
# Wire boilerplate at the top of a story: "((Traduction automatisée ...))" and
# "(Ajoute des détails ...)" / "(Adds details ...)" / "(Updates with ...)".
_DOUBLE_PAREN = re.compile(r"^\s*\(\((?:[^()]|\([^()]*\))*\)\)\s*", re.DOTALL)
_EDIT_NOTE = re.compile(
    r"^\s*\((?:Ajoute|Ajout|Mise à jour|Met à jour|Actualise|Réécrit|Corrige|Adds|Updates|Recasts|Rewrites|"
    r"Corrects|Refiles|Repeats|Changes)\b[^()]*\)\s*",
    re.IGNORECASE,
)
_FRONT_MATTER = re.compile(r"^---\s*\n(.*?)\n---\s*\n", re.DOTALL)

TEXT_KEYS = ("text", "body", "content")
DATE_KEYS = ("published", "date", "publish_date", "published_at")


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (py3langid), or None for text too short to tell."""
    sample = text.strip()[:2000]
    if len(sample) < 20:
        return None
    import py3langid

    lang, _score = py3langid.classify(sample)
    return lang


def parse_date(value: Any) -> date | None:
    """A date from an ISO 8601 string (fast path) or another written form ("March 3, 2025", "03/03/2025",
    "3 mars 2025", parsed by dateparser); None when absent, impossible ("2025-02-30") or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            try:
                return date.fromisoformat(text[:10])
            except ValueError:
                return None  # an impossible calendar date: not guessed
    if len(text) > 64 or not re.search(r"\d", text):
        return None  # "yesterday", "soon": not a publication date
    import dateparser

    parsed = dateparser.parse(text, settings={"STRICT_PARSING": True, "PREFER_DAY_OF_MONTH": "first",
                                               "RETURN_AS_TIMEZONE_AWARE": False})
    return parsed.date() if parsed else None


def strip_boilerplate(text: str) -> tuple[str, date | None]:
    """Remove a leading `date YYYY-MM-DD` marker and wire notes; return (body, marker date)."""
    marker_date = None
    match = _DATE_MARKER.match(text)
    if match:
        marker_date = parse_date(match.group(1))
        text = text[match.end():]
    while True:
        match = _DOUBLE_PAREN.match(text) or _EDIT_NOTE.match(text)
        if not match:
            break
        text = text[match.end():]
    return text.strip(), marker_date


def _source(path: Path) -> str:
    """The file as the user named it, without "./" or "a/../" detours: "./data/x.txt" and "data/x.txt" are one
    source (the source is part of an article's content hash, so a detour would re-embed it)."""
    return os.path.normpath(str(path))


def _file_article_id(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:10]
    return f"{path.stem}-{digest}"


MAX_FILE_BYTES = 20 * 1024 * 1024


def decode(raw: bytes, where: str) -> str:
    """Bytes -> text: UTF-8 (BOM dropped); UTF-16/32 with a byte-order mark; UTF-8 with a few bad bytes keeps
    its accents (the bad bytes become U+FFFD); anything else is read as Windows-1252, the usual legacy encoding."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise LoadError(where, f"starts with a {codec.upper()} byte-order mark but is not {codec.upper()} "
                                f"text (byte {exc.start})") from exc
    if b"\x00" in raw[:4096]:
        raise LoadError(where, "looks like a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = raw.decode("utf-8-sig", errors="replace")
    if text.count("\ufffd") <= max(3, len(text) // 1000):  # UTF-8 with a stray byte or two
        return text
    return raw.decode("cp1252", errors="replace")


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a text file (see `decode`); files over `max_bytes` are refused."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                str(path), f"the file is {size / 2**20:.0f} MB; files over {max_bytes // 2**20} MB are refused "
                "(split it into several files, or write the articles as JSON lines: .jsonl has no size limit)"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    return decode(raw, str(path))


_MARKUP = re.compile(r"<(?:p|div|br|span|a|script|style|html|body|img|strong|em|b|i|ul|li|h[1-6]|iframe)\b[^>]*>",
                     re.IGNORECASE)


def plain_text(text: str) -> str:
    """Text as given, or, when it is HTML (a feed's `content` field often is), its main text by trafilatura;
    a fragment trafilatura finds no main text in is stripped of its tags, scripts and styles."""
    if not _MARKUP.search(text):
        return text
    import trafilatura

    extracted = trafilatura.extract(text, include_comments=False, include_tables=False)
    if extracted and extracted.strip():
        return extracted
    import lxml.html

    root = lxml.html.fromstring(text)
    for node in root.xpath("//script|//style|//iframe|//noscript"):
        node.drop_tree()
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def _string(record: dict, key: str, where: str, line: int | None, numbers: bool = False) -> str | None:
    """A record's optional text field; a list, object or (unless `numbers`) a number there is a LoadError."""
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise LoadError(where, f"field {key!r} must be a string, not {type(value).__name__} ({str(value)[:40]})", line)


def make_article(
    *,
    article_id: str,
    title: str | None,
    text: str,
    source: str,
    published: date | None,
    url: str | None = None,
    language: str | None = None,
) -> Article:
    body, marker_date = strip_boilerplate(text)
    if not body.strip():
        raise ValueError("no article text after cleaning")
    return Article(
        article_id=article_id,
        title=(title or "").strip() or guess_title(body, url),
        text=body,
        source=source,
        published=published or marker_date,
        url=url or None,
        language=language or detect_language(body),
    )


def load_text_file(path: Path) -> Iterator[Article]:
    text = read_text(path)
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("\"'")
        text = text[match.end():]
    title = meta.get("title")
    if path.suffix.lower() in {".md", ".markdown"} and not title:
        heading = re.match(r"^\s*#\s+(.+)\n", text)
        if heading:
            title = heading.group(1).strip()
            text = text[heading.end():]
    try:
        yield make_article(
            article_id=meta.get("id") or _file_article_id(path),
            title=title,
            text=text,
            source=_source(path),
            published=parse_date(meta.get("date") or meta.get("published")),
            url=meta.get("url"),
            language=meta.get("language"),
        )
    except ValueError as exc:
        raise LoadError(str(path), f"{exc} (the file is empty or holds only boilerplate)") from exc


def load_html_file(path: Path) -> Iterator[Article]:
    import trafilatura

    html = read_text(path)
    doc = trafilatura.bare_extraction(html, include_comments=False, include_tables=False, with_metadata=True)
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise LoadError(str(path), "no main text found in the HTML page")
    try:
        yield make_article(
            article_id=_file_article_id(path),
            title=getattr(doc, "title", None),
            text=text,
            source=_source(path),
            published=parse_date(getattr(doc, "date", None)),
            url=getattr(doc, "url", None),
            language=None,
        )
    except ValueError as exc:
        raise LoadError(str(path), str(exc)) from exc


def record_to_article(record: Any, path: Path, line: int | None) -> Article:
    """One JSON article record -> Article; raises LoadError naming the file and line."""
    where = str(path)
    if not isinstance(record, dict):
        raise LoadError(where, f"expected a JSON object, got {type(record).__name__}", line)
    text = next((record[k] for k in TEXT_KEYS if isinstance(record.get(k), str) and record[k].strip()), None)
    if text is None:
        raise LoadError(where, "record has no non-empty 'text' (or 'body' / 'content') field", line)
    text = plain_text(text)
    raw_date = next((record[k] for k in DATE_KEYS if record.get(k)), None)
    if raw_date is not None and not isinstance(raw_date, str):
        raise LoadError(where, f"the date must be a string such as \"2025-10-30\", not {raw_date!r}"[:200], line)
    title = _string(record, "title", where, line)
    url = _string(record, "url", where, line) or None
    language = _string(record, "language", where, line)
    # Not the line number: a record keeps its identity (and chunk ids) when lines are added above it.
    source = _string(record, "source", where, line, numbers=True) or url or _source(path)
    rid = _string(record, "id", where, line, numbers=True)
    if rid is None or rid.strip() == "":
        # Without an id or url, the article is known by its content: re-reading the file (even with lines added
        # or removed above it) finds the same ids, and the same record posted twice is stored once.
        digest = hashlib.sha1(f"{title}\x1f{raw_date}\x1f{text}".encode("utf-8")).hexdigest()[:16]
        rid = url or f"{path.stem}-{digest}"
    try:
        return make_article(
            article_id=str(rid),
            title=title,
            text=text,
            source=str(source),
            published=parse_date(raw_date),
            url=url,
            language=language.strip().lower() if language and language.strip() else None,
        )
    except ValueError as exc:
        raise LoadError(where, str(exc), line) from exc


def _record_or_error(record: Any, path: Path, line: int | None) -> Article | LoadError:
    try:
        return record_to_article(record, path, line)
    except LoadError as err:
        return err
    except Exception as exc:  # an unforeseen record shape costs that record, never the rest of the file
        return LoadError(str(path), f"could not read the record ({type(exc).__name__}: {exc})", line)


def load_json_file(path: Path) -> Iterator[Article | LoadError]:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise LoadError(str(path), f"invalid JSON: {exc.msg}", exc.lineno) from exc
    records = data if isinstance(data, list) else [data]
    if not records:
        raise LoadError(str(path), "holds no records (an empty list)")
    for i, record in enumerate(records, start=1):
        yield _record_or_error(record, path, i if isinstance(data, list) else None)


MAX_LINE_BYTES = 20 * 1024 * 1024


def load_jsonl_file(path: Path) -> Iterator[Article | LoadError]:
    """One article per line, read line by line (no limit on the file's size, 20 MB per line)."""
    found = False
    try:
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                found = True
                if len(raw) > MAX_LINE_BYTES:
                    yield LoadError(str(path), f"line of {len(raw) / 2**20:.0f} MB; lines over "
                                    f"{MAX_LINE_BYTES // 2**20} MB are refused", lineno)
                    continue
                try:
                    record = json.loads(decode(raw, str(path)))
                except LoadError as err:
                    yield LoadError(str(path), err.reason, lineno)
                    continue
                except json.JSONDecodeError as exc:
                    yield LoadError(str(path), f"malformed JSON line: {exc.msg} at column {exc.colno}", lineno)
                    continue
                yield _record_or_error(record, path, lineno)
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    if not found:
        raise LoadError(str(path), "holds no records (the file is empty)")


def load_file(path: Path) -> Iterator[Article | LoadError]:
    """Every article in one file; problems come out as LoadError items, never as exceptions."""
    suffix = path.suffix.lower()
    try:
        if suffix in {".txt", ".md", ".markdown"}:
            yield from load_text_file(path)
        elif suffix in {".html", ".htm"}:
            yield from load_html_file(path)
        elif suffix == ".json":
            yield from load_json_file(path)
        elif suffix == ".jsonl":
            yield from load_jsonl_file(path)
        else:
            yield LoadError(
                str(path), f"unsupported file type {suffix or '(none)'}; use one of {sorted(SUPPORTED_SUFFIXES)}"
            )
    except LoadError as err:
        yield err


def iter_files(paths: Iterable[Any]) -> Iterator[Any]:
    """Expand files and folders (recursively, sorted, hidden entries skipped) into input files (Paths); a URL
    (scheme://...) passes through as a string, for the web loader, and so does what a URL gave when it was fetched
    beforehand (a Preloaded)."""
    from qa.ingest.web import Preloaded, is_url

    for raw in paths:
        if isinstance(raw, Preloaded) or (isinstance(raw, str) and is_url(raw)):
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            seen: set[Path] = set()
            unreadable: list[OSError] = []
            for root, dirs, files in os.walk(path, followlinks=False, onerror=unreadable.append):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    child = Path(root) / name
                    if name.startswith(".") or child.suffix.lower() not in SUPPORTED_SUFFIXES:
                        continue
                    if child not in seen:
                        seen.add(child)
                        yield child
            for error in unreadable:
                yield LoadError(str(error.filename or path), f"cannot read the folder: {error.strerror or error}")
        elif path.is_file():
            yield path
        elif path.is_symlink():
            yield LoadError(str(path), "a broken or looping symbolic link; point it at a real file or folder")
        else:
            yield LoadError(str(path), "no such file or folder")
