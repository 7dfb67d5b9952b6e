"""The ik_llama.cpp chat model's own logic, over a scripted engine (the real one runs in the real-model suite)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from qa.errors import ModelError
from qa.llm.ik import CacheFull, ChatIkLlama, StopWatch, render_chat, shared_prefix

END = 999
VOCAB = 2000


class ScriptedEngine:
    """Prompt tokens are the prompt's bytes; output tokens (1000 + i) stand for the pieces given, then END."""

    chat_template = None
    eos_text = "<|im_end|>"

    def __init__(self, pieces: list[bytes], n_ctx: int = 4096):
        self.n_ctx = n_ctx
        self.pieces = pieces
        self.script: list[int] = []
        self.fed: list[tuple[int, int]] = []  # (position, how many tokens)
        self.seqs: list[int] = []  # the sequence of each feed
        self.forgot: list[tuple[int, int]] = []  # (position, sequence)
        self.cleared = 0
        self.cells: dict[int, int] = {}  # per sequence, how many positions it holds
        self.fail_on_feed = False
        self.refuse = 0  # how many feeds to refuse with CacheFull

    def tokenize(self, text: str) -> list[int]:
        self.script = [1000 + i for i in range(len(self.pieces))] + [END]
        return list(text.encode("utf-8"))

    def piece(self, token: int) -> bytes:
        return self.pieces[token - 1000] if 1000 <= token < 1000 + len(self.pieces) else b"?"

    def is_end(self, token: int) -> bool:
        return token == END

    def forget_from(self, position: int, seq: int) -> None:
        self.forgot.append((position, seq))
        self.cells[seq] = min(self.cells.get(seq, 0), position)

    def clear(self) -> None:
        self.cleared += 1
        self.cells = {}

    def feed(self, tokens: list[int], position: int, seq: int) -> None:
        if self.fail_on_feed:
            raise ModelError("native failure")
        if self.refuse:
            self.refuse -= 1
            raise CacheFull("fragmented")
        assert position == self.cells.get(seq, 0), "tokens must follow what the sequence holds"
        if sum(self.cells.values()) + len(tokens) > self.n_ctx:
            raise CacheFull("full")
        self.cells[seq] = position + len(tokens)
        self.fed.append((position, len(tokens)))
        self.seqs.append(seq)

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
    assert engine.forgot[-1] == (shared, 0)
    assert engine.fed[0] == (shared, len(first_prompt.encode()) - shared + len("second") - len("first"))
    assert result.response_metadata["timings"]["cached_tokens"] == shared


def test_an_identical_prompt_still_evaluates_its_last_token():
    engine = ScriptedEngine([b"Yes."])
    llm = model(engine)
    llm.invoke(ask("same"))
    n = len(llm._slots[0])
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
    assert all(slot == [] for slot in llm._slots) and engine.cleared == 1
    engine.fail_on_feed = False
    llm.invoke(ask("three"))
    assert engine.fed[-2][0] == 0  # the whole prompt evaluated again


def test_sampling_with_a_temperature_is_seeded():
    from qa.llm.ik import pick

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


def test_the_settings_build_the_ik_runtime_and_a_missing_gguf_names_the_fix(tmp_path):
    from qa.errors import ModelError
    from qa.factory import build_llm
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    llm = build_llm(Settings(llm_model=str(gguf), llm_context=2048, llm_max_tokens=64, threads=1))
    assert isinstance(llm, ChatIkLlama)
    assert (llm.n_ctx, llm.max_tokens, llm.n_threads) == (2048, 64, 1)
    with pytest.raises(ModelError, match="not a GGUF file"):
        build_llm(Settings(llm_model=str(tmp_path / "missing.gguf")))


def test_answers_and_translations_each_keep_their_instructions_cached():
    engine = ScriptedEngine([b"ok"])
    llm = model(engine)
    answer_rules = "Answer from the passages, cite them as [n], say so when they do not hold the answer."
    translate_rules = "Translate the question into French; reply with the translation only."
    llm.invoke(ask("Passages: one. Question: who?", answer_rules))
    llm.invoke(ask("Who won?", translate_rules))
    second = llm.invoke(ask("Passages: two. Question: where?", answer_rules))
    assert engine.seqs[-1] == 0 and second.response_metadata["timings"]["cached_tokens"] > len(answer_rules)
    third = llm.invoke(ask("Where is it?", translate_rules))
    assert engine.seqs[-1] == 1 and third.response_metadata["timings"]["cached_tokens"] > len(translate_rules)


def test_a_prompt_that_would_not_fit_beside_the_other_drops_it_first():
    engine = ScriptedEngine([b"fine"], n_ctx=300)
    llm = model(engine, max_tokens=8)
    llm.invoke(ask("x" * 150, "A"))
    result = llm.invoke(ask("y" * 150, "B"))
    assert result.content == "fine"
    assert (0, 0) in engine.forgot and llm._slots[0] == [] and engine.cleared == 0


def test_a_fragmented_cache_drops_the_other_prompt_and_keeps_this_slots_prefix():
    rules = "Answer from the passages, cite them as [n], say so when they do not hold the answer."
    engine = ScriptedEngine([b"ok"])
    llm = model(engine)
    llm.invoke(ask("Passages: one.", rules))
    llm.invoke(ask("Translate me", "Translate into French."))
    engine.refuse = 1  # the next feed finds no free run of cells
    result = llm.invoke(ask("Passages: two.", rules))
    assert result.content == "ok" and engine.cleared == 0
    assert llm._slots[1] == [] and result.response_metadata["timings"]["cached_tokens"] > len(rules)
    engine.refuse = 2  # still no room after the other prompt went: start from an empty cache
    result = llm.invoke(ask("Passages: three.", rules))
    assert result.content == "ok" and engine.cleared == 1
    assert result.response_metadata["timings"]["cached_tokens"] == 0


