import json
from datetime import date

import pytest
from fakes import DesignedEmbeddings, MemoryStore, PromptRecorder, record_prompts_and_searches, scripted_llm

from qa.errors import InputError
from qa.evaluation import load_dataset, run_eval
from qa.evaluation import metrics as m
from qa.evaluation.datasets import normalize_url
from qa.evaluation.report import aggregate, markdown, write
from qa.evaluation.runner import QuestionResult
from qa.answer.prompt import ANSWER_RULE, OPTION_RULE
from qa.service import QAService
from qa.settings import Settings
from qa.types import Chunk, Passage


def test_answer_matching_free_form_and_multiple_choice():
    assert m.answer_correct("They met in Kuala-Lumpur, Malaysia.", ["Kuala Lumpur"])
    assert m.answer_correct("Le pape Léon XIV", ["Leon XIV"])
    assert not m.answer_correct("Kuala Lumpurs", ["Kuala Lumpur"])  # whole words only
    choices = ["Europe", "North America", "Asia", "Africa"]
    assert m.answer_correct("Europe will require USB-C.", ["Europe"], choices)
    assert not m.answer_correct("Europe or Asia", ["Europe"], choices)  # hedging between choices is wrong
    assert not m.answer_correct("anything", [], ())
    assert m.answer_correct("Le sommet réunit 1,000 délégués", ["1000"])  # thousands separators
    assert m.answer_correct("答案是东京。", ["东京"])  # no spaces between words: substring match
    prices = ["$3", "$4", "$5", "$6"]
    assert m.answer_correct("$5 [3]", ["$5"], prices)  # a citation marker is not the choice "$3"
    assert not m.answer_correct("$5 or $3 [1]", ["$5"], prices)
    assert not m.answer_correct("答案是京都。", ["东京"])
    people = ["Joe Biden", "Biden", "Donald Trump"]  # a wrong choice inside the right one
    assert m.answer_correct("Joe Biden signed it [1].", ["Joe Biden"], people)
    assert not m.answer_correct("Biden signed it [1].", ["Joe Biden"], people)
    assert not m.answer_correct("Joe Biden, then Biden again", ["Joe Biden"], people)


def test_numbers_spelled_out_match_their_digits():
    months = ["6 months", "3 months", "1 year", "2 years"]
    assert m.answer_correct("The ban lasts six months [2].", ["6 months"], months)
    assert not m.answer_correct("The ban lasts three months [2].", ["6 months"], months)
    assert not m.answer_correct("six months, or two years", ["6 months"], months)  # hedging, in words
    assert m.answer_correct("Il a duré vingt-et-un jours.", ["21 jours"], language="fr")
    assert m.answer_correct("It cost 1,200 dollars", ["one thousand two hundred dollars"])  # both sides folded
    assert m.answer_correct("No one knows the toll; two people were hurt.", ["2 people"])
    assert m.answer_correct("One [2].", ["1"], ["1", "2", "3", "4"])
    assert m.answer_correct("It lasted one year.", ["1 year"], months)
    # hedging between amounts of the same unit, in words or digits, is still a hedge
    assert not m.answer_correct("Three or six months.", ["6 months"], months)
    assert not m.answer_correct("between 3 and 6 months", ["6 months"], months)
    assert not m.answer_correct("one or two years", ["2 years"], months)
    assert m.answer_correct("6 months, after 3 weeks of talks", ["6 months"], months)  # another unit: no hedge
    # a language text2num does not know is matched as before
    assert not m.answer_correct("sześć miesięcy", ["6 miesięcy"], language="pl")
    assert m.number_words_to_digits("twenty-one people", "en") == "21 people"


def test_answer_passages_are_read_with_numbers_in_their_own_language():
    from datetime import date

    from qa.evaluation.runner import holds_answer
    from qa.types import Chunk, Passage

    def passage(text: str, language: str | None) -> Passage:
        chunk = Chunk("c", "a", text, 0, "T", "s", date(2025, 10, 26), language, None, "h")
        return Passage(n=1, chunk=chunk, score=0.5, display_text=text)

    assert holds_answer(passage("Les suspects ont été arrêtés six jours après le vol.", "fr"), ["6 jours"], "en")
    assert holds_answer(passage("They were held for six days.", None), ["6 days"], None)  # English when unknown
    assert not holds_answer(passage("They were held for seven days.", "en"), ["6 days", "six days"], "en")


