"""newsqa as an OpenAI-compatible chat model (qa/openai_compat.py), driven by the official `openai` client
against real uvicorn on loopback; fakes for the models."""

from __future__ import annotations

import httpx
import openai
import pytest

from fakes import bessent_service
from live_api import running
from qa.api import create_api

REPLY = "Bessent last met He Lifeng in October 2025 [1]."


def _service(tmp_path, *replies, ingest=True):
    return bessent_service(tmp_path, *replies, ingest=ingest)


@pytest.fixture
def served(tmp_path):
    service = _service(tmp_path, REPLY, REPLY, REPLY)
    with running(create_api(service, token="t0ken")) as base:
        yield base, service


def client(base: str, key: str = "t0ken") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30)


def test_models_lists_newsqa(served):
    base, _ = served
    assert [m.id for m in client(base).models.list().data] == ["newsqa"]


def test_a_completion_keeps_its_markers_ends_with_sources_and_carries_the_citations(served):
    base, _ = served
    reply = client(base).chat.completions.create(
        model="newsqa", messages=[{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": "When did Bessent last meet He Lifeng?"}],
        temperature=0.7, top_p=0.9, max_tokens=5, extra_body={"as_of": "2026-02-11"})
    text = reply.choices[0].message.content
    assert text.startswith(REPLY) and "\n\nSources:\n[1] " in text and "bessent.txt" in text
    assert reply.choices[0].finish_reason == "stop" and reply.model == "newsqa"
    extra = reply.model_extra
    assert extra["citations"][0]["n"] == 1 and extra["citations"][0]["language"] == "fr"
    assert "Malaisie" in extra["citations"][0]["quote"] and extra["abstained"] is False


def test_a_streamed_completion_arrives_in_openai_chunks(served):
    base, _ = served
    stream = client(base).chat.completions.create(
        model="newsqa", stream=True, messages=[{"role": "user", "content": "When did Bessent last meet He Lifeng?"}],
        extra_body={"as_of": "2026-02-11"})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text.startswith(REPLY) and "Sources:" in text
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"][0]["n"] == 1


def test_a_follow_up_turn_uses_the_conversation(served):
    base, service = served
    asked = []
    ask = service.ask
    service.ask = lambda question, **kw: asked.append((question, kw.get("history"))) or ask(question, **kw)
    client(base).chat.completions.create(model="newsqa", messages=[
        {"role": "user", "content": "When did Bessent last meet He Lifeng?"},
        {"role": "assistant", "content": REPLY + "\n\nSources:\n[1] Bessent et He"},
        {"role": "user", "content": [{"type": "text", "text": "Where was that?"}]}])
    question, history = asked[0]
    assert question == "Where was that?"
    assert [t["role"] for t in history] == ["user", "assistant"] and "Bessent" in history[0]["content"]


def test_a_wrong_token_is_401(served):
    base, _ = served
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").chat.completions.create(model="newsqa",
                                                          messages=[{"role": "user", "content": "Hi?"}])


@pytest.mark.parametrize("body,param", [
    ({"messages": [{"role": "user", "content": "Q?"}], "n": 2}, "n"),
    ({"messages": [{"role": "user", "content": "Q?"}], "tools": [{"type": "function", "function": {"name": "f"}}]},
     "tools"),
    ({"messages": [{"role": "user", "content": "Q?"}], "response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "user", "content": "   "}]}, "messages"),
    ({"messages": [{"role": "assistant", "content": "Hello"}]}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": "not a list"}, "messages"),
    ({"messages": [{"role": "user", "content": "Q?"}], "as_of": "last week"}, None),
])
def test_what_cannot_be_honoured_is_a_400_in_openai_shape(served, body, param):
    base, _ = served
    res = httpx.post(f"{base}/v1/chat/completions", json={"model": "newsqa", **body},
                     headers={"Authorization": "Bearer t0ken"}, timeout=30)
    assert res.status_code == 400, res.text
    error = res.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if param:
        assert error["param"] == param


def test_an_empty_index_is_409_in_openai_shape(tmp_path):
    with running(create_api(_service(tmp_path, REPLY, ingest=False))) as base:
        for stream in (False, True):
            res = httpx.post(f"{base}/v1/chat/completions", timeout=30,
                             json={"model": "newsqa", "stream": stream, "messages": [{"role": "user", "content": "Q?"}]})
            assert res.status_code == 409 and res.json()["error"]["type"] == "IndexMissingError"