def test_room_is_made_for_the_answer_beside_another_cached_prompt():
    engine = ScriptedEngine([b"a", b"b", b"c"], n_ctx=360)  # two prompts of ~161 tokens fit
    llm = model(engine, max_tokens=60)
    llm.invoke(ask("x" * 80, "A"))
    result = llm.invoke(ask("y" * 80, "B"))  # both prompts fit, the answer's 60 tokens beside them would not
    assert result.content == "abc" and engine.cleared == 0
    assert [slot for slot in llm._slots if slot] == [llm._slots[1]] and (0, 0) in engine.forgot


def test_a_reader_that_stops_early_leaves_the_model_usable_and_its_cache_kept():
    rules = "Answer from the passages, cite them as [n], say so when they do not hold the answer."
    engine = ScriptedEngine([b"one", b" two", b" three", b" four"])
    llm = model(engine)
    stream = llm.stream(ask("Passages: one.", rules))
    assert next(stream).content == "one"
    stream.close()  # a client gone
    result = llm.invoke(ask("Passages: two.", rules))  # waits for the worker to end; no deadlock
    assert result.content == "one two three four"
    assert result.response_metadata["timings"]["cached_tokens"] > len(rules)


def test_concurrent_first_requests_load_one_engine(monkeypatch):
    import threading
    import time

    import qa.llm.ik_engine

    made = []

    def slow_engine(*args, **kwargs):
        made.append(1)
        time.sleep(0.1)
        return ScriptedEngine([b"ok"])

    monkeypatch.setattr(qa.llm.ik_engine, "IkEngine", slow_engine)
    monkeypatch.setattr("pathlib.Path.is_file", lambda self: True)
    llm = ChatIkLlama(model_path="m.gguf")
    results = []
    threads = [threading.Thread(target=lambda: results.append(llm.invoke(ask("hi")).content)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == [1] and results == ["ok", "ok"]


def test_generation_stops_when_the_context_is_full():
    engine = ScriptedEngine([b"w"] * 50, n_ctx=100)  # a prompt of 82 tokens
    llm = model(engine, max_tokens=100)
    result = llm.invoke(ask("q", "s"))
    assert result.response_metadata["finish_reason"] == "length"
    assert len(llm._slots[0]) == 100 and result.content == "w" * 18


def test_after_a_stop_string_the_next_request_reuses_the_cache_correctly():
    rules = "Answer from the passages, cite them as [n], say so when they do not hold the answer."
    engine = ScriptedEngine([b"Paris", b"\n\nQuestion:", b" more"])
    llm = model(engine)
    assert llm.invoke(ask("Passages: one.", rules), stop=["\n\nQuestion:"]).content == "Paris"
    again = llm.invoke(ask("Passages: two.", rules))  # the fake checks every position follows the cache
    assert again.response_metadata["timings"]["cached_tokens"] > len(rules)


def test_sampling_keeps_to_the_top_k_and_top_p():
    from qa.llm.ik import pick

    logits = np.array([5.0, 4.0, 0.0, -1.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert {pick(logits, 1.0, rng, top_k=2) for _ in range(200)} == {0, 1}
    assert {pick(logits, 1.0, rng, top_p=0.5) for _ in range(50)} == {0}
    assert {pick(logits, 50.0, rng, top_k=40, top_p=1.0) for _ in range(400)} == {0, 1, 2, 3}


def test_templates_get_an_empty_bos_and_the_models_eos_and_a_broken_one_names_the_fix():
    template = "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"
    assert render_chat(template, [{"role": "user", "content": "hi"}], "</s>") == "hi</s>"
    with pytest.raises(ModelError, match="standard Jinja"):
        render_chat("{% for %}", [{"role": "user", "content": "hi"}])


def test_an_answer_and_two_languages_translations_in_turn_all_stay_cached():
    """data/sample has French and Spanish beside English: each question makes two translation prompts and an
    answer prompt; with two slots they evicted each other and every prompt was evaluated whole."""
    engine = ScriptedEngine([b"ok"])
    llm = model(engine)
    rules = {"answer": "Answer from the passages, cite them as [n], say so when they do not hold the answer.",
             # (the fake's tokens are bytes: the two differ within MIN_REUSE of the start, as real tokens do)
             "fr": "French: translate the question word for word. Reply with the French question only.",
             "es": "Spanish: translate the question word for word. Reply with the Spanish question only."}
    for round_ in range(3):
        for family in ("fr", "es", "answer"):
            result = llm.invoke(ask(f"question number {round_}", rules[family]))
            if round_:
                assert result.response_metadata["timings"]["cached_tokens"] > len(rules[family]), family


def test_logprobs_come_in_openai_shape_when_asked_for_whole_and_streamed():
    engine = ScriptedEngine([b"In", b" October", b" [1]."])
    llm = model(engine).bind(logprobs=True, top_logprobs=2)
    content = llm.invoke(ask("When?")).response_metadata["logprobs"]["content"]
    assert [e["token"] for e in content] == ["In", " October", " [1]."]
    assert all(e["logprob"] <= 0 and len(e["top_logprobs"]) == 2 for e in content)
    streamed = [c.response_metadata.get("logprobs") for c in llm.stream(ask("When?"))]
    assert [s for s in streamed if s][0]["content"] == content
    assert "logprobs" not in model(ScriptedEngine([b"x"])).invoke(ask("When?")).response_metadata
