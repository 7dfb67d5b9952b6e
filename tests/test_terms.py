"""An answer sentence whose own words are mostly in no passage is the model's: its citations go, and an answer
made of such sentences is not given (qa/answer/terms.py)."""

from __future__ import annotations

from datetime import date

from qa.answer.chain import finalize
from qa.answer.citations import lexical_scorer
from qa.answer.prompt import ABSTAIN_TEXT
from qa.answer.terms import MIN_NEW_TERMS, answer_language, known_terms, terms, ungrounded
from qa.types import Chunk, Passage

REOPENING = ("Notre-Dame de Paris reopened on Saturday 7 December 2024 (= Saturday 7 December 2024), five years "
             "after the fire of April 2019 that destroyed its spire and roof. About 2,000 craftsmen worked on the "
             "site, rebuilding the oak frame; the works cost 700 million euros.")
REOUVERTURE = ("Notre-Dame de Paris a rouvert ses portes samedi, cinq ans après l'incendie d'avril 2019 qui avait "
               "détruit sa flèche.")
QUESTION = "Who caused the fire that damaged Notre-Dame in 2019?"
GUESS = ("The fire that damaged Notre-Dame in 2019 was caused by a combination of factors, including a lightning "
         "strike and a faulty electrical system [1].")


def _passages(*texts: str, language: str = "en") -> list[Passage]:
    return [Passage(i, Chunk(f"c{i}", f"a{i}", t, 0, "Notre-Dame reopens", "s", date(2024, 12, 8), language, None,
                             f"h{i}"), 0.9, t)
            for i, t in enumerate(texts, start=1)]


def test_terms_are_stemmed_content_words_without_numbers_or_markers():
    assert terms("The craftsmen rebuilt 2 roofs [1].", "en") == {"craftsmen", "rebuilt", "roof"}
    assert "octob" in terms("samedi 25 octobre (= Saturday 25 October 2025)", "en")  # resolved dates count


def test_a_sentence_adding_mostly_unknown_words_is_ungrounded_and_names_them_as_written():
    passages = _passages(REOPENING)
    known = known_terms(passages, QUESTION, "en")
    assert ungrounded(GUESS, QUESTION, known, "en", passages) == [
        "combination", "factors", "including", "lightning", "strike", "faulty", "electrical", "system"]
    grounded = "It reopened on Saturday 7 December 2024, after craftsmen rebuilt the spire and the oak frame [1]."
    assert ungrounded(grounded, QUESTION, known, "en", passages) == []


def test_short_uncited_and_cross_lingual_sentences_are_not_judged():
    passages = _passages(REOPENING)
    known = known_terms(passages, QUESTION, "en")
    short = "A lightning strike [1]."  # fewer new words than MIN_NEW_TERMS: left to the similarity check
    assert len(terms(short, "en")) < MIN_NEW_TERMS and ungrounded(short, QUESTION, known, "en", passages) == []
    assert ungrounded(GUESS.replace(" [1]", ""), QUESTION, known, "en", passages) == []  # nothing cited
    french = _passages(REOUVERTURE, language="fr")  # an English sentence drawn from French text translates it
    assert ungrounded(GUESS, QUESTION, known_terms(french, QUESTION, "en"), "en", french) == []
    assert ungrounded(GUESS, QUESTION, known, None, passages) == []  # language unknown


def test_words_of_the_question_and_about_the_sources_are_not_new():
    passages = _passages(REOPENING)
    question = "Which craftsmen rebuilt the oak frame of Notre-Dame after the 2019 fire?"
    known = known_terms(passages, question, "en")
    framed = "According to passage [1], the article reports that the craftsmen rebuilt the oak frame [1]."
    assert ungrounded(framed, question, known, "en", passages) == []


def test_finalize_abstains_on_an_ungrounded_answer_and_uncites_an_ungrounded_sentence():
    passages = _passages(REOPENING)
    as_of = date(2024, 12, 10)
    answer = finalize(QUESTION, as_of, passages, GUESS, lexical_scorer)
    assert answer.abstained and answer.text.startswith(ABSTAIN_TEXT) and "lightning, strike" in answer.text
    assert answer.citations == []
    fine = "Notre-Dame reopened on Saturday 7 December 2024, five years after the fire destroyed its spire [1]."
    question = "When did Notre-Dame reopen?"
    more = "About 2,000 craftsmen worked on the site [1]."
    mixed = finalize(question, as_of, passages, f"{fine} {more} {GUESS}", lexical_scorer)
    assert not mixed.abstained and mixed.citations[0].n == 1  # one sentence of three: only it loses [1]
    assert "faulty electrical system." in mixed.text and "system [1]" not in mixed.text
    assert (1, None) in mixed.repointed_citations
    off = finalize(QUESTION, as_of, passages, GUESS, lexical_scorer, terms=False)
    assert not off.abstained  # the setting check_terms turns it off


def test_an_english_answer_over_french_passages_only_is_not_judged():
    """The answer's language is its own, not the passages' best match: over French passages alone, an English
    sentence that translates them keeps its citation."""
    french = _passages(REOUVERTURE + " La toiture et la charpente ont été reconstruites.", language="fr")
    reply = "Notre-Dame reopened its doors on Saturday, five years after the blaze that destroyed its spire and roof [1]."
    assert answer_language(reply) == "en"
    def agree(claim, sentences):  # a cross-lingual scorer that finds the support (the real one: embeddings)
        return [1.0] * len(sentences)

    answer = finalize("When did Notre-Dame reopen?", date(2024, 12, 10), french, reply, agree)
    assert not answer.abstained and [c.n for c in answer.citations] == [1]
    assert finalize("When did Notre-Dame reopen?", date(2024, 12, 10), french, GUESS, agree).citations  # not judged


def test_numbers_written_in_words_are_left_to_the_figures_check():
    assert terms("Volkswagen will cut thirty-five thousand jobs across three plants [1].", "en") == {
        "volkswagen", "cut", "job", "across", "plant"}


def test_languages_without_a_stemmer_are_not_judged():
    passage = _passages("巴黎圣母院在2024年12月7日重新开放。", language="zh")
    reply = "巴黎圣母院在火灾五年后重新开放，大火曾烧毁尖塔，也烧毁了屋顶，约有两千名工匠参与重建 [1]。"
    known = known_terms(passage, QUESTION, "zh")
    assert ungrounded(reply, QUESTION, known, "zh", passage) == []


def test_sentences_uncited_by_the_figures_check_count_towards_abstaining():
    passages = _passages(REOPENING)
    fine = "Notre-Dame reopened on Saturday 7 December 2024, five years after the fire destroyed its spire [1]."
    figure = "The fire started on April 15 and burned for 15 hours [1]."
    answer = finalize(QUESTION, date(2024, 12, 10), passages, f"{fine} {figure} {GUESS}", lexical_scorer)
    assert answer.abstained and "lightning" in answer.text  # two of three sentences are the model's own
