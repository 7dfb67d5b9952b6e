"""Question translation for retrieval: an English question neither matches French text in BM25 nor ranks it as
well in dense search as its French translation does, so the local LLM translates the (short) question into the
corpus's other languages and each language is searched with its own version. Results are cached; one new
translation costs about a second on 2 AVX-512 cores, several on AVX2 (bench/RESULTS.md)."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "de": "German", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
                  "ru": "Russian", "fi": "Finnish", "ro": "Romanian", "ca": "Catalan", "tr": "Turkish"}


# Worked examples per target language (written for newsqa).
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "fr": (("Who won the election in Chile?", "Qui a remporté l'élection au Chili ?"),
           ("What did the company agree to pay?", "Qu'est-ce que l'entreprise a accepté de payer ?")),
    "en": (("Qui a remporté l'élection au Chili ?", "Who won the election in Chile?"),
           ("Qu'est-ce que l'entreprise a accepté de payer ?", "What did the company agree to pay?")),
    "es": (("Who won the election in Chile?", "¿Quién ganó las elecciones en Chile?"),
           ("What did the company agree to pay?", "¿Qué aceptó pagar la empresa?")),
}


class QueryTranslator:
    """Translates questions with a chat model; an LRU cache keeps the last `cache_size` translations."""

    def __init__(self, llm, *, cache_size: int = 1024) -> None:
        self.llm = llm
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def translate(self, question: str, language: str) -> str | None:
        """The question in `language` (ISO 639-1), or None for a language it cannot name, when the model fails
        (named on stderr; retrieval goes on without it) or only echoes the question. Failures are not cached."""
        name = LANGUAGE_NAMES.get(language)
        if name is None:
            return None
        key = (question.strip(), language)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        messages: list = [
            SystemMessage(content=f"You translate questions into {name}, word for word. Keep names and numbers. "
                                  f"Reply with the {name} question only."),
        ]
        for source, target in EXAMPLES.get(language, ()):
            # Two worked examples: a 1.5B model follows a shown pattern better than an instruction alone
            # (measured on the seed questions: "Beijing a demandé de retarder" without them).
            messages += [HumanMessage(content=source), AIMessage(content=target)]
        messages.append(HumanMessage(content=question.strip()))
        try:
            reply = self.llm.invoke(messages)
        except Exception as exc:  # a missing model, a remote server down: search without the translation
            print(f"newsqa: the question could not be translated into {name} ({exc}); searching without it.",
                  file=sys.stderr)
            return None
        text = str(reply.content).strip().strip('"«»“”').splitlines()[0:1]
        result = text[0].strip() if text else ""
        if not result or result.casefold() == question.strip().casefold():
            return None  # nothing, or the question echoed back: no second search for the same words
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result
