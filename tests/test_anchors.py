"""Answers resting on articles about another subject than the question's (qa/answer/anchors.py)."""

from datetime import date

from qa.answer.anchors import anchors, missing_anchors
from qa.answer.chain import finalize
from qa.types import Chunk, Passage

HOCKEY = ("The Colorado Avalanche won the Stanley Cup on Sunday, beating the Tampa Bay Lightning 2-1 in Game 6 "
          "to end the champions' run.")
WORLD_CUP = "Argentina beat France on penalties in the final of the FIFA World Cup in Qatar."
PARIS = "Marie-José Pérec et Teddy Riner ont allumé la vasque olympique."
PARIS_ARTICLE = "Les Jeux de Paris 2024 se sont ouverts sur la Seine. " + PARIS


def _passage(text: str, n: int = 1, language: str = "en", title: str = "Sports") -> Passage:
    chunk = Chunk(f"c{n}", f"a{n}", text, 3, title, "s", date(2022, 6, 27), language, None, f"h{n}")
    return Passage(n, chunk, 0.9, text)


def test_anchors_are_the_capitalised_words_after_the_first():
    assert anchors("Which country won the 2022 FIFA World Cup final?", "en") == {"fifa", "world", "cup"}
    assert anchors("Who won?", "en") == set()


def test_an_answer_on_an_article_about_another_subject_is_off_subject():
    question = "Which country won the 2022 FIFA World Cup final?"
    assert missing_anchors(question, [_passage(HOCKEY)], "en") == {"fifa", "world"}
    assert missing_anchors(question, [_passage(WORLD_CUP)], "en") == set()
    # Judged only in the question's language, with two anchors at least.
    assert missing_anchors(question, [_passage(HOCKEY, language="fr")], "en") == set()
    assert missing_anchors("Who won the Stanley Cup?", [_passage(WORLD_CUP)], "en") == set()


def test_the_whole_article_counts_not_only_the_chunk():
    question = "Qui a allumé la vasque olympique lors de la cérémonie d'ouverture des Jeux de Paris 2024 ?"
    chunk = _passage(PARIS, language="fr", title="Cérémonie")
    assert missing_anchors(question, [chunk], "fr")
    assert missing_anchors(question, [chunk], "fr", text_of=lambda p: PARIS_ARTICLE) == set()


def test_finalize_abstains_naming_what_the_cited_articles_lack():
    question = "Which country won the 2022 FIFA World Cup final?"
    raw = "The Colorado Avalanche won the 2022 FIFA World Cup final [1]."
    answer = finalize(question, date(2022, 7, 1), [_passage(HOCKEY)], raw)
    assert answer.abstained and "do not mention FIFA, World" in answer.text
    kept = finalize(question, date(2022, 7, 1), [_passage(HOCKEY)], raw, anchors=False)
    assert not kept.abstained
    right = finalize(question, date(2022, 7, 1), [_passage(WORLD_CUP)], "Argentina won it [1].")
    assert not right.abstained and right.citations[0].n == 1


def test_a_year_given_to_a_date_of_an_undated_article_is_taken_out():
    """The English seed article has no publication date: "meets Monday, August 28" has no year."""
    from pathlib import Path

    from qa.answer.undated import drop_invented_years

    seed = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_f5718d7dae20ace6.txt"
    text = seed.read_text(encoding="utf-8").split("\n")[0]
    chunk = Chunk("c1", "a1", text, 0, "Raimondo in Beijing", "seed", None, "en", None, "h1")
    undated = Passage(1, chunk, 0.9, text)
    question = "When does Gina Raimondo meet her Chinese counterpart?"
    raw = "Gina Raimondo meets her Chinese counterpart on Monday, August 28, 2026 [1]."
    answer = finalize(question, date(2026, 2, 11), [undated], raw)
    assert not answer.abstained and "2026" not in answer.text
    assert answer.text == "Gina Raimondo meets her Chinese counterpart on Monday, August 28 (the article gives no year) [1]."
    # A dated article's year stays, and so does a year the undated passage itself gives.
    dated = Passage(1, Chunk("c1", "a1", text, 0, "T", "seed", date(2023, 8, 25), "en", None, "h1"), 0.9, text)
    assert drop_invented_years("On August 28, 2023 [1].", [dated], question, "en") == "On August 28, 2023 [1]."
    told = Passage(1, Chunk("c1", "a1", text + " (2023)", 0, "T", "seed", None, "en", None, "h1"), 0.9, text + " 2023")
    assert drop_invented_years("On August 28, 2023 [1].", [told], question, "en") == "On August 28, 2023 [1]."


def test_days_and_months_are_no_anchors():
    assert anchors("Which Italian volcano erupted on Monday?", "en") == {"italian"}
    assert anchors("Who won the Super Bowl in February?", "en") == {"super", "bowl"}
