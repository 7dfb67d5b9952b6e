"""Numbers in an answer that no passage holds are the model's own: their citations go, and an answer made of
them is not given."""

from __future__ import annotations

from datetime import date

from qa.answer.chain import finalize
from qa.answer.citations import lexical_scorer
from qa.answer.figures import drop_unsupported_figures, invented, known_numbers, numbers_in
from qa.answer.prompt import ABSTAIN_TEXT
from qa.types import Chunk, Passage

REOPENING = ("Notre-Dame de Paris reopened on Saturday 7 December 2024, five years after the fire of April 2019 "
             "that destroyed its spire. About 2,000 craftsmen worked on the site; the works cost 700 million euros.")


def _passages(*texts: str) -> list[Passage]:
    return [Passage(i, Chunk(f"c{i}", f"a{i}", t, 0, "t", "s", date(2024, 12, 8), "en", None, f"h{i}"), 0.9, t)
            for i, t in enumerate(texts, start=1)]


def test_numbers_are_read_with_separators_decimals_and_small_words():
    assert {"2000", "700", "5", "7", "2024", "2019"} <= numbers_in(REOPENING)
    assert "2.5" in numbers_in("le taux de 2,5 %") and "2" in numbers_in("a rate of 2.0%")
    assert "1000" in numbers_in("1 000 personnes") and "7" in numbers_in("sept minutes")


def test_a_number_is_invented_only_when_no_passage_question_or_as_of_year_has_it():
    known = known_numbers(_passages(REOPENING), "What happened to Notre-Dame in 2019?", date(2024, 12, 10))
    assert invented("It reopened on 7 December 2024 after five years [1].", known) == []
    assert invented("About 2000 people worked on it, at a cost of 700 million euros [1].", known) == []
    assert invented("The fire started on April 19, 2019 [1].", known) == ["19"]
    assert invented("It was put out on May 10 [1].", known) == ["10"]  # as-of day 10 excuses nothing


def test_citations_of_sentences_with_invented_figures_are_removed():
    known = known_numbers(_passages(REOPENING), "When did Notre-Dame reopen?", None)
    sentences = ["Notre-Dame reopened on 7 December 2024 [1].", "Some 3,400 guests attended [1]."]
    text, removed = drop_unsupported_figures(" ".join(sentences), sentences, known)
    assert text == "Notre-Dame reopened on 7 December 2024 [1]. Some 3,400 guests attended."
    assert removed == [1]


def test_an_answer_made_mostly_of_invented_figures_abstains():
    passages = _passages(REOPENING)
    question = "Who caused the fire that damaged Notre-Dame in 2019?"
    raw = ("The fire that damaged Notre-Dame in 2019 was caused by an electrical fault [1]. "
           "It started on April 19, 2019. It was put out on May 10, 2019 [1].")
    answer = finalize(question, date(2024, 12, 10), passages, raw, lexical_scorer)
    assert answer.abstained and answer.text.startswith(ABSTAIN_TEXT) and "19, 10" in answer.text
    fine = "Notre-Dame reopened on Saturday 7 December 2024, five years after the fire [1]."
    kept = finalize("When did Notre-Dame reopen?", date(2024, 12, 10), passages, fine, lexical_scorer)
    assert not kept.abstained and kept.citations[0].n == 1
    mixed = fine + " Some 3,400 guests attended [1]. The works cost 700 million euros [1]."
    partly = finalize("When did Notre-Dame reopen?", date(2024, 12, 10), passages, mixed, lexical_scorer)
    assert not partly.abstained and "3,400 guests attended." in partly.text and (1, None) in partly.repointed_citations


GAS = ("Much of the June increase was driven by gasoline prices, which were up nearly 60% over the year. "
       "Electricity prices rose by 13.7 percent.")


def test_shares_are_read_as_shares_with_symbols_words_and_number_words():
    from qa.answer.figures import shares_in

    assert {"60%", "13.7%"} <= shares_in(GAS) and "40%" not in shares_in(GAS)
    assert shares_in("le taux de 2,5 % et vingt pour cent; forty-five per cent") >= {"2.5%", "20%", "45%"}
    assert shares_in("the fastest pace in 40 years") == set()
    assert "25%" in shares_in("a 25-percent tariff") and "21%" in shares_in("twenty one percent")
    assert "21%" in shares_in("vingt et un pour cent") and "1%" not in shares_in("twenty one percent")
    assert {"40%", "50%"} <= shares_in("between 40-50% of voters") and "40%" in shares_in("40 to 50 percent")
    # "0.5%" is half a per cent, not 5%: a thousands reading needs groups of three digits.
    assert "5%" not in shares_in("rates rose 0.5%") and "25%" not in shares_in("a 2.5% rise")
    assert "1000" in numbers_in("1,000 people") and "5" not in numbers_in("0.5")


def test_a_share_is_known_only_as_a_share():
    known = known_numbers(_passages(GAS), "How much have gas prices increased?", None)
    title_40 = Passage(2, Chunk("c2", "a2", "Prices rose.", 0, "Inflation at its fastest pace in 40 years", "s",
                                date(2022, 6, 10), "en", None, "h2"), 0.9, "Prices rose.")
    known |= known_numbers([title_40], "", None)
    assert "40" in known
    assert invented("Gas prices are up 40% [2].", known) == ["40%"]  # "40 years" backs no 40%
    assert invented("Gas prices are up 60 % [1].", known) == []
    assert invented("Electricity rose 13.7% and gas 60 percent [1].", known) == []
    assert invented("It was the fastest pace in 40 years [2].", known) == []


def test_multiple_choice_options_are_not_figures_the_answer_may_state():
    passages = _passages("More than 7,100 monkeypox cases were confirmed in the US as of Thursday.")
    question = "About how many monkeypox cases are in the US?"
    asked = question + "\nOptions: 10,000; 500,000"

    def on_topic(claim, sentences):  # the reply is on the passage's topic, as an embedding scorer would find
        return [0.9] * len(sentences)

    on_topic.min_support = 0.5
    # The options alone would back the guess; the question without them does not.
    assert not finalize(asked, None, passages, "500,000 [1]", on_topic).abstained
    answer = finalize(asked, None, passages, "500,000 [1]", on_topic, plain_question=question)
    assert answer.abstained and "500,000" in answer.text
    kept = finalize(asked, None, passages, "More than 7,100 cases [1].", on_topic, plain_question=question)
    assert not kept.abstained and kept.citations[0].n == 1
