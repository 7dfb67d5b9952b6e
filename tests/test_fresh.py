"""Fresh news first: the keyword index takes each ingest batch before its vectors are computed.

The incremental keyword index (journal, tail scoring, compaction), the pending batches and their recovery after
a SIGKILL, and a question answered from an article whose vectors are still being computed (real Chroma on disk,
designed embeddings; the real-model version is in test_real_models.py).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
from qa.service import QAService
from qa.settings import Settings
from vectorstore.base import Record
from vectorstore.analysis import analyze
from vectorstore.keyword import KeywordIndex
from vectorstore.pending import KeywordFirst, PendingRecords, WithPending

WORKER = Path(__file__).with_name("crash_worker.py")
WORDS = ("harbour port boat ship crane dock tide storm ferry cargo pilot engine electric diesel order yard "
         "council mayor budget school river bridge train station museum festival").split()


def _meta(article: str, published: int, position: int = 0) -> dict:
    return {"article_id": article, "position": position, "title": "", "source": f"{article}.example",
            "published": f"{str(published)[:4]}-{str(published)[4:6]}-{str(published)[6:]}",
            "published_int": published, "language": "en", "url": "", "article_hash": f"h-{article}"}


def _corpus(n: int, seed: int = 7) -> list[Record]:
    rng = random.Random(seed)
    return [Record(f"r{i:03d}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))) + ".",
                   _meta(f"a{i // 3}", 20250101 + i % 28, i % 3)) for i in range(n)]


def test_applied_records_score_as_in_a_full_build():
    records = _corpus(300)
    whole = KeywordIndex()
    whole.build(records)
    grown = KeywordIndex()
    grown.build(records[:270])
    grown.apply(records[270:])
    assert len(grown) == 300 and grown.tail_size == 30
    for query in ("harbour crane", "electric pilot boat", "museum festival bridge", "storm tide ferry"):
        tokens = analyze(query, "en")
        want, got = whole.search(tokens, k=10), grown.search(tokens, k=10)
        # The tail is scored with the main part's statistics (N, lengths): every chunk's score within a few % of
        # a full build's, so the same best chunk and near-ties at most swapped.
        assert got[0][0] == want[0][0], query
        assert len({i for i, _ in got[:5]} & {i for i, _ in want[:5]}) >= 4, query
        full = dict(want)
        for chunk_id, score in got:
            if chunk_id in full:
                assert score == pytest.approx(full[chunk_id], rel=0.05), (query, chunk_id)


def test_a_word_only_new_chunks_hold_finds_them_and_removed_chunks_are_gone():
    index = KeywordIndex()
    index.build(_corpus(50))
    index.apply([Record("new1", "Kessendorf shipyard builds eleven pilot boats.", _meta("port", 20261207))],
                removed=["r000", "r001"])
    assert index.search(analyze("Kessendorf", "en"), k=3) == [("new1", pytest.approx(index.search(
        analyze("Kessendorf", "en"), k=1)[0][1]))]
    assert "r000" not in index.ids() and len(index) == 49
    assert all(i not in ("r000", "r001") for i, _ in index.search(analyze(" ".join(WORDS), "en"), k=60))
    # Filters, place lookups and metadata checks see the new chunk too.
    recent = {"published_int": {"$gte": 20261201}}
    assert index.search(analyze("Kessendorf pilot boats", "en"), k=5, where=recent)[0][0] == "new1"
    assert index.ids_where(recent) == ["new1"]
    assert index.matching(["new1", "r002"], recent) == [True, False]
    assert index.matching(["r000"], recent) is None  # removed: not held any more
    assert index.chunk_at("port", "h-port", 0) == "new1"
    assert index.chunk_at("a0", "h-a0", 0) is None


def test_the_journal_is_read_by_other_instances_and_a_torn_line_leads_to_a_rebuild(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    records = _corpus(40)
    store.upsert(records[:30])
    writer = KeywordIndex(tmp_path / "kw")
    assert writer.sync(store) is True
    reader = KeywordIndex(tmp_path / "kw")
    assert reader.load() and len(reader) == 30
    writer.apply(records[30:], removed=["r000"])
    store.upsert(records[30:])
    store.delete(["r000"])
    reader.refresh()  # another process's batch, read from the journal
    assert sorted(reader.ids()) == sorted(store.ids())
    assert KeywordIndex(tmp_path / "kw").sync(store) is False  # journal replayed: nothing to rebuild
    # A writer killed in the middle of a line: the line is left out, and the difference with the store is found.
    with (tmp_path / "kw" / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"add": [{"id": "zz", "tf"')
    store.upsert([Record("zz", "zebra crossing", _meta("zz", 20250301))])
    again = KeywordIndex(tmp_path / "kw")
    assert again.load() and "zz" not in again.ids()
    assert again.sync(store) is True and sorted(again.ids()) == sorted(store.ids())
    assert not (tmp_path / "kw" / "journal.jsonl").exists()  # the rebuild starts a new journal


def test_a_long_tail_is_compacted_into_a_rebuild(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    records = _corpus(60)
    store.upsert(records[:20])
    index = KeywordIndex(tmp_path / "kw")
    index.compact_min, index.compact_share = 10, 0.5
    index.sync(store)
    index.apply(records[20:25])
    store.upsert(records[20:25])
    assert index.compact(store) is False  # 5 new chunks: not due
    index.apply(records[25:])
    store.upsert(records[25:])
    assert index.compact(store) is True
    assert index.tail_size == 0 and sorted(index.ids()) == sorted(store.ids())
    whole = KeywordIndex()
    whole.build(store.get(store.ids()))
    tokens = analyze("harbour crane", "en")
    assert index.search(tokens, k=5) == whole.search(tokens, k=5)


def test_pending_batches_are_read_through_the_store_view_until_done(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    store.upsert([Record("old", "Old text of the story.", _meta("s", 20250101))])
    pending = PendingRecords(tmp_path / "pending")
    new = Record("new", "New text of the story.", _meta("s", 20250102))
    name = pending.stage([new], removed=["old"])
    view = WithPending(store, pending)
    assert [r.text for r in view.get(["new", "old"])] == ["Old text of the story.", "New text of the story."]
    assert [i for i, _ in view.metadata({"article_id": "s"})] == ["new"]  # the replaced chunk is hidden
    assert view.ids() == ["new"] and view.count() == 1  # dense search and counts are the store's own
    other = PendingRecords(tmp_path / "pending")  # another process sees the batch on disk
    records, removed = other.snapshot()
    assert [r.id for r in records] == ["new"] and removed == {"old"}
    pending.done(name)
    assert view.ids() == ["old"] and PendingRecords(tmp_path / "pending").records() == []


def _story(folder: Path, name: str, text: str, date: str = "2026-12-07") -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.txt").write_text(f"date {date}\n{name}\n\n{text}", encoding="utf-8")


class GatedEmbeddings(DesignedEmbeddings):
    """Designed embeddings whose document batches in the thread named "ingest" wait for `gate` once `hold` is set:
    the encoder still busy with the new article (questions and the citation scorer go on, as the real encoder's
    query-first lock lets them)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.waiting = threading.Event()
        self.gate = threading.Event()

    def embed_documents(self, texts):
        if self.hold and threading.current_thread().name == "ingest":
            self.waiting.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return super().embed_documents(texts)


