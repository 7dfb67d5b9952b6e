"""The answering chain in LCEL: retrieve -> numbered prompt -> LLM -> checked citations -> Answer."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Any, Callable, Iterator, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from qa.answer.anchors import missing_anchors, passage_text
from qa.answer.asked import gives, second_look_request
from qa.answer.citations import (
    CITATION,
    SentenceScorer,
    answer_sentences,
    asked_line,
    attach_missing_citations,
    build_citations,
    is_abstention,
    lexical_scorer,
    parse_citations,
    uncite,
    verify_citations,
)
from qa.answer.confidence import signals, token_entries
from qa.answer.coverage import in_period, not_covered_text, uncovered_period
from qa.answer.figures import invented, known_numbers
from qa.answer.prompt import (
    ABSTAIN_TEXT,
    answer_prompt,
    format_passages,
    neutralize,
    reply_rule,
    with_options,
)
from qa.answer.repeats import drop_repeats
from qa.answer.terms import answer_language, known_terms, terms, ungrounded
from qa.answer.undated import drop_invented_years
from qa.retrieve.context import estimated_tokens, fit_budget
from qa.retrieve.retriever import Filters, Retriever
from qa.retrieve.scope import question_language
from qa.types import Answer, Passage, Retrieved


def _invented_figures(text, sentences, passages, question, as_of) -> dict[str, list[str]]:
    """{sentence: the numbers in it that no passage, the question or the as-of year holds}."""
    known = known_numbers(passages, question, as_of)
    return {s: invented(s, known) for s in sentences}


def _ungrounded_words(text, sentences, passages, question, as_of) -> dict[str, list[str]]:
    """{sentence: its new words, when most of them are in no passage}."""
    language = answer_language(text)
    known = known_terms(passages, question, language)
    return {s: ungrounded(s, question, known, language, passages) for s in sentences}


def _off_subject(question: str, numbers: Sequence[int], passages: list[Passage],
                 text_of: Callable[[Passage], str] = passage_text) -> str:
    """The question's names that the cited passages lack, as written in the question, when they lack most
    (qa/answer/anchors.py); "" when the passages speak of the question's subject."""
    by_n = {p.n: p for p in passages}
    language = answer_language(asked_line(question))
    missing = missing_anchors(asked_line(question), [by_n[n] for n in numbers if n in by_n], language, text_of)
    if not missing:
        return ""
    words = re.findall(r"[\w'’.-]+", asked_line(question))
    return ", ".join(dict.fromkeys(w for w in words if w[:1].isupper() and set(terms(w, language)) & missing))


def finalize(
    question: str,
    as_of: date | None,
    passages: list[Passage],
    raw: str,
    scorer: SentenceScorer = lexical_scorer,
    timings_ms: dict[str, float] | None = None,
    models: dict[str, str] | None = None,
    verify: bool = True,
    reason: str | None = None,
    figures: bool = True,
    terms: bool = True,
    plain_question: str | None = None,
    anchors: bool = True,
    text_of: Callable[[Passage], str] = passage_text,
) -> Answer:
    """Turn the model's raw text into an Answer: abstain, or keep only citations of given passages. `reason`:
    the model was not asked (the passages cannot answer, see qa/answer/coverage.py); it is shown after the abstention.
    `plain_question`: the question without a multiple-choice item's options, where it differs (read by the
    figures check)."""
    timings_ms = dict(timings_ms or {})
    models = dict(models or {})
    if reason:
        return Answer(question, as_of, f"{ABSTAIN_TEXT} {reason}", True, [], passages, timings_ms, models, raw)
    if not passages or is_abstention(raw):
        return Answer(question, as_of, ABSTAIN_TEXT, True, [], passages, timings_ms, models, raw)
    text, _numbers, dropped = parse_citations(raw, len(passages))
    repointed: list[tuple[int, int | None]] = []
    if verify:
        text, repointed = verify_citations(text, passages, scorer, question=question)
        text, _added = attach_missing_citations(text, passages, scorer)
    text = drop_repeats(text)  # after the citations settle: a repeat re-pointed to the first one's passage goes too
    if verify:  # a year given to a date of an undated article is the model's own (qa/answer/undated.py)
        text = drop_invented_years(text, passages, plain_question or question, answer_language(text))
    _text, numbers, _ = parse_citations(text, len(passages))
    own = 0  # sentences found to be the model's own so far (their citations gone, so later checks skip them)
    # An option is a guess offered to the model, not a figure the answer may state unbacked: figures are read
    # against the question alone.
    checks = ((figures and _invented_figures, "stated figures", plain_question or question),
              (terms and _ungrounded_words, "used words", question))
    for check, label, asked in checks:
        if not (verify and check and numbers):
            continue
        # Figures no passage holds (qa/answer/figures.py), sentences whose own words are mostly in no passage
        # (qa/answer/terms.py): such sentences are the model's own and lose their citations; an answer made mostly of
        # them is not given.
        sentences = answer_sentences(text) or [text]
        found = check(text, sentences, passages, asked, as_of)
        flagged = [s for s in sentences if found[s]]
        if flagged and 2 * (len(flagged) + own) >= len(sentences):
            items = ", ".join(dict.fromkeys(x for s in flagged for x in found[s]))
            note = f"{ABSTAIN_TEXT} (A draft answer {label} found in none of them: {items}.)"
            return Answer(question, as_of, note, True, [], passages, timings_ms, models, raw, dropped, repointed)
        if flagged:
            own += len(flagged)
            text, removed = uncite(text, sentences, lambda s: bool(found[s]))
            repointed += [(n, None) for n in removed]
            _text, numbers, _ = parse_citations(text, len(passages))
    if verify and not numbers:
        # Nothing in the passages supports the answer: say so rather than pass on a guess.
        return Answer(question, as_of, ABSTAIN_TEXT, True, [], passages, timings_ms, models, raw, dropped, repointed)
    if verify and anchors and (missing := _off_subject(plain_question or question, numbers, passages, text_of)):
        note = f"{ABSTAIN_TEXT} (A draft answer cited articles that do not mention {missing}.)"
        return Answer(question, as_of, note, True, [], passages, timings_ms, models, raw, dropped, repointed)
    citations = build_citations(text, numbers, passages, scorer, question)
    return Answer(question, as_of, text, False, citations, passages, timings_ms, models, raw, dropped, repointed)