def test_rank_metrics_and_percentiles():
    assert m.first_gold_rank([False, False, True, True]) == 3
    assert m.first_gold_rank([False]) is None
    assert [m.hit_at(3, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert m.reciprocal_rank(4) == 0.25 and m.reciprocal_rank(None) == 0.0 and m.reciprocal_rank(11) == 0.0
    assert m.citation_precision([True, False, True, True]) == 0.75
    assert m.citation_precision([]) is None
    assert m.citation_recall(["a"], ["a", "b"]) == 0.5
    assert m.citation_recall(["a"], ["a"], expected=4) == 0.25  # gold articles never retrieved count as missed
    assert m.percentile([10, 20, 30, 40], 50) == 25
    assert m.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], 95) == 20
    assert m.percentile([], 50) is None


def test_aggregate_on_fixed_results():
    rows = [
        QuestionResult("a", "q", None, ["all", "answerable"], True, correct=True, gold_rank=1, has_gold=True,
                       citation_precision=1.0, citation_recall=1.0, retrieve_ms=100, total_ms=2000, prompt_tokens=600),
        QuestionResult("b", "q", None, ["all", "answerable"], True, correct=False, abstained=True, gold_rank=4,
                       has_gold=True, retrieve_ms=300, total_ms=4000, prompt_tokens=800),
        QuestionResult("c", "q", None, ["all", "unanswerable"], False, correct=True, abstained=True,
                       retrieve_ms=200, total_ms=3000),
    ]
    agg = aggregate(rows)
    assert agg["n"] == 3
    assert agg["accuracy"] == pytest.approx(2 / 3)
    assert (agg["hit@1"], agg["hit@3"], agg["hit@5"]) == (0.5, 0.5, 1.0)
    assert agg["mrr@10"] == pytest.approx((1 + 0.25) / 2)
    assert agg["abstention_unanswerable"] == 1.0
    assert agg["false_abstention"] == 0.5
    assert agg["retrieve_p50_ms"] == 200 and agg["total_p50_s"] == 3.0
    assert agg["prompt_tokens"] == 700
    assert agg["citation_precision"] == 1.0


def test_dataset_formats(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "n1", "question": "Where?", "answers": ["Paris"], "gold_article_ids": ["a1"],
                    "tags": ["cross-lingual"], "language": "en"}),
        json.dumps({"id": "n2", "question": "Who won?", "answerable": False}),
        json.dumps({"id": "r1", "question": "Which continent?", "as_of": "2022-06-16",
                    "choices": ["Europe", "Asia"], "answer": "Europe",
                    "gold_urls": ["https://www.cnn.com/2022/06/12/tech/x/index.html#:~:text=abc"]}),
    ]))
    n1, n2, r1 = load_dataset(path)
    assert n1.answers == ("Paris",) and n1.groups() == ["all", "answerable", "lang:en", "cross-lingual"]
    assert not n2.answerable and n2.groups()[1] == "unanswerable"
    assert r1.choices == ("Europe", "Asia") and r1.answers == ("Europe",) and r1.as_of == "2022-06-16"
    assert normalize_url(r1.gold_urls[0]) == "cnn.com/2022/06/12/tech/x/index.html"
    path.write_text('{"id": "x", "question": "ok"}\n{"id": "y"}\n')
    with pytest.raises(InputError, match=":2"):
        load_dataset(path)


