"""BM25 keyword index, metadata filters, reciprocal-rank fusion and recency ranking (fakes + real Chroma)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from fakes import DesignedEmbeddings, MemoryStore
from qa.retrieve.retriever import Filters, Fusion, Retriever, reciprocal_rank_fusion, wants_recent
from qa.service import QAService
from qa.settings import Settings
from vectorstore.base import Record
from vectorstore.filters import as_columns, column_mask, matches
from vectorstore.analysis import analyze
from vectorstore.keyword import KeywordIndex


def _meta(article, published, language="en", title=""):
    return {"article_id": article, "position": 0, "title": title, "source": f"{article}.example",
            "published": f"{str(published)[:4]}-{str(published)[4:6]}-{str(published)[6:]}",
            "published_int": published, "language": language, "url": "", "article_hash": article}


RECORDS = [
    Record("a1", "The ECB held its deposit rate at 2% on Thursday.", _meta("ecb-july", 20250724)),
    Record("a2", "The ECB cut its deposit rate to 2% in June.", _meta("ecb-june", 20250605)),
    Record("b1", "La BCE a laissé son taux de dépôt inchangé jeudi à Francfort.", _meta("bce", 20250724, "fr")),
    Record("c1", "Zorblax Industries reported record tractor sales in Ohio.", _meta("zorblax", 20250301)),
    Record("d1", "Heavy rain is expected over the weekend in Paris.", _meta("meteo", 20250810)),
]


def test_analyze_folds_accents_drops_stopwords_and_stems_in_the_language():
    assert analyze("Les réunions de la BCE", "fr") == analyze("la réunion BCE", "fr")
    assert "the" not in analyze("The meetings of the bank", "en")
    assert analyze("Pékin", "fr") == analyze("Pekin", "fr")
    assert analyze("meetings", "en") == analyze("meeting", "en")


def test_keyword_search_ranks_exact_terms_and_applies_filters():
    index = KeywordIndex()
    index.build(RECORDS)
    found = index.search(analyze("Zorblax tractor sales", "en"), k=3)
    assert found[0][0] == "c1"
    assert all(score > 0 for _, score in found)
    assert index.search(analyze("Zorblax", "en"), k=3, where={"published_int": {"$gte": 20250401}}) == []
    french = index.search(analyze("taux BCE", "fr"), k=5, where={"language": {"$in": ["fr"]}})
    assert [i for i, _ in french] == ["b1"]
    assert index.search(analyze("nothing matches quux", "en"), k=3) == []


def test_corpus_languages_are_counted_with_their_share():
    index = KeywordIndex()
    index.build(RECORDS)  # four English chunks, one French
    assert index.languages() == ["en", "fr"]
    assert index.languages(most=1) == ["en"]
    assert index.languages(min_share=0.25) == ["en"]  # French holds 20%: no translation into it at 25%


def test_filters_on_columns_agree_with_row_by_row_evaluation():
    rng = random.Random(7)
    rows = [{"published_int": rng.choice([0, 20250101, 20250601, 20251231]), "language": rng.choice(["en", "fr", ""]),
             "source": rng.choice(["a", "b"])} for _ in range(200)]
    columns = as_columns(rows, ["published_int", "language", "source"])
    clauses = [
        {"published_int": {"$lte": 20250601}},
        {"$and": [{"published_int": {"$gte": 20250101}}, {"language": {"$in": ["fr"]}}]},
        {"$or": [{"source": "a"}, {"language": {"$nin": ["en", "fr"]}}]},
        {"language": {"$ne": "en"}, "published_int": {"$gt": 0}},
    ]
    for where in clauses:
        expected = np.array([matches(r, where) for r in rows])
        assert (column_mask(columns, len(rows), where) == expected).all(), where
        assert 0 < expected.sum() < len(rows)


def test_ids_where_lists_every_held_chunk_that_matches_or_cannot_tell():
    records = [Record(f"r{i}", f"text {i}", {"article_id": f"a{i % 3}", "language": "fr" if i % 4 else "en",
                                             "published_int": 20250101 + i}) for i in range(20)]
    index = KeywordIndex()
    index.build(records)
    for where in ({"language": "en"}, {"$and": [{"published_int": {"$gte": 20250105}},
                                                {"published_int": {"$lte": 20250110}}]},
                  {"$or": [{"article_id": "a1"}, {"language": "en"}]}, {"published_int": {"$gt": 20300101}}):
        assert index.ids_where(where) == [r.id for r in records if matches(r.metadata, where)], where
    assert index.ids_where({"title": "x"}) is None  # a key not kept here
    assert index.ids_where({"language": {"$like": "e%"}}) is None  # an operator it cannot evaluate


def test_saved_index_loads_in_another_instance(tmp_path):
    first = KeywordIndex(tmp_path / "kw")
    first.build(RECORDS)
    second = KeywordIndex(tmp_path / "kw")
    assert second.load()
    assert second.digest == first.digest
    assert second.search(analyze("tractor", "en"), k=1) == first.search(analyze("tractor", "en"), k=1)
    assert sorted(second.languages()) == ["en", "fr"]


def test_sync_rebuilds_only_when_the_store_changed(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS[:3])
    index = KeywordIndex(tmp_path / "kw")
    assert index.sync(store) is True
    assert index.sync(store) is False
    # A crash between the vector write and the keyword write: the store has chunks the index lacks.
    store.upsert(RECORDS[3:])
    assert KeywordIndex(tmp_path / "kw").sync(store) is True
    store.delete(["c1"])
    reopened = KeywordIndex(tmp_path / "kw")
    assert reopened.sync(store) is True
    assert "c1" not in {i for i, _ in reopened.search(analyze("zorblax", "en"), k=5)}
    assert len(reopened) == store.count() == 4


def test_refresh_reloads_what_another_process_saved(tmp_path):
    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS[:2])
    reader = KeywordIndex(tmp_path / "kw")
    reader.sync(store)
    writer = KeywordIndex(tmp_path / "kw")
    store.upsert(RECORDS[2:])
    writer.sync(store)
    reader.refresh()
    assert len(reader) == len(RECORDS)
    assert reader.search(analyze("zorblax", "en"), k=1)[0][0] == "c1"


def test_reciprocal_rank_fusion_is_a_weighted_mean_of_reciprocal_ranks():
    fused = reciprocal_rank_fusion([(1.0, ["x", "y"]), (0.5, ["y", "z"]), (0.0, ["w"])], rrf_k=60)
    assert fused["y"] == pytest.approx((1 / 62 + 0.5 / 61) / 1.5)
    assert fused["x"] == pytest.approx((1 / 61) / 1.5)
    assert "w" not in fused
    assert max(fused, key=fused.get) == "y"


def test_a_list_that_cannot_apply_to_an_item_is_left_out_of_its_mean():
    # "fr1" is French: the (English) keyword list could never contain it, so only its dense rank counts.
    lists = [(1.0, ["en1", "fr1"]), (1.0, ["en2", "en1"])]
    plain = reciprocal_rank_fusion(lists, rrf_k=60)
    aware = reciprocal_rank_fusion(lists, rrf_k=60, applies=[None, lambda i: not i.startswith("fr")])
    assert plain["fr1"] == pytest.approx((1 / 62) / 2)
    assert aware["fr1"] == pytest.approx(1 / 62)
    assert aware["fr1"] > aware["en2"]


def _retriever(store, keyword=True, **fusion):
    index = None
    if keyword:
        index = KeywordIndex()
        index.sync(store)
    return Retriever(store, store.embeddings, k=3, fetch_k=10, keyword=index, fusion=Fusion(**fusion))


def test_keyword_side_rescues_a_name_the_embeddings_do_not_know():
    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS)
    question = "What did Zorblax say about the ECB rate and its tractor sales?"
    dense_only = _retriever(store, keyword=False).retrieve(question)
    # The designed embeddings have no axis for Zorblax or tractors: dense search ranks the ECB chunks first.
    assert "c1" not in [p.chunk.chunk_id for p in dense_only]
    hybrid = _retriever(store, recency_prior=0.0).retrieve(question)  # fusion alone, no newest-first prior
    rescued = next(p for p in hybrid if p.chunk.chunk_id == "c1")
    assert rescued.matched_by == "dense+keyword"
    assert [p.n for p in hybrid] == [1, 2, 3]
    assert "b1" not in [p.chunk.chunk_id for p in hybrid]  # the French chunk shares no keyword: it drops out


def test_as_of_date_applies_to_the_keyword_side_too():
    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS)
    from datetime import date

    passages = _retriever(store).retrieve("Zorblax tractor sales", as_of=date(2025, 2, 1), k=5)
    assert "c1" not in [p.chunk.chunk_id for p in passages]
    filtered = _retriever(store).retrieve("ECB rate", filters=Filters(languages=("fr",)), k=5)
    assert {p.chunk.language for p in filtered} == {"fr"}


def test_matching_ids_are_offered_to_the_store_only_while_the_keyword_index_holds_every_chunk():
    from datetime import date

    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS)
    offered = []
    search = store.search

    def spying(vector, k, where=None, *, keep=None, among=None, partial=False):
        offered.append(among() if among is not None else "no list")
        return search(vector, k, where, keep=keep, among=among, partial=partial)

    store.search = spying
    retriever = _retriever(store)
    retriever.retrieve("ECB rate", as_of=date(2025, 7, 1))
    assert offered[0] == ["a2", "c1"]  # published by July 1, from the keyword index's columns
    store.upsert([Record("e1", "The ECB spoke on rates.", _meta("ecb-may", 20250502))])  # not synced yet
    offered.clear()
    retriever.retrieve("ECB rate", as_of=date(2025, 7, 1))
    assert offered[0] is None  # it cannot list e1: the store filters by itself
    offered.clear()
    retriever.retrieve("ECB rate")  # no as-of date: no filter, no list (then the recent days' search, filtered)
    assert offered[0] == "no list"


def test_recency_prefers_the_newest_relevant_article_when_asked_and_as_a_prior():
    store = MemoryStore(DesignedEmbeddings())
    older = Record("old", "The ECB rate decision: the rate was cut.", _meta("ecb-june", 20250605))
    newer = Record("new", "The ECB rate decision: the rate was held.", _meta("ecb-july", 20250724))
    store.upsert([older, newer, RECORDS[4]])
    # no newest-first ranking at all: the closer match ("cut") comes first
    plain = _retriever(store, keyword=False, recency_prior=0.0).retrieve("ECB rate decision cut")
    assert plain[0].chunk.chunk_id == "old"
    latest = _retriever(store, keyword=False, recency_prior=0.0).retrieve("What was the latest ECB rate decision? cut")
    assert latest[0].chunk.chunk_id == "new"
    off = _retriever(store, keyword=False, recency=0.0, recency_prior=0.0).retrieve(
        "What was the latest ECB rate decision? cut")
    assert off[0].chunk.chunk_id == "old"
    # the prior: among close candidates the newer report first, for any question that names no period; the
    # weather chunk is not close enough to be lifted by its newer date (2025-08-10). (The two ECB chunks are
    # near-duplicates, so only the first of them is kept.)
    ids = [p.chunk.chunk_id for p in _retriever(store, keyword=False).retrieve("ECB rate decision cut")]
    assert ids == ["new", "d1"]


def test_recency_prior_does_not_lift_a_newer_chunk_outside_the_margin():
    similarity = {"close older": 0.90, "far newer": 0.70}
    from test_periods import _AngleEmbeddings, _meta as day_meta

    embeddings = _AngleEmbeddings(similarity)
    store = MemoryStore(embeddings)
    store.upsert([Record("older", "close older", day_meta("older", 20250601)),
                  Record("newer", "far newer", day_meta("newer", 20251101))])
    ids = [p.chunk.chunk_id for p in Retriever(store, embeddings, k=2).retrieve("What happened to the plant?")]
    assert ids == ["older", "newer"]  # 0.20 apart: more than the 0.15 margin


@pytest.mark.parametrize("question,expected", [
    ("When did Bessent last meet He Lifeng?", True),
    ("Quelle est la dernière décision de la BCE ?", True),
    ("¿Cuál fue la última reunión?", True),
    ("Who stole the Louvre jewels?", False),
])
def test_recency_cues(question, expected):
    assert wants_recent(question) is expected


def test_service_keeps_the_keyword_index_in_step_with_chroma(tmp_path, designed_embeddings):
    """Real Chroma on disk: ingest, re-open, delete; both indexes always hold the same chunk ids."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "z.txt").write_text("date 2025-03-01\nZorblax\n\nZorblax Industries reported record tractor sales.",
                                  encoding="utf-8")
    (folder / "e.txt").write_text("date 2025-07-24\nECB\n\nThe ECB held its deposit rate at 2%.", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index")
    service = QAService(settings=settings, embeddings=designed_embeddings)
    service.ingest([folder])
    kw_dir = settings.index_dir / "keyword" / settings.collection
    assert (kw_dir / "manifest.json").is_file()
    reopened = KeywordIndex(kw_dir)
    assert reopened.load() and sorted(reopened.ids()) == sorted(service.store.ids())
    # A changed article replaces its chunks in both indexes.
    (folder / "e.txt").write_text("date 2025-07-24\nECB\n\nThe ECB kept its deposit rate at 2% (updated).",
                                  encoding="utf-8")
    assert service.ingest([folder]).replaced == 1
    reopened = KeywordIndex(kw_dir)
    assert reopened.load() and sorted(reopened.ids()) == sorted(service.store.ids())
    assert reopened.search(analyze("updated", "en"), k=1)
    zorblax = reopened.search(analyze("zorblax", "en"), k=1)[0][0]
    article = dict(service.store.metadata())[zorblax]["article_id"]
    service.delete_article(article)
    after = KeywordIndex(kw_dir)
    assert after.load() and sorted(after.ids()) == sorted(service.store.ids())
    assert after.search(analyze("zorblax", "en"), k=1) == []


def test_translated_question_lets_keyword_search_reach_the_other_language():
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from qa.retrieve.translate import QueryTranslator

    store = MemoryStore(DesignedEmbeddings())
    store.upsert([
        Record("fr-grele", "Un orage de grêle a détruit les vignes de Saint-Aubrac dimanche.", _meta("g", 20250602, "fr")),
        Record("en-1", "Vineyards in California expect a good harvest this year.", _meta("v", 20250601)),
        Record("en-2", "Storm damage closed roads near the coast on Sunday.", _meta("s", 20250601)),
    ])
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="« Quelles vignes la grêle a-t-elle détruites ? »")]))
    translator = QueryTranslator(llm)
    retriever = _retriever(store)
    retriever.translator = translator
    question = "Which vineyards did the hail storm destroy?"
    passages = retriever.retrieve(question, timings=(t := {}))
    top = passages[0]
    assert top.chunk.chunk_id == "fr-grele" and "keyword" in top.matched_by
    assert "translate_ms" in t
    # cached: the same question does not reach the model again (the fake has no second reply)
    assert translator.translate(question, "fr") == "Quelles vignes la grêle a-t-elle détruites ?"
    assert translator.translate(question, "xx") is None
    # a multiple-choice question: its options go with the translation too (the question alone is translated)
    searched = []
    side = retriever._keyword_side
    retriever._keyword_side = lambda texts, *a, **kw: searched.append(list(texts)) or side(texts, *a, **kw)
    retriever.retrieve(question, options=("Saint-Aubrac", "Napa"))
    assert searched[0] == [f"{question}\nSaint-Aubrac; Napa",
                           "Quelles vignes la grêle a-t-elle détruites ?\nSaint-Aubrac; Napa"]


