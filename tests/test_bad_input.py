"""Whatever arrives, ingestion names the problem (file, line) and still takes in the rest of the batch.

Each test puts one kind of bad input next to a good article and ingests both in one run.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
from qa.ingest.chunking import Chunker
from qa.errors import InputError
from qa.ingest.pipeline import Ingestor
from qa.service import QAService, check_question
from qa.settings import Settings

GOOD = "date 2025-10-19\nLouvre theft\n\nThieves took crown jewels from the Louvre on Sunday morning."
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "batch"
    path.mkdir()
    (path / "good.txt").write_text(GOOD, encoding="utf-8")
    return path


def ingest(*paths):
    store = MemoryStore(DesignedEmbeddings())
    report = Ingestor(store, Chunker(200, 40), progress=False).ingest(list(paths))
    return report, store


def titles(store):
    return sorted({rec.metadata["title"] for rec, _ in store.rows.values()})


def failure(report, name):
    (found,) = [f for f in report.errors if f.path.endswith(name)]
    return found


def assert_good_went_in(report, store):
    assert "Louvre theft" in titles(store)
    assert report.added >= 1


@pytest.mark.parametrize("name,content,words", [
    ("empty.txt", b"", "empty"),
    ("blank.md", b"  \n\t\n   \n", "empty"),
    ("picture.txt", PNG, "binary"),
])
def test_empty_blank_and_binary_files_are_named(folder, name, content, words):
    (folder / name).write_bytes(content)
    report, store = ingest(folder)
    assert words in failure(report, name).error
    assert_good_went_in(report, store)


def test_a_zip_archive_is_refused(folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inside.txt", "hello")
    (folder / "archive.txt").write_bytes(buffer.getvalue())
    (folder / "archive.zip").write_bytes(buffer.getvalue())
    report, store = ingest(folder, folder / "archive.zip")
    assert "binary" in failure(report, "archive.txt").error
    assert "unsupported file type .zip" in failure(report, "archive.zip").error
    assert_good_went_in(report, store)


def test_a_50_mb_text_file_is_refused_by_its_size(folder):
    with (folder / "huge.txt").open("wb") as fh:
        line = b"The same sentence again and again fills this very large file. " * 16 + b"\n"
        for _ in range(50 * 2**20 // len(line) + 1):
            fh.write(line)
    report, store = ingest(folder)
    error = failure(report, "huge.txt").error
    assert "50 MB" in error and "refused" in error
    assert_good_went_in(report, store)


def test_invalid_utf8_and_latin1_text_are_read(folder):
    (folder / "latin1.txt").write_bytes("date 2025-06-05\nLa BCE baisse ses taux\n\nLa Banque centrale "
                                        "européenne a réduit son taux de dépôt à 2 %.".encode("latin-1"))
    (folder / "broken.txt").write_bytes(b"date 2025-06-05\nMixed bytes\n\nValid text, then bad bytes \x81\xff "
                                        b"and more valid text about the ECB decision.")
    report, store = ingest(folder)
    assert report.failed == 0
    texts = " ".join(rec.text for rec, _ in store.rows.values())
    assert "européenne" in texts
    assert "bad bytes" in texts and "ECB decision" in texts
    assert "Mixed bytes" in titles(store)


def test_utf8_bom_is_dropped_in_text_and_jsonl(folder):
    (folder / "bom.txt").write_bytes("\ufeffdate 2025-06-05\nBOM title\n\nA text saved with a byte order mark."
                                     .encode("utf-8"))
    (folder / "bom.jsonl").write_bytes(("\ufeff" + json.dumps({"id": "b1", "title": "BOM record",
                                                               "text": "A record after a byte order mark."}))
                                       .encode("utf-8"))
    report, store = ingest(folder)
    assert report.failed == 0
    assert {"BOM title", "BOM record"} <= set(titles(store))
    assert not any("\ufeff" in rec.text or "\ufeff" in rec.metadata["title"] for rec, _ in store.rows.values())
    (bom_article,) = [rec for rec, _ in store.rows.values() if rec.metadata["title"] == "BOM title"]
    assert bom_article.metadata["published"] == "2025-06-05"  # the date marker was still recognised


def test_jsonl_with_a_malformed_line_in_the_middle(folder):
    lines = [json.dumps({"id": "r1", "title": "First", "text": "The first record is fine."}),
             '{"id": "r2", "title": "Second", "text": "unterminated',
             json.dumps({"id": "r3", "title": "Third", "text": "The third record is fine too."})]
    (folder / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report, store = ingest(folder)
    bad = failure(report, "feed.jsonl")
    assert bad.line == 2 and "JSON" in bad.error
    assert {"First", "Third"} <= set(titles(store))


def test_json_records_missing_text_are_named(folder):
    records = [{"id": "n1", "title": "No text"}, {"id": "n2", "title": "Has text", "text": "Some article text."}]
    (folder / "records.json").write_text(json.dumps(records), encoding="utf-8")
    report, store = ingest(folder)
    bad = failure(report, "records.json")
    assert "text" in bad.error
    assert "Has text" in titles(store)


def test_odd_and_impossible_dates(folder):
    rows = [("odd", "March 3, 2025", "2025-03-03"), ("slashes", "03/04/2025", "2025-03-04"),
            ("french", "3 mars 2025", "2025-03-03"), ("impossible", "2025-02-30", ""),
            ("nonsense", "the day after", ""), ("month13", "2025-13-45", "")]
    (folder / "dates.jsonl").write_text(
        "\n".join(json.dumps({"id": i, "title": i, "published": p, "text": f"Article {i} about rates."})
                  for i, p, _ in rows), encoding="utf-8")
    (folder / "marker.txt").write_text("date 2025-02-30\nImpossible marker\n\nText of an article.", encoding="utf-8")
    report, store = ingest(folder)
    assert report.failed == 0  # an unreadable date leaves the article undated; it is not refused
    published = {rec.metadata["title"]: rec.metadata["published"] for rec, _ in store.rows.values()}
    for title, _raw, expected in rows:
        assert published[title] == expected, title
    assert published["Impossible marker"] == ""


def test_html_scripts_styles_iframes_and_comments_never_reach_a_chunk(folder):
    body = " ".join(["The council approved the new tram line after a long debate."] * 6)
    (folder / "page.html").write_text(f"""<html><head><title>Tram line approved</title>