def test_question_set_errors_name_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    cases = {
        '{"id": "a", "question": "Which?", "choices": ["x", "y"], "answer": [5]}': "not an index",
        '{"id": "a", "question": "When?", "as_of": "June 16"}': "YYYY-MM-DD",
        '{"id": "a", "question": "Who?", "answerable": "false"}': "JSON booleans",
        '{"id": "a", "question": 123}': "non-empty 'question'",
    }
    for line, message in cases.items():
        path.write_text('{"id": "ok", "question": "Fine?"}\n' + line + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=f"q.jsonl:2: .*{message}"):
            load_dataset(path)
    path.write_bytes(b'{"id": "a", "question": "caf\xe9?"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_dataset(path)
    # U+2028 inside a JSON string is text, not a line break
    path.write_text(json.dumps({"id": "a", "question": "Line\u2028separator?"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert load_dataset(path)[0].question == "Line\u2028separator?"
    path.write_text('{"id": "a", "question": "Quand le pape a-t-il rencontré les jeunes à Rome ?"}\n',
                    encoding="utf-8")
    assert "lang:fr" in load_dataset(path)[0].groups()  # detected when not given


def test_failed_answers_count_as_wrong():
    rows = [
        QuestionResult("a", "q", None, ["all"], True, correct=True),
        QuestionResult("b", "q", None, ["all"], True, error="the model server stopped"),
        QuestionResult("c", "q", None, ["all"], False, error="the model server stopped"),
    ]
    agg = aggregate(rows)
    assert agg["accuracy"] == pytest.approx(1 / 3) and agg["errors"] == 2
    assert agg["abstention_unanswerable"] is None  # an error is not a refusal to answer


def test_team_question_set_covers_the_required_kinds():
    items = load_dataset("data/eval/sample_qa.jsonl")
    tags = [t for i in items for t in i.tags]
    assert len(items) >= 30
    assert sum(not i.answerable for i in items) >= 6
    assert {"cross-lingual", "temporal", "comparison"} <= set(tags)
    assert all(i.has_gold for i in items if i.answerable)


def test_french_and_unanswerable_sets_hold_what_they_are_for():
    french = load_dataset("data/eval/french_qa.jsonl")
    assert len(french) >= 20 and all(i.language == "fr" and i.answerable and i.answers for i in french)
    assert all(i.has_gold and i.as_of for i in french)
    assert sum("cross-lingual" in i.tags for i in french) >= 5  # answered only by English articles
    unanswerable = load_dataset("data/eval/unanswerable_qa.jsonl")
    assert len(unanswerable) >= 30 and not any(i.answerable for i in unanswerable)
    # asked within realtimeqa-dev's weeks, about later events, other topics and details no article gives
    assert all("2022-06-17" <= i.as_of <= "2022-08-12" for i in unanswerable)
    assert {"after-as-of", "other-topic", "near-miss"} <= {t for i in unanswerable for t in i.tags}
    assert len({i.id for i in french + unanswerable}) == len(french) + len(unanswerable)


@pytest.fixture
def tiny(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "louvre.txt").write_text("date 2025-10-19\nLouvre\n\nThieves stole jewels from the Louvre museum.")
    (corpus / "bce.txt").write_text("date 2025-07-24\nBCE\n\nLa BCE a laissé son taux inchangé à 2 %.")
    data = tmp_path / "q.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"id": "q1", "question": "What did thieves take from the Louvre?", "answers": ["jewels"],
         "gold_sources": ["louvre.txt"]},
        {"id": "q2", "question": "What did the ECB do with its rate?", "answers": ["unchanged"],
         "gold_sources": ["bce.txt"], "tags": ["cross-lingual"]},
        {"id": "q3", "question": "Who won the pope election?", "answerable": False},
    ]))
    emb = DesignedEmbeddings()

    def service(*replies):
        svc = QAService(settings=Settings(index_dir=tmp_path / "idx", k=2), embeddings=emb, store=MemoryStore(emb),
                        llm=scripted_llm(*replies))
        svc.ingest([corpus])
        return svc

    return service, load_dataset(data)


