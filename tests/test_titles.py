import json

import pytest

from qa.ingest.loaders import load_file
from qa.ingest.titles import first_line_title, guess_title, is_dateline, slug_title


@pytest.mark.parametrize(
    "url, title",
    [
        ("https://www.example.com/2022/07/26/us/oak-fire-yosemite-evacuations/index.html",
         "Oak fire yosemite evacuations"),
        # A fragment and a query are not the path; numbers in the slug are dropped.
        ("https://news.example.org/2022/07/13/economy/cpi-inflation-june-2022/index.html?x=1#:~:text=Prices",
         "Cpi inflation june"),
        # The segment with the most words wins over a section name and a trailing id.
        ("https://example.com/europe/live-news/russia-ukraine-war-news-07-12-22/h_c164ac931cc8414108b8bb",
         "Russia ukraine war news"),
        ("https://example.fr/economie/la-bce-maintient-ses-taux-directeurs.html", "La bce maintient ses taux directeurs"),
        ("https://example.com/article/a%C3%A9roport-de-nantes-ferm%C3%A9-ce-soir", "Aéroport de nantes fermé ce soir"),
    ],
)
def test_slug_title_reads_the_words_of_the_path(url, title):
    assert slug_title(url) == title


@pytest.mark.parametrize("url", [None, "", "https://example.com/", "https://example.com/story/12345678",
                                 "https://example.com/live-news/index.html", "not a url at all"])
def test_no_slug_title_without_words(url):
    assert slug_title(url) is None


@pytest.mark.parametrize("line", ["CNN —", "Washington CNN —", "New York CNN Business —", "PARIS (Reuters) -", "AP",
                                  "BRUSSELS --", "(CNN)"])
def test_datelines_are_recognised(line):
    assert is_dateline(line)


@pytest.mark.parametrize("line", ["Rates held at 4%", "The ECB kept rates unchanged on Thursday — again.",
                                  "Inflation slows in June", "Breaking news -", "Ukraine war -", "Editor's note -"])
def test_headings_and_sentences_are_not_datelines(line):
    assert not is_dateline(line)


def test_first_line_title_passes_over_a_dateline():
    text = "Washington CNN —\n\nSenators agreed on a gun safety framework on Sunday after weeks of talks.\nMore."
    assert first_line_title(text) == "Senators agreed on a gun safety framework on Sunday after weeks of talks."
    assert first_line_title("Rates held\n\nThe central bank kept its rates.") == "Rates held"
    long = "A " + "very " * 40 + "long opening sentence."
    cut = first_line_title(long)
    assert cut.endswith("…") and len(cut) <= 92 and long.startswith(cut[:-1])


def test_first_line_title_drops_an_inline_dateline_with_its_outlet_only():
    assert first_line_title("WASHINGTON (AP) — The Senate voted on Tuesday.") == "The Senate voted on Tuesday."
    assert first_line_title("The Senate — after weeks — voted.") == "The Senate — after weeks — voted."
    assert first_line_title("###\n# Rates held\nThe bank kept its rates.") == "Rates held"


def test_slug_titles_are_bounded_and_lose_file_suffixes():
    long = slug_title("https://example.com/" + "-".join(["word"] * 200))
    assert long is not None and len(long) <= 100 and long.endswith("word")
    assert slug_title("https://example.com/uploads/my-photo-file.jpg") == "My photo file"
    assert slug_title("https://example.de/ß-straße-über") == "ß straße über"  # "ß".upper() is two letters


def test_guess_title_prefers_the_slug():
    text = "CNN —\n\nThe park closed every entrance after floods washed out roads."
    assert guess_title(text, "https://example.com/2022/06/15/weather/yellowstone-flooding-roads/index.html") == (
        "Yellowstone flooding roads"
    )
    assert guess_title(text, "https://example.com/story/123") == (
        "The park closed every entrance after floods washed out roads."
    )


def test_untitled_records_take_their_title_from_url_or_first_line(tmp_path):
    path = tmp_path / "untitled.jsonl"
    records = [
        {"url": "https://example.com/2022/08/03/politics/kansas-abortion-amendment-vote/index.html",
         "text": "CNN —\n\nVoters in Kansas rejected a ballot measure on Tuesday.", "published": "2022-08-03"},
        {"id": "t2", "text": "Washington CNN —\n\nThe Senate passed the bill late on Thursday night.",
         "published": "2022-08-05"},
        {"id": "t3", "title": "Given title", "url": "https://example.com/some-other-slug-words",
         "text": "CNN —\n\nA titled record keeps its own title."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    titles = [a.title for a in load_file(path)]
    assert titles == ["Kansas abortion amendment vote", "The Senate passed the bill late on Thursday night.",
                      "Given title"]
