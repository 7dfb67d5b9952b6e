from datetime import date

import pytest

from qa.retrieve.dates import annotate_dates, resolve_month, resolve_weekday

PUB = date(2026, 2, 10)  # a Tuesday


@pytest.mark.parametrize(
    "month, future, expected",
    [(10, False, (2025, 10)), (2, False, (2026, 2)), (1, False, (2026, 1)), (4, True, (2026, 4)), (1, True, (2027, 1))],
)
def test_month_without_year_resolves_against_publication(month, future, expected):
    assert resolve_month(month, PUB, future) == expected


def test_weekday_is_latest_on_or_before_publication_unless_future():
    assert resolve_weekday(0, PUB, future=False) == date(2026, 2, 9)  # Monday before
    assert resolve_weekday(1, PUB, future=False) == PUB  # same weekday: the day itself
    assert resolve_weekday(4, PUB, future=True) == date(2026, 2, 13)  # coming Friday


def test_french_october_in_february_article_is_previous_year():
    text = "Bessent a rencontré He pour la dernière fois en Malaisie en octobre, lors des discussions."
    assert "en octobre (= October 2025)" in annotate_dates(text, PUB)


def test_future_sentence_takes_next_occurrence():
    text = "Une rencontre aurait lieu dans les semaines à venir, avant une visite du président en avril."
    assert "en avril (= April 2026)" in annotate_dates(text, PUB)
    assert "in May (= May 2026)" in annotate_dates("She will travel to Beijing in May.", PUB)
    assert "en avril (= April 2026)" in annotate_dates("Il a dit qu'il se rendrait en Chine en avril.", date(2025, 11, 3))


def test_explicit_years_and_lowercase_english_words_are_left_alone():
    text = "He met Xi in March 2024 and on October 5, 2025. Prices may march higher."
    assert annotate_dates(text, PUB) == text


def test_weekdays_and_relative_phrases():
    out = annotate_dates("Officials travelled last week, Bessent said on Monday. Le ministre a parlé hier.", PUB)
    assert "last week (= week of Monday 2 February 2026)" in out
    assert "Monday (= Monday 9 February 2026)" in out
    assert "hier (= Monday 9 February 2026)" in out


def test_no_publication_date_means_no_change():
    assert annotate_dates("Met in October.", None) == "Met in October."


def test_next_and_last_weekdays_are_never_the_publication_day():
    monday = date(2026, 2, 9)
    assert "next Monday (= Monday 16 February 2026)" in annotate_dates("They will meet next Monday.", monday)
    assert "last Monday (= Monday 2 February 2026)" in annotate_dates("They met last Monday.", monday)
    assert "on Monday (= Monday 9 February 2026)" in annotate_dates("They met on Monday.", monday)
    assert "lundi prochain (= Monday 16 February 2026)" in annotate_dates("Ils se verront lundi prochain.", monday)
    assert "lundi dernier (= Monday 2 February 2026)" in annotate_dates("Il est parti lundi dernier.", monday)


def test_two_days_away_and_weekdays_with_their_full_date():
    monday = date(2026, 2, 9)
    assert "avant-hier (= Saturday 7 February 2026)" in annotate_dates("Il est arrivé avant-hier.", monday)
    assert "(= Sunday" not in annotate_dates("Il est arrivé avant-hier.", monday)
    assert "après-demain (= Wednesday 11 February 2026)" in annotate_dates("Ils partent après-demain.", monday)
    assert "(=" not in annotate_dates("The talks on Monday, 2 February 2026 failed.", monday)
    assert "(=" not in annotate_dates("Les discussions du lundi 2 février 2026 ont échoué.", monday)
    # Day and month without the year: the weekday is not resolved to another day (seen on realtimeqa).
    tuesday = date(2022, 8, 2)
    assert annotate_dates("They met in Taipei on Wednesday, August 3.", tuesday) == (
        "They met in Taipei on Wednesday, August 3 (= Wednesday 3 August 2022).")
    assert "mercredi (=" not in annotate_dates("Ils se verront mercredi 3 août.", tuesday)
    assert "Monday (= Monday 1 August 2022) at 10" in annotate_dates("They left on Monday at 10 a.m.", tuesday)


def test_a_month_and_day_are_annotated_as_one_date():
    monday = date(2026, 2, 9)
    assert "on December 25th (= Thursday 25 December 2025)" in annotate_dates("It happened on December 25th.", monday)
    assert "in January (= January 2026) 4%" in annotate_dates("Prices rose in January 4% higher.", monday)


def test_because_of_is_not_a_future_cue_but_is_due_to_is():
    # A Yellowstone report published on Tuesday 14 June 2022 read "Monday (= Monday 20 June 2022)" because
    # "Due to predictions of higher flood levels" was taken for the future.
    tuesday = date(2022, 6, 14)
    past = annotate_dates("Due to predictions of floods, the park began moving visitors out Monday, he said.", tuesday)
    assert "Monday (= Monday 13 June 2022)" in past
    ahead = annotate_dates("The minister is due to visit the park on Monday.", tuesday)
    assert "Monday (= Monday 20 June 2022)" in ahead


def test_a_full_date_with_a_stray_comma_after_the_month_is_left_alone():
    text = "one of the masterminds of the September, 11, 2001, attacks"
    assert annotate_dates(text, date(2022, 8, 2)) == text


@pytest.mark.parametrize("sentence", [
    "The summit, due to open on Friday, gathers 40 leaders.",
    "The minister is also due to visit the park on Monday.",
    "Leaders are now due to meet on Monday.",
])
def test_due_to_before_a_verb_looks_ahead(sentence):
    tuesday = date(2022, 6, 14)
    out = annotate_dates(sentence, tuesday)
    assert "(= Friday 17 June 2022)" in out or "(= Monday 20 June 2022)" in out