def test_tiny_end_to_end_eval_with_fakes(tiny, tmp_path):
    make, items = tiny
    svc = make("The thieves took jewels [1].", "The ECB cut its rate [1].", "NOT IN ARTICLES")
    report = run_eval(svc, items)
    by_id = {r.id: r for r in report.results}
    assert by_id["q1"].correct and by_id["q1"].gold_rank == 1 and by_id["q1"].citation_precision == 1.0
    assert by_id["q2"].correct is False and by_id["q2"].gold_rank == 1
    assert by_id["q3"].correct and by_id["q3"].abstained
    overall = report.overall
    assert overall["accuracy"] == pytest.approx(2 / 3) and overall["hit@1"] == 1.0
    # a passage holding the accepted answer: "jewels" is in q1's; q2's French passage says "inchangé"
    assert by_id["q1"].answer_rank == 1 and by_id["q2"].answer_rank is None and not by_id["q3"].answer_ranked
    assert overall["answer_hit@10"] == 0.5
    assert report.groups()["cross-lingual"]["accuracy"] == 0.0
    files = write([report], tmp_path / "out", "Tiny")
    assert {"markdown", "json", "hit_at_k", "latency", "accuracy_by_group"} <= set(files)
    text = files["markdown"].read_text()
    assert "| answer accuracy | 0.667 |" in text and "q2" in text  # q2 is listed among the failures


def test_interrupted_run_resumes_where_it_stopped(tiny, tmp_path):
    make, items = tiny
    out = tmp_path / "runs"
    first = run_eval(make("jewels [1]."), items, out_dir=out, limit=1, config_name="ours")
    assert [r.id for r in first.results] == ["q1"]
    # the second run must not ask q1 again: the scripted model holds only the two remaining replies
    second = run_eval(make("The ECB left its rate unchanged [1].", "NOT IN ARTICLES"), items, out_dir=out,
                      config_name="ours")
    assert [r.id for r in second.results] == ["q1", "q2", "q3"]
    assert all(r.correct for r in second.results)
    assert len((out / "ours" / "results.jsonl").read_text().splitlines()) == 3
    assert "ours" in markdown([second], "t")


def test_resumed_results_are_rescored_against_the_current_answers(tiny, tmp_path):
    from qa.evaluation.datasets import EvalItem

    make, items = tiny
    out = tmp_path / "runs"
    run_eval(make("The thieves took jewels [1]."), items, out_dir=out, limit=1, config_name="ours")
    fixed = [EvalItem(**{**items[0].__dict__, "answers": ("diamonds",)})]
    again = run_eval(make(), fixed, out_dir=out, config_name="ours")
    assert again.results[0].correct is False  # same stored answer, new accepted answers, no model call


def test_cut_off_last_line_and_failed_questions_run_again(tiny, tmp_path):
    make, items = tiny
    out = tmp_path / "runs"
    run_eval(make("The thieves took jewels [1].", "The ECB cut its rate [1]."), items, out_dir=out, limit=2,
             config_name="ours")
    results = out / "ours" / "results.jsonl"
    first, second = results.read_text().splitlines()
    failed = json.loads(second) | {"error": "the model server stopped", "answer": ""}
    results.write_text(first + "\n" + json.dumps(failed) + "\n" + '{"id": "q3", "quest')  # killed mid-write
    again = run_eval(make("The ECB left its rate unchanged [1].", "NOT IN ARTICLES"), items, out_dir=out,
                     config_name="ours")
    assert [r.id for r in again.results] == ["q1", "q2", "q3"] and all(r.correct for r in again.results)
    assert again.overall["errors"] == 0
    results.write_text('{"id": "q1", "quest\n' + first + "\n")  # broken in the middle: not guessed at
    with pytest.raises(InputError, match="results.jsonl:1"):
        run_eval(make(), items, out_dir=out, config_name="ours")


