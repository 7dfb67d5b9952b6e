"""Citations are checked, not trusted: parse `[n]`, drop numbers never given, find each supporting sentence."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Callable, Sequence

from qa.answer.prompt import NOT_FOUND_MARKER, shown_title
from qa.retrieve.sentences import LEADING_CITES, split_sentences
from qa.types import Citation, Passage

CITATION = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")  # [2], [1, 3]
LIST_MARK = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)])\s+")
_DATE_NOTE = re.compile(r"\s*\(= [^()]*\)")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")
_WORD = re.compile(r"\w+", re.UNICODE)
_ABSTAIN = re.compile(
    NOT_FOUND_MARKER.replace(" ", r"\s+")
    + r"|\b(passages|articles|context)\s+(do|does)\s+not\s+(contain|mention|say|provide|include)"
    + r"|\bnot\s+(mentioned|stated|found)\s+in\s+the\s+(passages|articles|context)"
    + r"|\bI\s+(don't|do\s+not)\s+know\b",
    re.IGNORECASE,
)

# Support = cosine (multilingual embeddings) + half the word overlap. Measured on the sample articles
# (bench/RESULTS.md): true claims scored 0.52-0.91 (cross-lingual ones lowest), invented claims 0.43-0.95.
# Similarity is no entailment test: the threshold only removes citations on passages about something else
# (off-topic claims scored 0.34-0.44). A first threshold of 0.65 wrongly removed correct cross-lingual
# citations and caused a 26% false-abstention rate on data/eval/sample_qa.jsonl.
MIN_SUPPORT = 0.48
# Adding a citation the model did not write asserts support on its behalf, so it needs more: uncited sentences
# of correct answers on data/eval/sample_qa.jsonl scored 0.81-1.28, sentences the model made up from memory
# ("the 2019 Notre-Dame fire was caused by lightning") 0.69-0.73, and were wrongly given the passage at 0.48.
ATTACH_SUPPORT = 0.78

# (claim, candidate sentences) -> one score per sentence, higher is better support. A scorer may carry
# `min_support`, the least score for a citation to stand on its scale.
SentenceScorer = Callable[[str, Sequence[str]], list[float]]


def is_abstention(text: str) -> bool:
    """True when the model said the passages lack the answer: an empty reply, the marker in a reply citing
    nothing, or a reply that opens with a plain-words equivalent. Words inside quotation marks are someone
    else's ('the director said "I don't know who did it" [2]'), and a cited answer that adds "the articles do
    not mention the next meeting" still answers."""
    if not text.strip():
        return True
    unquoted = _QUOTED.sub(" ", text)
    if CITATION.search(text) is None and re.search(NOT_FOUND_MARKER.replace(" ", r"\s+"), unquoted, re.IGNORECASE):
        return True
    first = (answer_sentences(unquoted) or [unquoted])[0]
    return bool(_ABSTAIN.search(first))


def parse_citations(text: str, n_passages: int) -> tuple[str, list[int], list[int]]:
    """Return (text with invalid markers removed, valid numbers in first-seen order, dropped numbers)."""
    valid: list[int] = []
    dropped: list[int] = []

    def keep(match: re.Match) -> str:
        numbers = [int(x) for x in re.split(r"[,;]", match.group(1))]
        good = [n for n in numbers if 1 <= n <= n_passages]
        for n in numbers:
            target = valid if n in good else dropped
            if n not in target:
                target.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(good))

    cleaned = CITATION.sub(keep, _plain_markers(text))
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    # A list separator left before a marker that ends its sentence: "Yosemite; [1]" (a reply copied from
    # "Options: a; b; c"), or left at the end where an invalid marker was taken out ("Yosemite; [9]").
    cleaned = re.sub(r"[;,][ \t]*(\[\d+\])(?=[ \t]*(?:[.!?]|$))", r" \1", cleaned)
    cleaned = re.sub(r"[ \t]*[;,]$", "", cleaned)
    return cleaned, valid, dropped


# Other ways small models write a citation: "[1-3]", "[Passage 2]", "[Source 2, 3]", "【2】".
_RANGE = re.compile(r"\[\s*(\d{1,3})\s*[-–]\s*(\d{1,3})\s*\]")
_WORDY = re.compile(r"[\[【]\s*(?:passages?|sources?|articles?|docs?|documents?)?\s*(\d+(?:\s*[,;]\s*\d+)*)\s*[\]】]",
                    re.IGNORECASE)