class _TableEmbeddings(Embeddings):
    """Vectors written out by hand for texts that contain a key: the English question sits closest to the
    English chunks, its French translation closest to the French one."""

    TABLE = {"postpone?": (1.0, 0.1, 0.0), "reporter ?": (0.3, 1.0, 0.2),  # the questions first
             "Beijing welcomed": (1.0, 0.0, 0.1), "Beijing and Washington": (0.9, 0.1, 0.2),
             "Pékin a accepté": (0.5, 0.5, 0.7)}

    def _vector(self, text):
        vec = next(np.array(v) for key, v in self.TABLE.items() if key in text)
        return (vec / np.linalg.norm(vec)).tolist()

    def embed_documents(self, texts):
        return [self._vector(t) for t in texts]

    def embed_query(self, text):
        return self._vector(text)


def test_translated_question_ranks_chunks_in_its_language_on_the_dense_side():
    """Regression (seed question): "What did Beijing agree to postpone?" ranked the French passage that answers
    it 5th by dense search, behind English chunks that merely name Beijing, and a translation used for keyword
    search alone lifted it to 3rd; its French translation ranks it 1st by dense search. Each chunk is now judged
    by the question in its own language, on both sides."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from qa.retrieve.translate import QueryTranslator

    store = MemoryStore(_TableEmbeddings())
    store.upsert([Record("en-1", "Beijing welcomed the delegation.", _meta("e1", 20251030)),
                  Record("en-2", "Beijing and Washington resumed talks.", _meta("e2", 20251030)),
                  Record("fr-1", "Pékin a accepté de reporter les contrôles à l'exportation.", _meta("f", 20251030, "fr"))])
    question = "What did Beijing agree to postpone?"
    plain = _retriever(store, recency_prior=0.0).retrieve(question)
    assert [p.chunk.chunk_id for p in plain] == ["en-1", "en-2", "fr-1"]
    retriever = _retriever(store, recency_prior=0.0)
    retriever.translator = QueryTranslator(GenericFakeChatModel(
        messages=iter([AIMessage(content="Qu'est-ce que Pékin a accepté de reporter ?")])))
    passages = retriever.retrieve(question, timings=(t := {}))
    # Dense: en-1 is 1st for the English question, fr-1 1st for the French one; the keyword side (which the
    # French words reach only through the translation) decides between them.
    assert [p.chunk.chunk_id for p in passages] == ["fr-1", "en-1", "en-2"]
    assert passages[0].matched_by == "dense+keyword"
    # a chunk's similarity is the best any version of the question gave it: the French one for the French chunk
    expected = np.dot(*(_TableEmbeddings()._vector(x) for x in ("reporter ?", "Pékin a accepté")))
    assert passages[0].score == pytest.approx(expected)
    assert passages[1].score == pytest.approx(np.dot(*(_TableEmbeddings()._vector(x) for x in
                                                       ("postpone?", "Beijing welcomed"))))
    assert {"translate_ms", "embed_ms", "dense_ms"} <= set(t)


def test_a_failed_or_echoed_translation_leaves_retrieval_to_the_question(capsys):
    from langchain_core.messages import AIMessage

    from qa.retrieve.translate import QueryTranslator

    class Broken:
        def invoke(self, messages):
            raise RuntimeError("no server at http://127.0.0.1:11434")

    class Echo:
        def invoke(self, messages):
            return AIMessage(content=messages[-1].content.upper())

    question = "Which vineyards did the hail storm destroy?"
    assert QueryTranslator(Broken()).translate(question, "fr") is None
    assert "could not be translated into French" in capsys.readouterr().err
    assert QueryTranslator(Echo()).translate(question, "fr") is None
    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS)
    retriever = _retriever(store)
    retriever.translator = QueryTranslator(Broken())
    passages = retriever.retrieve("What was the ECB rate decision?", timings=(t := {}))
    assert passages and passages[0].chunk.chunk_id in {"a1", "a2", "b1"}
    assert "translate_ms" in t and t["embed_ms"] > 0


def test_a_cue_never_gets_less_recency_than_the_prior():
    store = MemoryStore(DesignedEmbeddings())
    older = Record("old", "The ECB rate decision: the rate was cut.", _meta("ecb-june", 20250605))
    newer = Record("new", "The ECB rate decision: the rate was held.", _meta("ecb-july", 20250724))
    store.upsert([older, newer])
    latest = _retriever(store, keyword=False, recency=0.0).retrieve("What was the latest ECB rate decision? cut")
    assert latest[0].chunk.chunk_id == "new"  # recency_weight 0, the prior (0.25) still applies


def test_translator_shows_worked_examples_before_the_question():
    from langchain_core.messages import AIMessage, HumanMessage

    from qa.retrieve.translate import EXAMPLES, QueryTranslator

    class Recorder:
        def __init__(self):
            self.seen = []

        def invoke(self, messages):
            self.seen.append(messages)
            return AIMessage(content="Qu'est-ce que Pékin a accepté de reporter ?")

    llm = Recorder()
    assert QueryTranslator(llm).translate("What did Beijing agree to postpone?", "fr").startswith("Qu'est-ce")
    messages = llm.seen[0]
    assert "French" in messages[0].content
    shown = [(m.content, n.content) for m, n in zip(messages[1:-1:2], messages[2:-1:2])]
    assert shown == list(EXAMPLES["fr"])
    assert isinstance(messages[-1], HumanMessage) and messages[-1].content == "What did Beijing agree to postpone?"


def test_at_most_n_passages_from_one_article_when_capped():
    store = MemoryStore(DesignedEmbeddings())
    many = [Record(f"ecb{i}", f"The ECB rate decision, part {i}.", {**_meta("ecb", 20250724), "position": i})
            for i in range(4)]
    store.upsert(many + [Record("bce", "La BCE et son taux.", _meta("bce", 20250724, "fr"))])
    uncapped = Retriever(store, store.embeddings, k=3).retrieve("ECB rate")
    capped = Retriever(store, store.embeddings, k=3, max_per_article=2).retrieve("ECB rate")
    assert [p.chunk.article_id for p in uncapped] == ["ecb", "ecb", "ecb"]
    assert sorted(p.chunk.article_id for p in capped) == ["bce", "ecb", "ecb"]


def test_a_chunk_over_the_cap_yields_only_to_close_candidates():
    """Regression (sample_qa s03): with two passages per article, the third chunk of the Louvre report (the one
    naming the crown) gave its place to a chunk about the Pope; now only candidates about the same thing (within
    the similarity margin) move ahead of it."""
    from qa.retrieve.fusion import cap_per_article

    records = {i: Record(i, i, {"article_id": i[0]}) for i in ["a1", "a2", "a3", "b1", "c1", "d1"]}
    order = ["a1", "a2", "a3", "b1", "c1", "d1"]
    everything_close = cap_per_article(order, records, 2, 4)
    assert everything_close == ["a1", "a2", "b1", "c1", "a3", "d1"]
    only_a_and_b = cap_per_article(order, records, 2, 4, close={"a1", "a2", "a3", "b1"}.__contains__)
    assert only_a_and_b == ["a1", "a2", "b1", "a3", "c1", "d1"]
    assert cap_per_article(order, records, 1, 2, close=lambda i: False) == ["a1", "a2", "a3", "b1", "c1", "d1"]


def test_a_multiple_choice_question_searches_its_options_but_reads_dates_from_the_question(monkeypatch):
    from qa.retrieve import retriever as retrieval

    store = MemoryStore(DesignedEmbeddings())
    store.upsert(RECORDS)
    question = "Which firm commented on the rate?"
    options = ("Zorblax", "Acme", "September")
    assert retrieval.search_text(question, options) == "Which firm commented on the rate?\nZorblax; Acme; September"
    assert retrieval.search_text(question) == question
    read = []
    monkeypatch.setattr(retrieval, "question_period", lambda text, *a: read.append(text))
    monkeypatch.setattr(retrieval, "wants_recent", lambda text: read.append(text) or False)
    language = retrieval.question_language
    monkeypatch.setattr(retrieval, "question_language", lambda text, *a: read.append(text) or language(text, *a))
    alone = _retriever(store, recency_prior=0.0).retrieve(question)
    assert "c1" not in [p.chunk.chunk_id for p in alone]  # the question shares no word with the Zorblax chunk
    read.clear()

    class Reranker:
        asked: list = []

        def score(self, text, passages):
            self.asked.append(text)
            return [0.0] * len(passages)

    retriever = _retriever(store, recency_prior=0.0)
    retriever.reranker = Reranker()
    with_options = retriever.retrieve(question, options=options)
    reached = next(p for p in with_options if p.chunk.chunk_id == "c1")  # the option "Zorblax" reached it
    assert reached.matched_by == "dense+keyword"
    # language, period and cue from the question alone ("September" among the options is no period)
    assert read == [question, question, question]
    assert Reranker.asked == [retrieval.search_text(question, options)]  # the reranker reads the options
