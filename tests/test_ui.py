import copy
from datetime import date

import pytest

from qa.errors import ConfigError
from qa.types import Answer, Chunk, Citation, Passage, Retrieved
from ui.render import answer_markdown, reading_html, sources_html
from ui.server import is_loopback, parse_auth, serve

SKIP = {"__type__": "update"}  # gr.skip(): the component keeps what it shows


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
    planted = reading_html(Retrieved((_passage(1, "a", url="javascript:alert(1)"),)))
    assert "<a " not in planted and "<code>javascript:alert(1)</code>" in planted


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


def _page_service(tmp_path, *replies, k=2):
    from fakes import DesignedEmbeddings, MemoryStore, scripted_llm

    from qa.service import QAService
    from qa.settings import Settings

    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "bessent.txt").write_text("date 2026-02-10\nBessent et He\n\nBessent a rencontré He Lifeng pour la "
                                        "dernière fois en Malaisie en octobre.", encoding="utf-8")
    emb = DesignedEmbeddings()
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx", k=k, translate_queries=False), embeddings=emb,
                    store=MemoryStore(emb), llm=scripted_llm(*replies))
    svc.ingest([folder])
    return svc


def test_a_chat_turn_shows_searching_then_the_passages_read_then_the_answer(tmp_path):
    from ui.app import chat_turn

    svc = _page_service(tmp_path, "Bessent last met He Lifeng in October 2025 [1].")
    # each state as the page got it (the chat list is the same object throughout)
    states = [copy.deepcopy(state) for state in
              chat_turn(svc, "When did Bessent last meet He Lifeng?", [], [], "2026-02-11", "", [], 2, False)]
    assert all(len(state) == 5 for state in states)
    assert states[0][3] == "<p>Searching the articles…</p>" and states[0][0][-1]["content"] == "…"
    reading = states[1][3]
    assert reading.startswith('<p class="newsqa-reading">Reading 1 passage…</p>') and "Bessent et He" in reading
    tokens = states[2:-1]
    assert len(tokens) > 1 and all(state[3] == SKIP and state[4] == SKIP for state in tokens)
    assert tokens[-1][0][-1]["content"] == "Bessent last met He Lifeng in October 2025 [1]."
    chat, history, box, panel, note = states[-1]
    assert chat[-1]["content"] == "Bessent last met He Lifeng in October 2025 [\\[1\\]](#src-1)."
    assert panel.startswith("<h4>Sources</h4>") and 'id="src-1"' in panel and "newsqa-reading" not in panel
    assert box == "" and note == ""
    assert history[-1] == {"role": "assistant", "content": "Bessent last met He Lifeng in October 2025 [1]."}


def test_a_chat_turn_without_passages_to_read_keeps_searching_then_abstains(tmp_path):
    from ui.app import chat_turn

    svc = _page_service(tmp_path, "never asked")
    states = [copy.deepcopy(state) for state in
              chat_turn(svc, "When did Bessent last meet He Lifeng?", [], [], "2026-02-11", "2030-01-01", [], 2, False)]
    assert [state[3] for state in states[:2]] == ["<p>Searching the articles…</p>", SKIP]
    assert len(states) == 3 and "No answer in the articles" in states[-1][3]
    assert states[-1][0][-1]["content"].startswith("_The articles do not contain")