def _plain_markers(text: str) -> str:
    """Rewrite the other citation forms as [n] markers, so they are checked like the rest."""
    def expand(match: re.Match) -> str:
        first, last = int(match.group(1)), int(match.group(2))
        return "".join(f"[{n}]" for n in range(first, last + 1)) if 0 < last - first < 10 else match.group(0)

    text = _RANGE.sub(expand, text)
    return _WORDY.sub(lambda m: f"[{m.group(1)}]", text)


def answer_sentences(text: str) -> list[str]:
    """Sentences of an answer, line by line (bullets and numbered items are sentences of their own, their
    markers dropped), with citation markers written after the full stop kept on their sentence."""
    out: list[str] = []
    pieces = [s for line in text.split("\n") if line.strip() for s in split_sentences(LIST_MARK.sub("", line))]
    for sentence in pieces:
        lead = LEADING_CITES.match(sentence)
        if out and lead:
            out[-1] = f"{out[-1]} {lead.group(0).strip()}"
            sentence = sentence[lead.end():].strip()
        if sentence.strip(" .,;"):
            out.append(sentence)
    return out


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def lexical_scorer(claim: str, sentences: Sequence[str]) -> list[float]:
    """Share of the claim's words (accents folded) found in each sentence, numbers counted double."""
    words = {w for w in _WORD.findall(fold(claim)) if len(w) > 2 or w.isdigit()}
    if not words:
        return [0.0] * len(sentences)
    scores = []
    for sentence in sentences:
        found = set(_WORD.findall(fold(sentence)))
        score = sum(2.0 if w.isdigit() else 1.0 for w in words & found)
        scores.append(score / (len(words) + 1))
    return scores


# Least support for a citation to stand, on this scorer's scale (see MIN_SUPPORT for the embedding scorer).
lexical_scorer.min_support = 0.35  # type: ignore[attr-defined]


