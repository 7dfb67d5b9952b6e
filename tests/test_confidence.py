"""The model's token probabilities as answer signals (qa/answer/confidence.py) and the runtime's logprobs."""

import math

import numpy as np

from qa.answer.confidence import abstain_mass, signals, token_entries
from qa.llm.ik import token_logprobs


def _entry(token, p, top=()):
    return {"token": token, "logprob": math.log(p), "top_logprobs": [{"token": t, "logprob": math.log(q)} for t, q in top]}


def test_abstain_mass_sums_the_tokens_that_begin_the_marker():
    first = _entry("The", 0.5, [("The", 0.5), ("NOT", 0.3), ("N", 0.05), ("No", 0.1)])
    # "No" (an answer may begin "No, ...") is not the marker's capitals; "NOT" and "N" are.
    assert abs(abstain_mass(first) - 0.35) < 1e-9


def test_signals_read_the_words_before_the_first_citation():
    entries = [_entry("NOT", 0.2, [("Paris", 0.7), ("NOT", 0.2)]), _entry(" Paris", 0.9), _entry(" [", 0.5),
               _entry("1", 0.01)]
    out = signals(entries)
    assert abs(out["abstain_p"] - 0.2) < 1e-9
    assert abs(out["answer_min"] - math.log(0.2)) < 1e-9  # the citation's unlikely "1" does not count
    assert abs(out["answer_mean"] - (math.log(0.2) + math.log(0.9)) / 2) < 1e-9


def test_no_logprobs_no_signals():
    assert signals(token_entries({})) == {}
    assert token_entries({"logprobs": {"content": [{"token": "a", "logprob": -0.1}]}}) == [{"token": "a", "logprob": -0.1}]


def test_runtime_logprobs_are_a_normalised_distribution():
    logits = np.array([2.0, 1.0, 0.5, -1.0], dtype=np.float32)
    entry = token_logprobs(logits, 1, 2, lambda t: f"t{t}")
    total = np.exp(logits - logits.max()).sum()
    assert abs(entry["logprob"] - math.log(math.exp(1.0 - 2.0) / total)) < 1e-6
    assert [alt["token"] for alt in entry["top_logprobs"]] == ["t0", "t1"]
    assert sum(math.exp(a["logprob"]) for a in entry["top_logprobs"]) < 1.0


def test_the_chain_asks_for_logprobs_only_when_recording():
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from qa.answer.chain import AnswerChain

    chain = AnswerChain(retriever=None, llm=FakeListChatModel(responses=["x"]))
    assert getattr(chain.generate_turn, "kwargs", {}) == {}
    chain.record_confidence()
    assert chain.generate_turn.kwargs == {"logprobs": True, "top_logprobs": 5}