@pytest.mark.timeout(120)
def test_a_question_is_answered_from_an_article_whose_vectors_are_pending(tmp_path):
    """Real Chroma on disk: while the new article's chunks wait for the encoder, keyword search finds them and the
    answer cites them; once the vectors are in, dense search finds them too and nothing is left pending."""
    embeddings = GatedEmbeddings()
    service = QAService(settings=Settings(index_dir=tmp_path / "index", k=3, translate_queries=False),
                        embeddings=embeddings, llm=scripted_llm("Port Vellmar ordered eleven boats [1]."))
    folder = tmp_path / "news"
    _story(folder, "ecb", "The ECB held its deposit rate at 2% on Thursday in Frankfurt.", "2026-11-20")
    _story(folder, "rain", "Heavy rain flooded the valley roads on Sunday night.", "2026-11-28")
    # Stories that dense and keyword search both find: a chunk found by one search alone would rank below them,
    # so the pending chunk keyword search finds gets its dense similarity computed for the question.
    for n, text in enumerate(["Fishing boats returned to the old port of Marseille on Monday with a poor catch.",
                              "The ferry port of Calais ordered two new boats for its crossings to Dover.",
                              "Electric boats were shown at the port of Hamburg's boat fair this week.",
                              "The pilot of a harbour tug was praised for saving two boats in the port of Genoa."]):
        _story(folder, f"boats{n}", text, "2026-12-0%d" % (n + 1))
    service.ingest([folder])
    _story(folder, "port", "The harbour authority of Port Vellmar ordered eleven electric pilot boats from "
                           "the Kessendorf shipyard.")
    embeddings.hold = True
    ingest = threading.Thread(target=service.ingest, args=([folder],), name="ingest")
    ingest.start()
    try:
        assert embeddings.waiting.wait(30)
        assert service.store.ids(where={"source": str(folder / "port.txt")}) == []  # no vectors yet
        answer = service.ask("How many pilot boats did Port Vellmar order from Kessendorf?")
        assert not answer.abstained, answer.text
        assert [c.passage.chunk.source for c in answer.citations] == [str(folder / "port.txt")]
        # Found by keyword search, its vector computed for this question only (the store has none yet).
        assert [p.matched_by for p in answer.passages if "Kessendorf" in p.chunk.text] == ["dense+keyword"]
        assert service.store.ids(where={"source": str(folder / "port.txt")}) == []
        assert len(service.pending.batches()) == 1
    finally:
        embeddings.gate.set()
        ingest.join(30)
    assert not ingest.is_alive() and service.pending.batches() == []
    port = [i for i, m in service.store.metadata() if m["source"] == str(folder / "port.txt")]
    assert port and sorted(service.keyword.ids()) == sorted(service.store.ids())
    vector = embeddings.embed_query("Port Vellmar electric pilot boats Kessendorf")
    only_port = {"source": str(folder / "port.txt")}
    assert [h.record.id for h in service.store.search(vector, k=5, where=only_port)] == port  # vectors in Chroma


