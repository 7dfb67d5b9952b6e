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