# A reply made of passage numbers only ("[1]", "[2][3].") answers nothing; the 1.5B model gives one now and then.
_NOTHING_LEFT = re.compile(r"^[\s,.;:()-]*$")
WORDS_PLEASE = "Your reply has only passage numbers. Answer the question in words, then cite the passage like [1]."


def _asking(question: str, options: Sequence[str]) -> dict[str, Any]:
    """The chain state's question: as the model is asked it (with its options on a line after it), the question
    alone (`plain`, read by `_plain_question`), and the options."""
    return {"question": with_options(question, options), "plain": question, "options": tuple(options)}


def _plain_question(state: dict[str, Any]) -> str:
    """The question without a multiple-choice item's options: what passages are searched with (beside the
    options) and what the period is read from (an option "September" is no period)."""
    return state.get("plain") or state["question"]


def _asks_model(state: dict[str, Any]) -> bool:
    """Whether the model is asked: there are passages and the coverage check found no reason to abstain first."""
    return bool(state["passages"]) and not state.get("reason")


def only_citations(raw: str) -> bool:
    """"[1]", "[2][3]." — but not "2 [1]." or "1,200 [1]", which answer "how many" questions."""
    return bool(CITATION.search(raw)) and bool(_NOTHING_LEFT.match(CITATION.sub("", raw)))