def embedding_scorer(embeddings) -> SentenceScorer:
    """Cosine similarity with a multilingual embedding model, plus the lexical score (for dates and names).

    Sentence vectors are cached, so scoring one answer's claims against the same passages embeds each
    passage sentence once.
    """
    cache: dict[str, list[float]] = {}
    queries: dict[str, list[float]] = {}

    def score(claim: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        missing = [s for s in dict.fromkeys(sentences) if s not in cache]
        if missing:
            if len(cache) > 5000:
                cache.clear()
            embed = getattr(embeddings, "embed_documents_for_query", embeddings.embed_documents)
            cache.update(zip(missing, embed(missing)))
        if claim not in queries:
            if len(queries) > 500:
                queries.clear()
            queries[claim] = embeddings.embed_query(claim)
        q = queries[claim]
        q_norm = math.sqrt(sum(a * a for a in q)) or 1.0
        out = []
        for sentence, lex in zip(sentences, lexical_scorer(claim, sentences)):
            d = cache[sentence]
            dot = sum(a * b for a, b in zip(q, d))
            out.append(dot / (q_norm * (math.sqrt(sum(b * b for b in d)) or 1.0)) + 0.5 * lex)
        return out

    score.min_support = MIN_SUPPORT  # type: ignore[attr-defined]
    score.attach_support = ATTACH_SUPPORT  # type: ignore[attr-defined]
    return score


def claims_for(text: str, n: int) -> str:
    """The sentences of the answer that carry marker [n] (the whole answer when none does)."""
    sentences = answer_sentences(text) or [text]
    marked = [s for s in sentences if f"[{n}]" in s]
    return CITATION.sub("", " ".join(marked or sentences)).strip()


def shown_sentences(text: str) -> list[str]:
    """Sentences of a passage's shown text, without the "…" that marks text left out (clipped
    neighbours): the mark is part of no sentence."""
    return [piece for piece in (s.strip("… ") for s in split_sentences(text)) if piece]


def _candidates(passage: Passage) -> tuple[list[str], list[str]]:
    """(sentences to score, sentences to quote): the text the model was shown is scored, so "October 2025" in
    a claim matches "octobre (= October 2025)" and a planted instruction taken out of the passage supports
    nothing; the original sentence is quoted when the two line up."""
    shown = shown_sentences(passage.display_text or passage.chunk.text)
    # The quote is the shown sentence without the "(= October 2025)" notes: lining sentences up with the raw
    # chunk by position goes wrong when the sentence window widened the chunk.
    return shown, [" ".join(_DATE_NOTE.sub("", s).split()) for s in shown]


def headline(passage: Passage) -> str:
    """The passage's title as the model was shown it (screened, shortened). It is the article's own claim and may
    support a reply like a sentence of the text ("Sprite [1]" on "Sprite green bottle" over a chunk that is a video
    player's feedback form; it is quoted only where no sentence of the text backs the reply), but only on the
    reply's own words, one of which it must hold: read with the question, a headline that restates the question
    would back any option of the right kind."""
    return shown_title(passage.display_title or passage.chunk.title)


# A claim of at most this many words ("Snake", "Distant galaxies", "$3 billion") is a reply, not a statement:
# it means something only together with the question.
FRAGMENT_WORDS = 6


def is_fragment(claim: str) -> bool:
    return 0 < len(_WORD.findall(claim)) <= FRAGMENT_WORDS


def asked_line(question: str | None) -> str:
    """The question itself: its first non-empty line (what follows a line break, such as a list of options,
    is not what is asked)."""
    return next((line.strip() for line in (question or "").splitlines() if line.strip()), "")


def _reply_context(text: str, question: str | None) -> str:
    """The question line a reply is read with: only when the whole answer is one sentence (in a longer answer
    a short sentence, "Inflation fell to 3%.", is a claim of its own)."""
    return asked_line(question) if len(answer_sentences(text) or [text]) == 1 else ""


def _read_with(claim: str, context: str) -> str | None:
    """"question + claim" for a fragment claim with a question to read it with, else None."""
    return f"{context} {claim}" if context and is_fragment(claim) else None


def _support(claim: str, passage: Passage, scorer: SentenceScorer, context: str = "") -> tuple[float, str]:
    """(best score, quotable sentence) of the passage for the claim. A fragment claim in a one-sentence reply
    (`context`: the question line, see `_reply_context`) is scored on its own and as "question + fragment"; it gets
    the better of its own score and the mean of the two. Measured with the embedding scorer on realtimeqa: "Snake"
    against "The python is the heaviest ever captured in the state" scores 0.28 alone and 0.81 read with the
    question (mean 0.55, above the 0.48 bar); "Gatorade" on a passage about Heinz's bottle 0.24 and 0.36 (mean 0.30,
    removed). Like every check here this is similarity, not entailment: a wrong option of the same kind ("Turtle"
    for "Snake" on a similar passage, mean 0.52) passes too, as the sentence "The reptile was a turtle" would;
    before this, right one-word replies lost their citations and became abstentions."""
    scored, quotable = _candidates(passage)
    scores = scorer(claim, scored) if scored else []
    if scored and (read := _read_with(claim, context)) is not None:
        together = scorer(read, scored)
        scores = [max(alone, (alone + both) / 2) for alone, both in zip(scores, together)]
    best_text = max(range(len(scored)), key=lambda i: scores[i]) if scored else None
    title = headline(passage)
    if title and title not in scored:
        # A headline is a few words on the story's topic: similarity alone rates any name of the right kind
        # close to it ("Fanta" 0.49 against "Sprite green bottle", above the 0.48 bar), so the reply must share
        # a word with it.
        title_score = scorer(claim, [title])[0] if lexical_scorer(claim, [title])[0] > 0 else 0.0
        text_backs = best_text is not None and scores[best_text] >= getattr(scorer, "min_support", MIN_SUPPORT)
        if title_score > (scores[best_text] if best_text is not None else 0.0):
            # The passage scores its best, but the quote stays a sentence of the text where one backs the claim.
            return title_score, quotable[best_text] if text_backs else title
    if best_text is None:
        return 0.0, ""
    return scores[best_text], quotable[best_text]


def _closest(claim: str, by_n: dict[int, Passage], count: int = 2, context: str = "") -> list[int]:
    """Numbers of the passages sharing the most words with the claim (read with the question when it is a
    fragment). Embedding every passage's sentences is slow on a CPU, so only these (and the cited ones) are
    scored with the full scorer."""
    claim = _read_with(claim, context) or claim
    lexical = {n: max(lexical_scorer(claim, [*_candidates(p)[0], headline(p)]) or [0.0]) for n, p in by_n.items()}
    return sorted(lexical, key=lexical.get, reverse=True)[:count]


def verify_citations(
    text: str,
    passages: Sequence[Passage],
    scorer: SentenceScorer = lexical_scorer,
    margin: float = 0.15,
    min_support: float | None = None,
    question: str | None = None,
) -> tuple[str, list[tuple[int, int | None]]]:
    """Check every [n] against its sentence: re-point it when another passage supports the sentence clearly
    better, remove it when no passage supports the sentence enough. `question` gives short replies
    ("Snake [1]") their meaning (see `_support`).

    Returns the corrected text and the (cited, replacement or None for removed) pairs. Small models often cite
    a neighbouring number, or cite a passage for something they know from elsewhere.
    """
    repointed: list[tuple[int, int | None]] = []
    min_support = getattr(scorer, "min_support", MIN_SUPPORT) if min_support is None else min_support
    by_n = {p.n: p for p in passages}
    out = []
    context = _reply_context(text, question)
    for sentence in answer_sentences(text) or [text]:
        cited = [int(x) for x in re.findall(r"\[(\d+)\]", sentence) if int(x) in by_n]
        if not cited:
            out.append(sentence)
            continue
        claim = CITATION.sub("", sentence).strip()
        support = {n: _support(claim, by_n[n], scorer, context)[0]
                   for n in dict.fromkeys([*cited, *_closest(claim, by_n, context=context)])}
        best = max(support, key=support.get)
        for n in dict.fromkeys(cited):
            if support[n] >= min_support and (n == best or support[n] >= support[best] - margin):
                continue  # the cited passage supports the sentence, and none clearly better
            if support[best] >= min_support:
                repointed.append((n, best))
                sentence = sentence.replace(f"[{n}]", f"[{best}]")
            else:
                repointed.append((n, None))
                sentence = sentence.replace(f"[{n}]", "")
        sentence = re.sub(r"(\[(\d+)\])(?:[\s,;]*\[\2\])+", r"\1", sentence)  # "[2], [2]" after re-pointing
        sentence = re.sub(r"\s+([.,;:!?])", r"\1", sentence).strip()
        out.append(sentence)
    return " ".join(out), repointed


def attach_missing_citations(
    text: str, passages: Sequence[Passage], scorer: SentenceScorer = lexical_scorer, threshold: float | None = None
) -> tuple[str, list[int]]:
    """Give an uncited answer sentence the passage that supports it, when one clearly does.

    Small models often leave out the markers. The support score is the scorer's (cosine + word overlap
    with the embedding scorer); below `threshold` (the scorer's `attach_support`, else its `min_support`) the
    sentence stays uncited. Returns the text and the numbers added.
    """
    if threshold is None:
        threshold = getattr(scorer, "attach_support", getattr(scorer, "min_support", MIN_SUPPORT))
    by_n = {p.n: p for p in passages}
    added: list[int] = []
    out = []
    for sentence in answer_sentences(text) or [text]:
        if CITATION.search(sentence) or not sentence.strip(" ."):
            out.append(sentence)
            continue
        support = {n: _support(sentence, by_n[n], scorer)[0] for n in _closest(sentence, by_n)}
        best = max(support, key=support.get) if support else None
        if best is not None and support[best] >= threshold:
            added.append(best)
            stripped = sentence.rstrip()
            end = stripped[-1] if stripped[-1] in ".!?" else ""
            sentence = f"{stripped[:-1] if end else stripped} [{best}]{end}"
        out.append(sentence)
    return " ".join(out), added


def build_citations(
    text: str,
    numbers: Sequence[int],
    passages: Sequence[Passage],
    scorer: SentenceScorer = lexical_scorer,
    question: str | None = None,
) -> list[Citation]:
    """One Citation per valid number, with the passage sentence that best supports its claim."""
    by_n = {p.n: p for p in passages}
    context = _reply_context(text, question)
    return [Citation(n=n, passage=by_n[n], quote=_support(claims_for(text, n), by_n[n], scorer, context)[1])
            for n in numbers]


def cited_numbers(sentence: str) -> list[int]:
    """The passage numbers a sentence's citation markers name, in order ("[2][3]" -> [2, 3])."""
    return [int(n) for marker in CITATION.findall(sentence) for n in re.findall(r"\d+", marker)]


def uncite(text: str, sentences: Sequence[str], flagged: Callable[[str], bool]) -> tuple[str, list[int]]:
    """Remove the citation markers of the `flagged` sentences of `text` (its `answer_sentences`), in place (line
    breaks and lists kept); returns the text and the numbers of the citations removed."""
    removed: list[int] = []
    rebuilt, missed = [], False
    for sentence in sentences:
        if flagged(sentence):
            removed += cited_numbers(sentence)
            plain = re.sub(r"\s+([.,;:!?])", r"\1", CITATION.sub("", sentence)).strip()
            missed = missed or sentence not in text
            text = text.replace(sentence, plain, 1)
            sentence = plain
        rebuilt.append(sentence)
    # a sentence that is not in the text verbatim (its whitespace was normalised): rebuild from the sentences
    return (" ".join(rebuilt) if missed else text), removed
