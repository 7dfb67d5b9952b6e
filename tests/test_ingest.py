import json

import pytest

from fakes import MemoryStore
from qa.ingest.chunking import Chunker
from qa.ingest.pipeline import Ingestor

ARTICLES = {
    "louvre.txt": "date 2025-10-19\nLouvre theft\n\nThieves took crown jewels from the Louvre on Sunday morning. "
                  "They used a lift truck to reach a balcony. The museum closed for the day.",
    "bce.txt": "date 2025-07-24\nLa BCE fait une pause\n\nLa BCE a laissé son taux de dépôt inchangé jeudi. "
               "Christine Lagarde a jugé la banque en bonne position pour attendre.",
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _ingestor(store, batch_size=4):
    return Ingestor(store, Chunker(120, 30), batch_size=batch_size, progress=False)


def test_ingest_then_reingest_is_a_noop(chroma_store, corpus, designed_embeddings):
    first = _ingestor(chroma_store).ingest([corpus])
    assert (first.added, first.unchanged, first.replaced, first.failed) == (2, 0, 0, 0)
    assert first.chunks_written == chroma_store.count() > 2
    embeds_before = designed_embeddings.calls["documents"]
    second = _ingestor(chroma_store).ingest([corpus])
    assert (second.added, second.unchanged, second.replaced, second.chunks_written) == (0, 2, 0, 0)
    assert designed_embeddings.calls["documents"] == embeds_before  # nothing re-embedded
    assert chroma_store.count() == first.chunks_written


def test_changed_article_replaces_its_old_chunks(chroma_store, corpus):
    _ingestor(chroma_store).ingest([corpus])
    old_ids = set(chroma_store.ids())
    (corpus / "louvre.txt").write_text(ARTICLES["louvre.txt"] + " Police arrested two suspects a week later.")
    report = _ingestor(chroma_store).ingest([corpus])
    assert (report.replaced, report.unchanged) == (1, 1)
    texts = " ".join(r.text for r in chroma_store.get(chroma_store.ids()))
    assert "arrested two suspects" in texts
    louvre_ids = chroma_store.ids(where={"article_id": next(
        m["article_id"] for _, m in chroma_store.metadata() if m["source"].endswith("louvre.txt"))})
    assert len(louvre_ids) == len(set(louvre_ids))
    assert old_ids - set(chroma_store.ids())  # stale chunks are gone
    # every stored chunk of the article belongs to the new version
    hashes = {m["article_hash"] for i, m in chroma_store.metadata() if i in louvre_ids}
    assert len(hashes) == 1


def test_bad_file_is_reported_and_the_rest_goes_in(chroma_store, corpus):
    (corpus / "broken.jsonl").write_text(
        json.dumps({"id": "ok-1", "text": "The ECB cut rates by a quarter point."}) + "\n{oops\n", encoding="utf-8")
    (corpus / "empty.md").write_text("")
    report = _ingestor(chroma_store).ingest([corpus, corpus / "nope.txt"])
    assert report.added == 3
    assert report.failed == 3
    assert not report.ok
    failures = {(f.path.rsplit("/", 1)[-1], f.line) for f in report.errors}
    assert failures == {("broken.jsonl", 2), ("empty.md", None), ("nope.txt", None)}


def test_crash_mid_ingest_then_rerun_completes_without_duplicates(corpus, designed_embeddings):
    store = MemoryStore(designed_embeddings)
    reference = MemoryStore(designed_embeddings)
    _ingestor(reference).ingest([corpus])
    store.fail_after_upserts = 1  # the second batch write "crashes"
    with pytest.raises(RuntimeError):
        _ingestor(store, batch_size=1).ingest([corpus])
    assert 0 < store.count() < reference.count()
    store.fail_after_upserts = None
    report = _ingestor(store, batch_size=1).ingest([corpus])
    assert report.failed == 0
    assert sorted(store.ids()) == sorted(reference.ids())


def test_delete_article(chroma_store, corpus, designed_embeddings):
    from qa.service import QAService

    service = QAService(embeddings=designed_embeddings, store=chroma_store, llm=object())
    service.ingest([corpus])
    article_id = chroma_store.metadata()[0][1]["article_id"]
    assert service.delete_article(article_id) > 0
    assert chroma_store.ids(where={"article_id": article_id}) == []
    assert service.delete_article(article_id) == 0
    assert service.stats()["articles"] == 1


def test_the_progress_bar_knows_how_many_articles_are_coming(tmp_path):
    from qa.ingest.pipeline import _expected_articles
    from qa.ingest.loaders import iter_files

    (tmp_path / "a.txt").write_text("One article.")
    (tmp_path / "b.md").write_text("# Another\n\nArticle.")
    (tmp_path / "feed.jsonl").write_text('{"text": "x"}\n\n{"text": "y"}\n{"text": "z"}\n')
    assert _expected_articles(list(iter_files([tmp_path]))) == 5
    (tmp_path / "list.json").write_text('[{"text": "x"}, {"text": "y"}]')
    assert _expected_articles(list(iter_files([tmp_path]))) is None  # a .json file may hold one or many


def test_the_same_folder_named_another_way_is_unchanged(tmp_path, monkeypatch):
    from fakes import DesignedEmbeddings, MemoryStore
    from qa.ingest.chunking import Chunker
    from qa.ingest.pipeline import Ingestor

    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.txt").write_text("date 2025-06-05\nECB\n\nThe ECB left its deposit rate unchanged.")
    monkeypatch.chdir(tmp_path)
    ingestor = Ingestor(MemoryStore(DesignedEmbeddings()), Chunker(200, 40), progress=False)
    assert ingestor.ingest(["news"]).added == 1
    assert ingestor.ingest(["./news"]).unchanged == 1 and ingestor.ingest(["news/../news/"]).unchanged == 1