def test_results_of_another_index_are_not_resumed(tiny, tmp_path):
    make, items = tiny
    out = tmp_path / "runs"
    svc = make("The thieves took jewels [1].")
    run_eval(svc, items, out_dir=out, limit=1, config_name="ours")
    meta = out / "ours" / "run.json"
    stored = json.loads(meta.read_text())
    del stored["translate_queries"]  # a run made before that setting existed, which is at its default now
    meta.write_text(json.dumps(stored))
    assert [r.id for r in run_eval(svc, items, out_dir=out, limit=1, config_name="ours").results] == ["q1"]
    # a run stored before the recipe was recorded may have used a retired path: not resumed
    meta.write_text(json.dumps({k: v for k, v in stored.items() if k != "recipe"}))
    with pytest.raises(InputError, match="earlier version"):
        run_eval(svc, items, out_dir=out, config_name="ours")
    meta.write_text(json.dumps(stored))
    from qa.settings import Recipe

    svc.recipe = Recipe(checks=False)
    with pytest.raises(InputError, match=r"different configuration \(recipe\)"):
        run_eval(svc, items, out_dir=out, config_name="ours")
    svc.recipe = Recipe()
    svc.settings = svc.settings.model_copy(update={"index_dir": tmp_path / "other"})
    with pytest.raises(InputError, match=r"different configuration \(index_dir\)"):
        run_eval(svc, items, out_dir=out, config_name="ours")


def test_an_empty_index_is_an_error_not_a_row_of_abstentions(tmp_path):
    from qa.errors import IndexMissingError

    emb = DesignedEmbeddings()
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx"), embeddings=emb, store=MemoryStore(emb),
                    llm=scripted_llm())
    items = [load_dataset_item("Who?")]
    with pytest.raises(IndexMissingError, match="newsqa ingest"):
        run_eval(svc, items)


def load_dataset_item(question):
    from qa.evaluation.datasets import parse_item

    return parse_item({"id": "x", "question": question}, "t:1")


def test_citation_recall_counts_gold_articles_never_retrieved(tiny):
    from qa.evaluation.datasets import EvalItem

    make, items = tiny
    two_gold = [EvalItem(**{**items[0].__dict__, "gold_sources": (*items[0].gold_sources, "missing.txt")})]
    report = run_eval(make("The thieves took jewels [1]."), two_gold)
    assert report.results[0].citation_recall == 0.5
    silent = run_eval(make("NOT IN ARTICLES"), items[:1])
    assert silent.results[0].citation_recall == 0.0  # an answerable question answered with no citation


def test_config_files_and_the_baseline(tmp_path):
    from qa.errors import ConfigError
    from qa.evaluation.configs import resolve_config
    from qa.factory import build_fusion
    from qa.settings import Recipe

    base = Settings(index_dir=tmp_path)
    name, baseline, recipe = resolve_config("baseline", base)
    assert (name, baseline.chunk_size, baseline.chunk_overlap, recipe.splitter, baseline.k) == (
        "baseline", 1000, 200, "tutorial", 4)
    assert baseline.collection != base.collection and baseline.embedding_dimensions is None
    # the tutorial pipeline ranks by dense similarity alone and checks nothing: every switch of ours is off in it,
    # including any added later (a new bool field defaults to on in ours)
    switches = [f for f, info in Recipe.model_fields.items() if info.annotation in (bool, "bool")]
    assert len(switches) >= 6 and all(getattr(Recipe(), f) for f in switches), switches
    assert not any(getattr(recipe, f) for f in switches), switches
    assert recipe == Recipe.tutorial() and recipe.prompt_style == "plain" and recipe.embedding_dtype == "float32"
    assert recipe.query_prompt is None and recipe.document_template is None and recipe.splitter == "tutorial"
    assert recipe.max_per_article == 0 and recipe.sentence_window == 0
    fusion = build_fusion(recipe)
    assert fusion.keyword == fusion.recency == fusion.recency_prior == fusion.period == 0
    assert fusion.period_search == fusion.recent_search == 0 and fusion.dense > 0
    assert resolve_config("ours", base)[2] == Recipe()
    variant = tmp_path / "nowindow.json"
    variant.write_text('{"name": "nowindow", "recipe": {"sentence_window": 0}}')
    assert resolve_config(str(variant), base)[1:] == (base, Recipe(sentence_window=0))
    good = tmp_path / "k8.json"
    good.write_text('{"name": "k8", "settings": {"k": 8}}')
    assert resolve_config(str(good), base)[1].k == 8
    for text, message in (("{not json", "not a JSON config file"), ("[1, 2]", "write an object"),
                          ('{"name": "../up", "settings": {}}', "names a results folder"),
                          ('{"settings": {"k": 0}}', "k"), ('{"recipe": {"checks": "maybe"}}', "checks"),
                          ('{"recipe": {"focus_chars": 400}}', "focus_chars"),
                          ('{"settings": {"keyword": false}}', 'keyword belong.s. under "recipe"')):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            resolve_config(str(bad), base)


