import json
from datetime import date

from qa.errors import LoadError
from qa.ingest.loaders import iter_files, load_file, strip_boilerplate

WIRE = (
    " date 2026-02-10 ((Traduction automatisée par une agence, voir l'avertissement)) "
    "(Ajoute des détails aux paragraphes 2 à 4)\n\n"
    "Le ministre a rencontré son homologue mardi à Paris pour parler du commerce entre les deux pays.\n"
)


def _articles(path):
    return [a for a in load_file(path) if not isinstance(a, LoadError)]


def _errors(path):
    return [e for e in load_file(path) if isinstance(e, LoadError)]


def test_date_marker_and_wire_boilerplate_are_stripped():
    body, marker = strip_boilerplate(WIRE)
    assert marker == date(2026, 2, 10)
    assert body.startswith("Le ministre a rencontré")
    assert "Traduction" not in body and "Ajoute" not in body


def test_txt_file_gets_date_language_source_and_stable_id(tmp_path):
    path = tmp_path / "wire.txt"
    path.write_text(WIRE, encoding="utf-8")
    (article,) = _articles(path)
    assert article.published == date(2026, 2, 10)
    assert article.language == "fr"
    assert article.source == str(path)
    assert article.title.startswith("Le ministre a rencontré")
    assert _articles(path)[0].article_id == article.article_id
    assert len(article.content_hash) == 64


def test_markdown_front_matter_and_heading(tmp_path):
    path = tmp_path / "a.md"
    path.write_text("---\ntitle: Rates held\ndate: 2025-07-24\nurl: https://example.org/x\n---\n\n"
                    "The central bank kept its deposit rate unchanged on Thursday after a year of cuts.\n")
    (article,) = _articles(path)
    assert (article.title, article.published, article.url, article.language) == (
        "Rates held", date(2025, 7, 24), "https://example.org/x", "en")


def test_html_main_text_title_and_date_without_scripts(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Power is back | Wire</title>"
        '<meta property="og:title" content="Power is back">'
        '<meta property="article:published_time" content="2025-04-29T08:00:00+02:00">'
        "<script>var secret = 'TRACKER';</script><style>.x{color:red}</style></head>"
        "<body><nav>Home | World</nav><article><h1>Power is back</h1>"
        "<p>Electricity returned to almost every home in Spain and Portugal on Tuesday morning after the blackout.</p>"
        "<p>The grid operator said that more than 99 percent of demand was being supplied again by then.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    (article,) = _articles(path)
    assert article.title == "Power is back"
    assert article.published == date(2025, 4, 29)
    assert "Electricity returned" in article.text
    assert "TRACKER" not in article.text and "color:red" not in article.text


def test_jsonl_accepts_alternative_keys_and_reports_bad_lines(tmp_path):
    path = tmp_path / "records.jsonl"
    lines = [
        json.dumps({"id": "r1", "title": "One", "text": "First article text, long enough to read.",
                    "published": "2025-06-05T14:15:00Z", "url": "https://example.org/1"}),
        "{not json",
        json.dumps({"title": "Two", "body": "Second article body text that is long enough.", "date": "2025-06-06",
                    "source": "wire-x"}),
        json.dumps({"title": "No text"}),
        json.dumps({"content": "Troisième article, écrit en français pour le test.", "publish_date": "2025-06-07"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(load_file(path))
    articles = [a for a in items if not isinstance(a, LoadError)]
    errors = [e for e in items if isinstance(e, LoadError)]
    assert [a.published for a in articles] == [date(2025, 6, 5), date(2025, 6, 6), date(2025, 6, 7)]
    assert articles[0].article_id == "r1" and articles[0].source == "https://example.org/1"
    assert articles[1].source == "wire-x"
    assert articles[2].language == "fr"
    assert [(e.line, "malformed JSON" in e.reason) for e in errors] == [(2, True), (4, False)]
    assert "text" in errors[1].reason
    assert str(path) in str(errors[0]) and ":2" in str(errors[0])


def test_json_file_with_a_list_of_records(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"id": "x", "text": "An article about rates in the euro zone."}]))
    (article,) = _articles(path)
    assert article.article_id == "x"


def test_bad_files_become_named_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    other = tmp_path / "notes.pdf"
    other.write_bytes(b"%PDF")
    for path, words in [(empty, "empty"), (binary, "binary"), (other, "unsupported")]:
        (error,) = _errors(path)
        assert error.path == str(path)
        assert words in error.reason


def test_latin1_text_is_read(tmp_path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("Le président a déclaré mercredi que la réforme était nécessaire.".encode("latin-1"))
    (article,) = _articles(path)
    assert "président" in article.text


def test_iter_files_walks_folders_and_reports_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("x")
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "skip.png").write_bytes(b"x")
    (tmp_path / ".hidden.txt").write_text("x")
    found = list(iter_files([tmp_path, tmp_path / "missing.txt"]))
    assert [p.name for p in found[:2]] == ["a.txt", "b.md"]
    assert isinstance(found[2], LoadError) and "no such file" in found[2].reason


def test_oversized_file_is_refused_by_size_without_reading_it(tmp_path):
    import pytest

    from qa.ingest.loaders import read_text

    path = tmp_path / "huge.txt"
    path.write_bytes(b"a" * (3 * 2**20))
    with pytest.raises(LoadError, match="files over 2 MB are refused"):
        read_text(path, max_bytes=2 * 2**20)