class AnswerChain:
    """Builds and runs the LCEL chain. Collaborators are passed in; nothing is loaded here."""

    def __init__(
        self,
        retriever: Retriever,
        llm: BaseChatModel,
        *,
        scorer: SentenceScorer = lexical_scorer,
        models: dict[str, str] | None = None,
        prompt_style: str = "cited",
        verify: bool = True,
        passage_budget: int = 3000,
        check_coverage: bool = True,
        check_figures: bool = True,
        check_terms: bool = True,
        period_filter: bool = True,
        second_look: bool = True,
    ) -> None:
        self.second_look = second_look
        self.retriever = retriever
        self.period_filter = period_filter
        self.passage_budget = passage_budget
        self.llm = llm
        self.scorer = scorer
        self.models = dict(models or {})
        self.verify = verify
        self.check_coverage = check_coverage
        self.check_figures = check_figures
        self.check_terms = check_terms
        self.prompt = answer_prompt(prompt_style)
        self.generate_turn: Runnable = llm  # messages -> AIMessage (invoke) / AIMessageChunk (stream)
        self.generate: Runnable = self.prompt | self.generate_turn

    def record_confidence(self) -> None:
        """Ask the model for its token log-probabilities from now on (OpenAI's parameters), so each Answer carries
        qa/answer/confidence.py's signals. Evaluation records them; answers do not depend on them, so the chat
        path leaves them off (about 2 ms a token of NumPy on 2 cores)."""
        self.generate_turn = self.llm.bind(logprobs=True, top_logprobs=5)
        self.generate = self.prompt | self.generate_turn

    def _retry_request(self, state: dict[str, Any], raw: str) -> str | None:
        """What to ask in one more turn, or None when the reply stands: a reply of passage numbers only ("[1]"),
        or one that lacks the kind of answer the question asks for (qa/answer/asked.py)."""
        if only_citations(raw):
            return WORDS_PLEASE
        if not self.second_look or state.get("options") or is_abstention(raw):
            return None
        question = _plain_question(state)
        return None if gives(raw, question, self._language(state)) else second_look_request(question)

    def _second_look(self, state: dict[str, Any], raw: str, request: str) -> tuple[str, list[dict[str, Any]]]:
        """The model's reply to one more turn (`request`) after its first reply: the prompt is the same up to that
        turn, so the runtime reuses its cached prompt and the turn costs its few tokens and the new reply's. The
        new reply replaces the first when it answers (or abstains); a reply that still misses keeps the first."""
        messages = self.prompt.format_messages(**self._prompt_inputs(state)) + [
            AIMessage(content=raw), HumanMessage(content=request)]
        message = self.generate_turn.invoke(messages)
        again = str(message.content)
        if request != WORDS_PLEASE and not (is_abstention(again) or gives(again, _plain_question(state),
                                                                           self._language(state))):
            return raw, []
        return again, token_entries(getattr(message, "response_metadata", None))

    def _prompt_inputs(self, state: dict[str, Any]) -> dict[str, Any]:
        as_of = state.get("as_of") or date.today()
        return {"as_of": as_of.isoformat(), "context": format_passages(state["passages"]),
                "question": neutralize(state["question"]),
                "reply_rule": reply_rule(state.get("options") or (), self._language(state))}

    @staticmethod
    def _language(state: dict[str, Any]) -> str | None:
        """The question's language, told apart from English and the passages' languages."""
        among = sorted({p.chunk.language for p in state["passages"] if p.chunk.language} | {"en"})
        return question_language(_plain_question(state), among)

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        passages = state.get("passages")
        if passages is None:
            passages = self.retriever.retrieve(_plain_question(state), state.get("as_of"), state.get("k"),
                                               state.get("filters"), options=state.get("options") or ())
            elapsed = (time.perf_counter() - start) * 1000
        else:  # retrieved by the caller (evaluation ranks a longer list)
            elapsed = state.get("retrieve_ms", 0.0)
        if self.period_filter:
            passages = in_period(_plain_question(state), state.get("as_of"), passages)
        # Passages beyond the token budget would push the prompt out of the model's context window.
        passages = fit_budget(passages, self._budget(state["question"]))
        return {**state, "passages": passages, "retrieve_ms": elapsed}

    def _budget(self, question: str) -> int:
        """Prompt tokens left for passages: the budget less the question (up to 1,000 characters)."""
        return max(200, self.passage_budget - estimated_tokens(question))

    def _not_covered(self, state: dict[str, Any]) -> dict[str, Any]:
        """Adds `reason` when the question names a period no passage can speak of (the model is not asked)."""
        if not self.check_coverage or not state["passages"]:
            return state
        passages = state["passages"]
        period = uncovered_period(_plain_question(state), state.get("as_of"), passages)
        return {**state, "reason": not_covered_text(period, passages)} if period else state

    def _generate_step(self, state: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        raw, usage, entries = "", {}, []
        state = self._not_covered(state)
        if _asks_model(state):
            message = self.generate.invoke(self._prompt_inputs(state))
            raw = str(message.content)
            usage = dict(getattr(message, "usage_metadata", None) or {})
            entries = token_entries(getattr(message, "response_metadata", None))
            if (request := self._retry_request(state, raw)) is not None:
                raw, entries = self._second_look(state, raw, request)
        return {**state, "raw": raw, "usage": usage, "entries": entries,
                "generate_ms": (time.perf_counter() - start) * 1000}

    def _article_text(self, passage: Passage) -> str:
        """The passage's whole article as the store holds it."""
        return self.retriever.article_text(passage.chunk)

    def _finish(self, state: dict[str, Any]) -> Answer:
        start = time.perf_counter()
        answer = finalize(state["question"], state.get("as_of"), state["passages"], state["raw"], self.scorer,
                          models=self.models, verify=self.verify, reason=state.get("reason"),
                          figures=self.check_figures, terms=self.check_terms,
                          plain_question=_plain_question(state), text_of=self._article_text)
        answer.timings_ms = {
            "retrieve": state["retrieve_ms"],
            "generate": state["generate_ms"],
            "cite": (time.perf_counter() - start) * 1000,
        }
        entries = state.get("entries") or []
        answer.confidence = signals(entries)
        answer.token_logprobs = [(str(e.get("token", "")), float(e["logprob"])) for e in entries]
        usage = state.get("usage") or {}
        answer.tokens = {"prompt": int(usage.get("input_tokens", 0)), "completion": int(usage.get("output_tokens", 0))}
        return answer

    def as_runnable(self) -> Runnable:
        """The whole chain as one LCEL runnable: {"question", "as_of"?, "k"?} -> Answer."""
        return (
            RunnablePassthrough()
            | RunnableLambda(self._retrieve)
            | RunnableLambda(self._generate_step)
            | RunnableLambda(self._finish)
        )

    def invoke(
        self,
        question: str,
        as_of: date | None = None,
        k: int | None = None,
        passages: list[Passage] | None = None,
        filters: Filters | None = None,
        options: Sequence[str] = (),
    ) -> Answer:
        """`options`: possible answers of a multiple-choice question. They are searched with the question and
        shown to the model on a line after it, which is asked to reply with one of them (the plain prompt style,
        a tutorial pipeline's, has no such rule); the period it names is read from the question alone, not
        from the options."""
        start = time.perf_counter()
        answer = self.as_runnable().invoke(
            {**_asking(question, options), "as_of": as_of, "k": k, "passages": passages, "filters": filters}
        )
        answer.timings_ms["total"] = (time.perf_counter() - start) * 1000
        return answer

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str | Answer]:
        """Yield answer tokens as they come, then the finished Answer: `stream_events` (same arguments) without
        the Retrieved."""
        return (item for item in self.stream_events(*args, **kwargs) if not isinstance(item, Retrieved))

    def stream_events(
        self,
        question: str,
        as_of: date | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        options: Sequence[str] = (),
    ) -> Iterator[Retrieved | str | Answer]:
        """A Retrieved as soon as the search is done (before the model reads the passages), then the answer
        tokens as they come, then the finished Answer, whose passages are the Retrieved ones (`options`: see
        `invoke`)."""
        start = time.perf_counter()
        state = self._not_covered(self._retrieve({**_asking(question, options), "as_of": as_of, "k": k,
                                                  "filters": filters}))
        reading = _asks_model(state)
        yield Retrieved(tuple(state["passages"]), reading)
        gen_start = time.perf_counter()
        parts: list[str] = []
        usage: dict[str, Any] = {}
        entries: list[dict[str, Any]] = []
        if reading:
            try:
                for chunk in self.generate.stream(self._prompt_inputs(state)):
                    usage = dict(getattr(chunk, "usage_metadata", None) or usage)
                    entries += token_entries(getattr(chunk, "response_metadata", None))
                    token = str(chunk.content)
                    if token:
                        parts.append(token)
                        yield token
            except ValueError as exc:
                # LangChain raises this when the model streamed nothing at all; like invoke(), that is an
                # empty reply (an abstention), not a failure.
                if "No generation chunks" not in str(exc):
                    raise
            if (request := self._retry_request(state, "".join(parts))) is not None:
                retry, retry_entries = self._second_look(state, "".join(parts), request)
                if retry != "".join(parts):
                    parts, entries = [retry], retry_entries
                    yield "\n" + retry
        state.update(raw="".join(parts), usage=usage, entries=entries, generate_ms=(time.perf_counter() - gen_start) * 1000)
        answer = self._finish(state)
        answer.timings_ms["total"] = (time.perf_counter() - start) * 1000
        yield answer

    def answer_from_reply(
        self, question: str, as_of: date | None, passages: list[Passage], raw: str, options: Sequence[str] = ()
    ) -> Answer:
        """The Answer this chain makes of a given model reply to `question` over `passages` (as handed to
        `invoke`, with the same `options`): the checks run again, the LLM is not asked. For re-checking stored
        replies after the checks change (`bench/refinalize.py`)."""
        state = self._not_covered(self._retrieve({**_asking(question, options), "as_of": as_of,
                                                  "passages": passages}))
        if state.get("reason"):
            raw = ""
        state.update(raw=raw, usage={}, generate_ms=0.0)
        return self._finish(state)
