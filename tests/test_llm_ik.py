"""The ik_llama.cpp chat model's own logic, over a scripted engine (the real one runs in the real-model suite)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from qa.errors import ModelError
from qa.llm_ik import ChatIkLlama, StopWatch, render_chat, shared_prefix

END = 999
VOCAB = 2000


class ScriptedEngine:
    """Prompt tokens are the prompt's bytes; output tokens (1000 + i) stand for the pieces given, then END."""

    chat_template = None

    def __init__(self, pieces: list[bytes], n_ctx: int = 4096):
        self.n_ctx = n_ctx
        self.pieces = pieces
        self.script: list[int] = []
        self.fed: list[tuple[int, int]] = []  # (position, how many tokens)
        self.forgot: list[int] = []
        self.fail_on_feed = False

    def tokenize(self, text: str) -> list[int]:
        self.script = [1000 + i for i in range(len(self.pieces))] + [END]
        return list(text.encode("utf-8"))

    def piece(self, token: int) -> bytes:
        return self.pieces[token - 1000]

    def is_end(self, token: int) -> bool:
        return token == END

    def forget_from(self, position: int) -> None:
        self.forgot.append(position)

    def feed(self, tokens: list[int], position: int) -> None:
        if self.fail_on_feed:
            raise ModelError("native failure")
        self.fed.append((position, len(tokens)))

    def logits(self) -> np.ndarray:
        out = np.zeros(VOCAB, dtype=np.float32)
        out[self.script.pop(0)] = 1.0
        return out


def model(engine: ScriptedEngine, **kw) -> ChatIkLlama:
    llm = ChatIkLlama(model_path="unused.gguf", **kw)
    llm._engine = engine
    return llm


def ask(text: str, system: str = "Answer from the passages.") -> list:
    return [SystemMessage(content=system), HumanMessage(content=text)]


def test_streams_the_pieces_then_one_usage_chunk():
    engine = ScriptedEngine([b"In", b" October", b" [1]."])
    chunks = list(model(engine).stream(ask("When?")))
    assert "".join(str(c.content) for c in chunks) == "In October [1]."
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    prompt = render_chat(None, [{"role": "system", "content": "Answer from the passages."},
                                {"role": "user", "content": "When?"}])
    assert usage == [{"input_tokens": len(prompt.encode()), "output_tokens": 3,
                      "total_tokens": len(prompt.encode()) + 3}]


def test_the_next_prompt_evaluates_only_what_differs_from_the_cached_one():
    engine = ScriptedEngine([b"Yes."])
    llm = model(engine)
    llm.invoke(ask("first question"))
    first_prompt = render_chat(None, [{"role": "system", "content": "Answer from the passages."},
                                      {"role": "user", "content": "first question"}])
    engine.fed.clear()
    result = llm.invoke(ask("second question"))
    shared = first_prompt.index("first")  # the system turn and the user header are the same bytes
    assert engine.forgot[-1] == shared
    assert engine.fed[0] == (shared, len(first_prompt.encode()) - shared + len("second") - len("first"))
    assert result.response_metadata["timings"]["cached_tokens"] == shared


def test_an_identical_prompt_still_evaluates_its_last_token():
    engine = ScriptedEngine([b"Yes."])
    llm = model(engine)
    llm.invoke(ask("same"))
    n = len(llm._cached)
    llm.invoke(ask("same"))
    # the cache held the prompt plus the answer's tokens; all but the prompt's last token are reused
    prompt_len = len(render_chat(None, [{"role": "system", "content": "Answer from the passages."},
                                        {"role": "user", "content": "same"}]).encode())
    assert n == prompt_len + 1
    assert engine.fed[-2] == (prompt_len - 1, 1)


def test_a_character_split_across_two_pieces_is_joined():
    engine = ScriptedEngine([b"Caf", "é".encode()[:1], "é".encode()[1:], b" [1]"])
    text = "".join(str(c.content) for c in model(engine).stream(ask("Where?")))
    assert text == "Café [1]"


def test_a_stop_string_across_pieces_ends_the_answer_and_is_not_shown():
    engine = ScriptedEngine([b"Paris", b" END", b"OF", b" more"])
    result = model(engine).invoke(ask("Where?"), stop=["ENDOF"])
    assert result.content == "Paris "
    assert result.response_metadata["finish_reason"] == "stop"


def test_max_tokens_cuts_the_answer_with_finish_reason_length():
    engine = ScriptedEngine([b"a", b"b", b"c", b"d"])
    result = model(engine, max_tokens=2).invoke(ask("?"))
    assert result.content == "ab"
    assert result.response_metadata["finish_reason"] == "length"


def test_a_prompt_longer_than_the_context_names_the_fix():
    engine = ScriptedEngine([b"x"], n_ctx=64)
    with pytest.raises(ModelError, match="NEWSQA_LLM_CONTEXT"):
        model(engine).invoke(ask("word " * 40))


def test_after_a_native_failure_the_cache_starts_again_from_nothing():
    engine = ScriptedEngine([b"ok"])
    llm = model(engine)
    llm.invoke(ask("one"))
    engine.fail_on_feed = True
    with pytest.raises(ModelError):
        llm.invoke(ask("two"))
    assert llm._cached == [] and engine.forgot[-1] == 0
    engine.fail_on_feed = False
    llm.invoke(ask("three"))
    assert engine.fed[-2][0] == 0  # the whole prompt evaluated again


def test_sampling_with_a_temperature_is_seeded():
    from qa.llm_ik import pick

    logits = np.log(np.array([0.2, 0.5, 0.3], dtype=np.float32))
    draws = [pick(logits, 1.0, np.random.default_rng(7)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same draw
    assert pick(logits, 0.0, np.random.default_rng(7)) == 1  # greedy


def test_stop_watch_holds_back_a_possible_start_of_a_stop_string():
    watch = StopWatch(["\n\nQuestion:"])
    assert watch.push("Paris.\n") == "Paris."
    assert watch.push("\nQ") == ""
    assert watch.push("uestion:") == ""
    assert watch.stopped
    other = StopWatch(["\n\nQuestion:"])
    assert other.push("a\n") == "a"
    assert other.push("b") == "\nb"


def test_the_chat_template_comes_from_the_model_and_can_refuse():
    template = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}>{% endif %}"
    assert render_chat(template, [{"role": "user", "content": "hi"}]) == "[user]hi>"
    with pytest.raises(ModelError, match="refused"):
        render_chat("{{ raise_exception('no system role') }}", [{"role": "system", "content": "x"}])
    assert shared_prefix([1, 2, 3], [1, 2, 4]) == 2


def test_the_settings_pick_the_runtime(tmp_path):
    from qa.factory import build_llm
    from qa.llm import ChatXLlamaCpp
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert isinstance(build_llm(Settings(llm_model=str(gguf))), ChatIkLlama)
    assert isinstance(build_llm(Settings(llm_model=str(gguf), llm_runtime="xllamacpp")), ChatXLlamaCpp)