def test_multiple_choice_items_are_asked_and_searched_with_their_options(tiny):
    from qa.evaluation.datasets import parse_item
    from qa.answer.prompt import with_options

    make, _items = tiny
    item = parse_item({"id": "m1", "question": "What did thieves take from the Louvre?", "choices":
                       ["Paintings", "Jewels", "Statues"], "answer": "Jewels"}, "t:1")
    assert with_options(item.question, item.choices) == ("What did thieves take from the Louvre?\n"
                                                         "Options: Paintings; Jewels; Statues")

    svc = make("Jewels [1].", "Thieves took jewels [1].")
    prompts, searched = record_prompts_and_searches(svc)
    report = run_eval(svc, [item], with_options=True)
    assert report.results[0].correct and report.results[0].question == item.question
    assert "Options: Paintings; Jewels; Statues" in prompts.seen[0]
    assert searched == [(item.question, ("Paintings", "Jewels", "Statues"))]
    # The model is asked for one option, not for sentences; a free-form item keeps the sentence rule.
    assert prompts.seen[0].endswith(OPTION_RULE) and ANSWER_RULE not in prompts.seen[0]
    free = parse_item({"id": "f1", "question": "What did thieves take from the Louvre?", "answers": ["Jewels"]},
                      "t:2")
    run_eval(svc, [free])
    assert prompts.seen[-1].endswith(ANSWER_RULE) and OPTION_RULE not in prompts.seen[-1]


def test_multiple_choice_items_are_open_questions_by_default_and_scored_by_their_options(tiny, tmp_path):
    """Open mode: the options reach neither the search nor the model, which is asked for sentences; the reply is
    right when it names the right option and no other."""
    from qa.evaluation.datasets import parse_item

    make, _items = tiny
    item = parse_item({"id": "m1", "question": "What did thieves take from the Louvre?", "choices":
                       ["Paintings", "Jewels", "Statues"], "answer": "Jewels"}, "t:1")
    svc = make("Thieves took jewels [1].", "Thieves took jewels and paintings [1].")
    prompts, searched = record_prompts_and_searches(svc)
    out = tmp_path / "runs"
    report = run_eval(svc, [item], out_dir=out, config_name="ours")
    assert report.results[0].correct
    assert "Options:" not in prompts.seen[0] and prompts.seen[0].endswith(ANSWER_RULE)
    assert searched == [(item.question, ())]
    assert json.loads((out / "ours" / "run.json").read_text())["with_options"] is False
    # a stored open run is not resumed as a multiple-choice one
    with pytest.raises(InputError, match=r"different configuration \(with_options\)"):
        run_eval(svc, [item], out_dir=out, config_name="ours", with_options=True)
    # naming two options is not an answer
    assert not run_eval(make("Thieves took jewels and paintings [1]."), [item]).results[0].correct


def test_the_plain_baseline_prompt_has_no_reply_rule():
    from qa.answer.chain import AnswerChain
    from qa.retrieve.retriever import Retriever

    recorder = PromptRecorder()
    llm = scripted_llm("Jewels.")
    llm.callbacks = [recorder]
    chain = AnswerChain(Retriever(MemoryStore(DesignedEmbeddings()), DesignedEmbeddings()), llm,
                        prompt_style="plain", verify=False)
    chunk = Chunk("c1", "a1", "Thieves took jewels.", 0, "Louvre", "s1", date(2025, 10, 20), "en", None, "h")
    answer = chain.invoke("Which?", passages=[Passage(1, chunk, 0.9, chunk.text)],
                          options=("Paintings", "Jewels"))
    assert answer.text == "Jewels."
    shown = ("Context:\n[1] (published 2025-10-20; Louvre)\nThieves took jewels.\n\n"
             "Question: Which?\nOptions: Paintings; Jewels")
    assert recorder.seen == [shown]
