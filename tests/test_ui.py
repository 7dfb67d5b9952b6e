from datetime import date

import pytest

from qa.errors import ConfigError
from qa.types import Answer, Chunk, Citation, Passage, Retrieved
from ui.render import answer_markdown, reading_html, sources_html
from ui.server import is_loopback, parse_auth, serve


def _passage(n, text, lang="fr", url=None):
    chunk = Chunk(f"c{n}", f"a{n}", text, 0, f"Title {n} <b>", "seeds/004.txt", date(2026, 2, 10), lang, url, "h")
    return Passage(n, chunk, 0.5, text)


def test_answer_markers_link_to_source_cards():
    p = _passage(2, "Bessent a rencontré He en Malaisie en octobre.")
    answer = Answer("q", None, "In October 2025 [2].", False, [Citation(2, p, p.chunk.text)], [_passage(1, "x"), p])
    assert answer_markdown(answer) == "In October 2025 [\\[2\\]](#src-2)."
    html = sources_html(answer)
    assert 'id="src-2"' in html and "<mark>Bessent a rencontré He en Malaisie en octobre.</mark>" in html
    assert "Title 2 &lt;b&gt;" in html  # text is escaped
    assert "<details><summary>1 more retrieved passages, not cited</summary>" in html
    assert '<span class="lang">fr</span>' in html and "2026-02-10" in html


def test_abstention_shows_the_closest_passages():
    answer = Answer("q", None, "The articles do not contain the answer to this question.", True, [],
                    [_passage(1, "a", url="https://example.org/x")])
    assert answer_markdown(answer).startswith("_The articles")
    html = sources_html(answer)
    assert "No answer in the articles" in html and 'href="https://example.org/x"' in html


def test_the_passages_being_read_are_listed():
    html = reading_html(Retrieved((_passage(1, "a", url="https://example.org/x"), _passage(2, "b"))))
    assert html.startswith('<p class="newsqa-reading">Reading 2 passages…</p>')
    assert "[1] <b>Title 1 &lt;b&gt;</b>" in html and "[2] <b>Title 2 &lt;b&gt;</b>" in html
    assert 'href="https://example.org/x"' in html and "<code>seeds/004.txt</code>" in html and "2026-02-10" in html
    assert "Reading 1 passage…" in reading_html(Retrieved((_passage(1, "a"),)))


def test_non_loopback_host_needs_auth():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    assert parse_auth("ann:pw") == ("ann", "pw")
    with pytest.raises(ConfigError, match="USER:PASSWORD"):
        parse_auth("ann")
    with pytest.raises(ConfigError, match="--auth"):
        serve(service=None, host="0.0.0.0", port=1)
    with pytest.raises(ConfigError, match="NEWSQA_API_TOKEN"):  # page login alone leaves /api open
        serve(service=None, host="0.0.0.0", port=1, auth="ann:pw")
    with pytest.raises(ConfigError, match="--auth"):  # a token alone leaves the page open
        serve(service=None, host="192.168.1.20", port=1, token="t")
