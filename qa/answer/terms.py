"""Words of an answer that no passage holds: what the model added from its own memory.

The citation check scores similarity, and a made-up claim on the passage's topic scores like a true one: asked
"Who caused the fire that damaged Notre-Dame in 2019?", which the sample articles do not say, the model once
replied "caused by a combination of factors, including a lightning strike and a faulty electrical system [1]"
over a passage about the cathedral's reopening, and the citation stood. None of the words it added to the
question ("combination", "factors", "lightning", "strike", "faulty", "electrical", "system") is in any passage.
A sentence whose own content words (those not already in the question) are mostly found in no passage is not
grounded in them, and loses its citations like a sentence with an invented figure (qa/answer/figures.py).

Words are compared as the keyword index reads them (stopwords out, stemmed, accents folded), in the answer's
language and in each passage's. A sentence is only judged when every passage it cites is in the answer's
language (the answer's language is detected among all languages, not only the passages'): an English sentence
drawn from a French passage translates it, and its words need not be there. Nor are languages the keyword index
does not stem (Chinese or Japanese, written without spaces, would be read a clause at a time). Figures, written
in digits or words ("thirty-five thousand"), are left to qa/answer/figures.py. A short reply ("Snake [1]", "Supply
chain issues [4]") adds too few words to judge: it is left to the similarity check, which reads it with the
question.

The check is lexical: a right sentence that says most of its new things in other words than the passages' would
lose its citation too. Over the stored replies of the runs of 2026-12-04 (2d611d8), the judged sentences of right
answers had 0.67-1.00 of their new words in the passages, the Notre-Dame guess 0.12 (bench/RESULTS.md).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from qa.answer.citations import CITATION
from qa.answer.figures import numbers_in
from qa.types import Passage
from vectorstore.analysis import analyze, has_stemmer

# Words an answer uses about its sources rather than about the news ("according to passage [1]").
_FRAMING = "according passage passages article articles report reports reported source sources mentioned stated"

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
# Number words numbers_in does not read on their own ("thirty-five thousand").
_SCALES = frozenset("hundred hundreds thousand thousands million millions billion billions trillion cent cents mille "
                    "milliers million millions milliard milliards mil millón millones".split())

# A sentence adding fewer content words than this to the question is not judged.
MIN_NEW_TERMS = 4
# A judged sentence needs at least this share of its new words in the passages.
MIN_FOUND_SHARE = 0.34


def terms(text: str, language: str | None) -> set[str]:
    """Content words of a text as the keyword index reads them; numbers left out (qa/answer/figures.py). A passage's
    resolved dates, "(= Thursday 30 October 2025)", count: the model is told to use them."""
    text = _WORD.sub(lambda m: " " if m.group(0).lower() in _SCALES or numbers_in(m.group(0)) else m.group(0),
                     CITATION.sub(" ", text))
    return {t for t in analyze(text, language) if not any(ch.isdigit() for ch in t)}


@lru_cache(maxsize=32)
def _framing(language: str | None) -> set[str]:
    return set(analyze(_FRAMING, language))


def answer_language(text: str) -> str | None:
    """The language of an answer (py3langid over all the languages it knows), None for a text too short to tell.
    Not chosen among the passages' languages: an English answer over French passages is English."""
    text = CITATION.sub(" ", text)
    if len(text.strip()) < 8:
        return None
    import py3langid

    return py3langid.classify(text)[0]


def known_terms(passages: Sequence[Passage], question: str, language: str | None) -> set[str]:
    """Words an answer may use: each passage as shown and its title, read in the passage's language and in the
    answer's, and the question's."""
    known = terms(question, language)
    for p in passages:
        shown = f"{p.chunk.title or ''}\n{p.display_text or p.chunk.text}"
        for lang in {p.chunk.language, language}:
            known |= terms(shown, lang)
    return known


def ungrounded(sentence: str, question: str, known: set[str], language: str | None,
               passages: Sequence[Passage]) -> list[str]:
    """The sentence's new words (not in the question) that no passage holds, as written, when they are most of
    them; [] when the sentence is grounded or not judged (few new words, no citation, a cited passage in another
    language, the answer's language unknown)."""
    cited = {int(n) for marker in CITATION.findall(sentence) for n in re.findall(r"\d+", marker)}
    by_n = {p.n: p for p in passages}
    if not has_stemmer(language) or not cited or any(n in by_n and by_n[n].chunk.language != language
                                                      for n in cited):
        return []
    new = terms(sentence, language) - terms(question, language) - _framing(language)
    if len(new) < MIN_NEW_TERMS:
        return []
    missing = new - known
    if (len(new) - len(missing)) / len(new) >= MIN_FOUND_SHARE:
        return []
    # shown as written ("lightning", not the stem "lightn"), in the sentence's order
    words = _WORD.findall(CITATION.sub(" ", sentence))
    return list(dict.fromkeys(w for w in words if set(analyze(w, language)) & missing))