@pytest.mark.timeout(180)
def test_sigkill_while_vectors_are_computed_keeps_the_batch_searchable_and_the_next_ingest_stores_it(tmp_path):
    corpus = tmp_path / "corpus"
    _story(corpus, "port", "The harbour authority of Port Vellmar ordered eleven electric pilot boats from "
                           "the Kessendorf shipyard. " * 3)
    reference = tmp_path / "reference"
    assert subprocess.run([sys.executable, str(WORKER), str(reference), str(corpus), "0"],
                          capture_output=True, timeout=120).returncode == 0
    index = tmp_path / "index"
    worker = subprocess.Popen([sys.executable, str(WORKER), str(index), str(corpus), "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().startswith("batch of")  # staged, now in the (slow) encoder
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    service = QAService(settings=Settings(index_dir=index, translate_queries=False), embeddings=DesignedEmbeddings(),
                        llm=scripted_llm("unused"))
    assert service.store.count() == 0 and len(service.pending.batches()) == 1
    passages = service.chain.retriever.retrieve("Which shipyard builds the Port Vellmar pilot boats?", None, 3)
    assert passages and "Kessendorf" in passages[0].chunk.text  # found by keyword, text from the pending batch
    report = service.ingest([corpus])
    assert report.unchanged == 1 and report.chunks_written > 0  # the staged batch was stored, nothing re-chunked
    want = QAService(settings=Settings(index_dir=reference), embeddings=DesignedEmbeddings()).store
    assert sorted(service.store.ids()) == sorted(want.ids())
    assert sorted(service.keyword.ids()) == sorted(want.ids()) and service.pending.batches() == []
    assert not list((index / "pending").rglob("*.json"))


def test_a_failed_store_write_forgets_the_batch_and_the_keyword_index_follows_the_store(tmp_path):
    service = QAService(settings=Settings(index_dir=tmp_path / "index"), embeddings=DesignedEmbeddings(),
                        llm=scripted_llm("unused"))
    _story(tmp_path / "news", "ecb", "The ECB held its deposit rate at 2% on Thursday.")
    service.ingest([tmp_path / "news"])
    _story(tmp_path / "news", "port", "Port Vellmar ordered eleven electric pilot boats.")
    real = service.store.upsert

    def failing(records):
        raise RuntimeError("encoder server went away")

    service.store.upsert = failing
    with pytest.raises(RuntimeError):
        service.ingest([tmp_path / "news"])
    service.store.upsert = real
    assert service.pending.batches() == []
    assert sorted(service.keyword.ids()) == sorted(service.store.ids())
    assert service.keyword.search(analyze("Vellmar", "en"), k=1) == []
    journal = tmp_path / "index" / "keyword" / "newsqa" / "journal.jsonl"
    assert not journal.exists() or all(json.loads(line) for line in journal.read_text().splitlines())


def test_two_writers_journal_every_batch_and_a_torn_line_costs_no_later_one(tmp_path):
    """Two instances (two processes' views) append in turn; each sees the other's lines, and a line cut by a crash
    neither swallows the next writer's line nor hides it from readers."""
    store = MemoryStore(DesignedEmbeddings())
    records = _corpus(40)
    store.upsert(records[:30])
    first, second = KeywordIndex(tmp_path / "kw"), KeywordIndex(tmp_path / "kw")
    first.sync(store)
    second.load()
    first.apply(records[30:33])
    second.apply(records[33:36])  # written after first's line, which second reads before appending
    first.apply(records[36:38])
    assert sorted(second.ids()) != sorted(first.ids())
    second.refresh()
    assert sorted(first.ids()) == sorted(second.ids()) == sorted(r.id for r in records[:38])
    with (tmp_path / "kw" / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"add": [{"id": "torn"')  # a writer killed mid-line
    first.apply(records[38:])
    reader = KeywordIndex(tmp_path / "kw")
    assert reader.load() and sorted(reader.ids()) == sorted(r.id for r in records)
    second.refresh()
    assert sorted(second.ids()) == sorted(r.id for r in records)


def test_recovery_leaves_a_batch_whose_writer_is_alive(tmp_path):
    """A batch staged by a live writer is not another writer's to store (it may be storing a newer version
    already); one whose writer died is."""
    store = MemoryStore(DesignedEmbeddings())
    live = PendingRecords(tmp_path / "pending")
    live.stage([Record("x", "The live writer's chunk.", _meta("x", 20250101))])
    other = KeywordFirst(KeywordIndex(), PendingRecords(tmp_path / "pending"))
    assert other.recover(store) == 0 and store.count() == 0
    script = ("import sys, os; sys.path.insert(0, %r); from vectorstore.pending import PendingRecords; "
              "from vectorstore.base import Record; PendingRecords(%r).stage([Record('y', 'A dead writer.', {})]); "
              "os._exit(0)") % (str(Path(__file__).resolve().parent.parent), str(tmp_path / "pending"))
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 0
    assert other.recover(store) == 1 and store.ids() == ["y"]
    assert [r.id for r in PendingRecords(tmp_path / "pending").records()] == ["x"]


def test_a_sync_sees_a_batch_that_moves_from_pending_to_the_store_meanwhile(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    records = _corpus(12)
    store.upsert(records[:10])
    pending = PendingRecords(tmp_path / "pending")
    name = pending.stage(records[10:])
    reads = store.ids

    def finishing_ids(where=None):  # the batch is stored and done between sync's two reads
        store.upsert(records[10:])
        pending.done(name)
        return reads(where)

    store.ids = finishing_ids
    index = KeywordIndex(tmp_path / "kw")
    index.sync(store, pending=pending)
    assert sorted(index.ids()) == sorted(r.id for r in records)


def test_a_batch_applied_during_a_rebuild_lands_in_the_new_journal(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    records = _corpus(20)
    store.upsert(records[:15])
    rebuilding, applier = KeywordIndex(tmp_path / "kw"), KeywordIndex(tmp_path / "kw")
    rebuilding.sync(store)
    applier.load()
    started = threading.Event()
    get = store.get

    def slow_get(ids):
        started.set()
        time.sleep(0.5)  # the rebuild is reading the store
        return get(ids)

    store.get = slow_get
    rebuild = threading.Thread(target=lambda: rebuilding.sync(store, force=True))
    rebuild.start()
    assert started.wait(10)
    applier.apply(records[15:])  # waits for the rebuild's lock, then journals on the new folder
    rebuild.join(10)
    reader = KeywordIndex(tmp_path / "kw")
    assert reader.load() and sorted(reader.ids()) == sorted(r.id for r in records)
