"""Text analysis for keyword search: words lower-cased, stopwords out, stemmed in the text's language, accents
folded. Shared by the keyword index and the answer checks that compare words (qa/answer/terms.py, anchors.py)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMERS = {"en": "english", "fr": "french", "es": "spanish", "de": "german", "it": "italian",
             "pt": "portuguese", "nl": "dutch", "sv": "swedish", "da": "danish", "no": "norwegian",
             "ru": "russian", "fi": "finnish", "ro": "romanian", "ca": "catalan", "tr": "turkish"}


def has_stemmer(language: str | None) -> bool:
    """Whether `analyze` stems words of this language (the languages written with spaces between words that
    Snowball covers)."""
    return isinstance(language, str) and language.split("-")[0].lower() in _STEMMERS


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s import stopwords as sw

    names = ("STOPWORDS_EN", "STOPWORDS_FRENCH", "STOPWORDS_SPANISH", "STOPWORDS_GERMAN", "STOPWORDS_ITALIAN",
             "STOPWORDS_PORTUGUESE", "STOPWORDS_DUTCH")
    return frozenset(_fold(w) for name in names for w in getattr(sw, name, ()))


@lru_cache(maxsize=32)
def _stemmer(language: str | None):
    name = _STEMMERS.get((language or "").split("-")[0].lower())
    if name is None:
        return None
    import Stemmer

    return Stemmer.Stemmer(name)


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def analyze(text: str, language: str | None = None) -> list[str]:
    """Lower-cased words without stopwords, stemmed in `language` when a stemmer exists, accents folded."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    stops = _stopwords()
    words = [w for w in words if _fold(w) not in stops]
    stemmer = _stemmer(language if isinstance(language, str) else None)  # a stray non-string: no stemming
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return [_fold(w) for w in words]