<style>.x {{ color: red }} STYLE_LEAK</style><script>var leak = "SCRIPT_LEAK";</script></head>
<body><!-- COMMENT_LEAK --><iframe src="https://ads.example/IFRAME_LEAK">IFRAME_LEAK</iframe>
<noscript>NOSCRIPT_LEAK</noscript><article><h1>Tram line approved</h1><p>{body}</p>
<img src="x.png" alt="ALT_LEAK" onerror="alert('HANDLER_LEAK')"></article></body></html>""", encoding="utf-8")
    report, store = ingest(folder)
    assert report.failed == 0
    texts = " ".join(rec.text for rec, _ in store.rows.values())
    assert "tram line" in texts
    for leak in ("STYLE_LEAK", "SCRIPT_LEAK", "COMMENT_LEAK", "IFRAME_LEAK", "NOSCRIPT_LEAK", "HANDLER_LEAK"):
        assert leak not in texts, leak


def test_a_folder_of_thousands_of_tiny_files(tmp_path):
    folder = tmp_path / "many"
    for i in range(2500):
        sub = folder / f"d{i // 500}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"n{i:04d}.txt").write_text(f"Brief {i}\n\nShort wire item number {i} about the harbour.",
                                           encoding="utf-8")
    report, store = ingest(folder)
    assert (report.added, report.failed) == (2500, 0)
    assert len({rec.metadata["article_id"] for rec, _ in store.rows.values()}) == 2500


def test_symlink_loops_do_not_hang_and_are_named(folder):
    (folder / "loop").symlink_to(folder / "loop")  # a link to itself
    (folder / "sub").mkdir()
    (folder / "sub" / "back").symlink_to(folder, target_is_directory=True)  # a folder cycle
    (folder / "self.txt").symlink_to(folder / "self.txt")
    report, store = ingest(folder, folder / "loop")
    assert "symbolic link" in failure(report, "loop").error
    assert "cannot read" in failure(report, "self.txt").error
    assert titles(store) == ["Louvre theft"]  # the cycle was not walked into


def test_unsupported_extension_given_by_name(folder):
    (folder / "report.pdf").write_bytes(b"%PDF-1.7")
    report, store = ingest(folder / "report.pdf", folder / "good.txt")
    assert "unsupported file type .pdf" in failure(report, "report.pdf").error
    assert_good_went_in(report, store)


@pytest.mark.parametrize("question,words", [("", "empty"), ("   \n ", "empty"), ("x" * 20_000, "20,000 characters")])
def test_empty_and_oversized_questions(question, words):
    with pytest.raises(InputError, match=words):
        check_question(question)


def test_a_question_in_an_unexpected_language_is_answered_or_declined_cleanly(tmp_path):
    service = QAService(settings=Settings(index_dir=tmp_path / "i"), embeddings=DesignedEmbeddings(),
                        llm=scripted_llm("NOT IN ARTICLES"))
    (tmp_path / "a.txt").write_text(GOOD, encoding="utf-8")
    service.ingest([tmp_path / "a.txt"])
    answer = service.ask("Кто украл драгоценности из Лувра?", as_of="2025-10-20")
    assert answer.abstained and answer.citations == []
    assert "not" in answer.text.lower()


def test_cli_exits_non_zero_and_lists_each_failed_file(folder, tmp_path, capsys, monkeypatch):
    from qa import cli
    import qa.service as service_module

    (folder / "empty.txt").write_text("")
    (folder / "feed.jsonl").write_text('{"id": "x", "text": "fine"}\n{broken\n', encoding="utf-8")
    monkeypatch.setattr(service_module.QAService, "embeddings", property(lambda self: DesignedEmbeddings()))
    code = cli.main(["ingest", str(folder), "--index", str(tmp_path / "idx")])
    out = capsys.readouterr()
    assert code == 1
    assert "FAILED" in out.err and "empty.txt" in out.err and "feed.jsonl:2" in out.err
    assert "2 added" in out.out and "2 failed" in out.out


@pytest.mark.parametrize("field,value", [("title", 123), ("url", 5), ("language", ["en"]), ("source", {"a": 1}),
                                         ("published", 20250605)])
def test_a_wrongly_typed_field_costs_that_record_only(folder, field, value):
    records = [{"id": "t1", "title": "Typed wrong", "text": "An article whose record has a field of the wrong type."},
               {"id": "t2", "title": "Typed right", "text": "An article whose record is well formed."}]
    records[0][field] = value
    (folder / "typed.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    report, store = ingest(folder)
    bad = failure(report, "typed.jsonl")
    assert bad.line == 1 and field in bad.error or "date" in bad.error
    assert "Typed right" in titles(store) and "Typed wrong" not in titles(store)
    assert_good_went_in(report, store)


def test_a_record_that_is_not_an_object_is_named(folder):
    (folder / "list.jsonl").write_text('["a", "b"]\n' + json.dumps({"id": "ok", "text": "A fine record here."}),
                                       encoding="utf-8")
    report, store = ingest(folder)
    assert failure(report, "list.jsonl").line == 1
    assert report.added == 2  # good.txt and the second line


def test_one_id_twice_in_a_run_keeps_the_first_and_deletes_nothing(folder):
    store = MemoryStore(DesignedEmbeddings())
    ingestor = Ingestor(store, Chunker(200, 40), progress=False)
    v1 = {"id": "same", "title": "Version one", "text": "The first version of this story about the ECB."}
    v2 = {"id": "same", "title": "Version two", "text": "The second version of this story about the Louvre."}
    (folder / "v1.jsonl").write_text(json.dumps(v1), encoding="utf-8")
    ingestor.ingest([folder / "v1.jsonl"])
    (folder / "both.jsonl").write_text(json.dumps(v2) + "\n" + json.dumps(v1), encoding="utf-8")
    report = ingestor.ingest([folder / "both.jsonl"])
    assert "duplicate article id 'same'" in failure(report, "both.jsonl").error
    assert titles(store) == ["Version two"]  # the first of the two replaced the stored one; nothing vanished


@pytest.mark.parametrize("name,content", [("empty.jsonl", ""), ("blank.jsonl", "\n \n"), ("empty.json", "[]")])
def test_json_files_without_records_are_named(folder, name, content):
    (folder / name).write_text(content, encoding="utf-8")
    report, store = ingest(folder)
    assert "no records" in failure(report, name).error
    assert_good_went_in(report, store)


def test_utf8_with_a_stray_byte_keeps_its_accents_and_utf16_is_read(folder):
    (folder / "stray.txt").write_bytes("date 2025-06-05\nBanque centrale\n\nLa Banque centrale européenne a "
                                       "réduit son taux \x81 de dépôt.".encode("utf-8").replace(b"\xc2\x81", b"\x81"))
    (folder / "wide.txt").write_text("date 2025-06-05\nWide text\n\nA file saved as UTF-16 by a Windows editor.",
                                     encoding="utf-16")
    report, store = ingest(folder)
    assert report.failed == 0
    texts = " ".join(rec.text for rec, _ in store.rows.values())
    assert "européenne" in texts and "dépôt" in texts
    assert "Wide text" in titles(store)


def test_a_jsonl_file_has_no_size_limit(folder, monkeypatch):
    import qa.ingest.loaders

    monkeypatch.setattr(qa.ingest.loaders, "MAX_FILE_BYTES", 100)  # the limit for whole-file formats
    (folder / "big.jsonl").write_text("\n".join(json.dumps({"id": f"b{i}", "text": f"Record number {i} of a big "
                                                            "feed with enough text."}) for i in range(20)))
    report, store = ingest(folder / "big.jsonl")
    assert report.failed == 0 and report.added == 20


def test_records_without_id_or_url_are_known_by_their_content(folder):
    store = MemoryStore(DesignedEmbeddings())
    ingestor = Ingestor(store, Chunker(200, 40), progress=False)
    a = json.dumps({"title": "A", "text": "The first record has no id and no url at all."})
    b = json.dumps({"title": "B", "text": "The second record has no id and no url either."})
    feed = folder / "feed.jsonl"
    feed.write_text(a + "\n" + b, encoding="utf-8")
    ingestor.ingest([feed])
    feed.write_text(b, encoding="utf-8")  # the first line removed: B is still B, not a replacement of A
    report = ingestor.ingest([feed])
    assert report.unchanged == 1 and report.added == 0 and report.replaced == 0
    assert titles(store) == ["A", "B"]


def test_the_keyword_index_follows_the_store_even_when_an_ingest_fails(tmp_path, folder):
    emb = DesignedEmbeddings()
    store = MemoryStore(emb)
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx"), embeddings=emb, store=store, llm=scripted_llm())
    svc.ingest([folder])
    (folder / "more.txt").write_text("date 2025-06-05\nECB pause\n\nThe ECB left its deposit rate unchanged.")
    (folder / "later.txt").write_text("date 2025-06-06\nLater\n\nA later article that never gets written.")
    original, calls = store.upsert, []

    def upsert_then_fail(records):
        calls.append(len(records))
        original(records)
        raise RuntimeError("disk full")

    store.upsert = upsert_then_fail
    with pytest.raises(RuntimeError):
        svc.ingest([folder])
    assert sorted(svc.keyword.ids()) == sorted(i for i, _ in store.metadata())


def test_cli_turns_an_unexpected_failure_into_one_line(tmp_path, capsys, monkeypatch):
    from qa.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(blocker / "index"))
    monkeypatch.delenv("NEWSQA_DEBUG", raising=False)
    assert main(["stats"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("newsqa: error:") and "Traceback" not in err


def test_html_in_a_json_record_is_reduced_to_its_text(folder):
    html = ("<div><p>The ECB left its deposit rate unchanged on Thursday.</p><script>steal()</script>"
            "<style>p {color: red}</style><p>Markets rose after the decision.</p></div>")
    (folder / "feed.jsonl").write_text(json.dumps({"id": "h1", "title": "ECB holds", "content": html}),
                                       encoding="utf-8")
    report, store = ingest(folder)
    texts = " ".join(rec.text for rec, _ in store.rows.values() if rec.metadata["title"] == "ECB holds")
    assert "deposit rate unchanged" in texts and "Markets rose" in texts
    assert "<" not in texts and "steal" not in texts and "color" not in texts


def test_articles_without_a_date_are_listed(folder):
    (folder / "undated.txt").write_text("No date here\n\nAn article whose file carries no publication date at all.")
    report, store = ingest(folder)
    assert report.undated == [f"{folder / 'undated.txt'} ({store_ids_of(store, 'No date here')})"]
    assert_good_went_in(report, store)


def store_ids_of(store, title):
    return next(rec.metadata["article_id"] for rec, _ in store.rows.values() if rec.metadata["title"] == title)
