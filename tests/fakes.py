"""Deterministic fakes: designed embeddings (exact ranking), a scripted chat model, an in-memory store."""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any, Sequence

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from vectorstore.base import Hit, Record
from vectorstore.filters import matches

# Each concept is one axis; words in any language that name it map to that axis, so an English question
# and a French passage about the same thing are close, the way a multilingual model places them.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "meet": ("meet", "met", "meeting", "rencontre", "rencontré", "réunion"),
    "bessent": ("bessent",),
    "he_lifeng": ("lifeng", "he"),
    "louvre": ("louvre",),
    "jewels": ("jewels", "jewellery", "bijoux", "joyaux"),
    "arrest": ("arrested", "arrest", "interpellés", "interpellé", "arrêté", "suspects"),
    "ecb": ("ecb", "bce"),
    "rate": ("rate", "rates", "taux"),
    "pope": ("pope", "pape"),
    "weather": ("weather", "météo", "rain", "pluie"),
}
_WORD = re.compile(r"\w+", re.UNICODE)


class DesignedEmbeddings(Embeddings):
    """Counts concept words per axis, plus one small constant axis so no vector is zero; unit length."""

    def __init__(self) -> None:
        self.axes = list(CONCEPTS)
        self.lookup = {w: i for i, axis in enumerate(self.axes) for w in CONCEPTS[axis]}
        self.calls = {"query": 0, "documents": 0}

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * (len(self.axes) + 1)
        for word in _WORD.findall(text.lower()):
            if word in self.lookup:
                vec[self.lookup[word]] += 1.0
        vec[-1] = 0.05
        norm = math.sqrt(sum(v * v for v in vec))
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls["documents"] += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls["query"] += 1
        return self._vector(text)


class PromptRecorder(BaseCallbackHandler):
    """The last message of every prompt a chat model is given (`llm.callbacks = [recorder]`)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.seen.append(messages[0][-1].content)


def record_prompts_and_searches(service) -> tuple[PromptRecorder, list[tuple[str, Any]]]:
    """Record the last message of every prompt the service's chat model is given, and the (search text, options)
    of every search its retriever is asked for."""
    recorder = PromptRecorder()
    service.llm.callbacks = [recorder]
    searched: list[tuple[str, Any]] = []
    retrieve = service.chain.retriever.retrieve

    def spying(question, *args, **kwargs):
        searched.append((question, kwargs.get("options")))
        return retrieve(question, *args, **kwargs)

    service.chain.retriever.retrieve = spying
    return recorder, searched


def scripted_llm(*replies: str) -> GenericFakeChatModel:
    """A chat model that answers with these texts in order (and streams them token by token)."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


class MemoryStore:
    """An in-memory VectorStore for tests that must not touch Chroma (e.g. crash simulation)."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self.rows: dict[str, tuple[Record, list[float]]] = {}
        self.fail_after_upserts: int | None = None
        self.upserts = 0

    def upsert(self, records: Sequence[Record]) -> None:
        if self.fail_after_upserts is not None and self.upserts >= self.fail_after_upserts:
            raise RuntimeError("simulated crash")
        self.upserts += 1
        vectors = self.embeddings.embed_documents([r.encoder_input for r in records])
        for record, vector in zip(records, vectors):
            self.rows[record.id] = (record, vector)

    def search(self, query_vector, k, where=None, *, keep=None, among=None, partial=False):
        scored = [
            Hit(rec, sum(a * b for a, b in zip(query_vector, vec)))
            for rec, vec in self.rows.values()
            if matches(rec.metadata, where)
        ]
        return sorted(scored, key=lambda h: -h.score)[:k]

    def ids(self, where=None):
        return [i for i, (rec, _) in self.rows.items() if matches(rec.metadata, where)]

    def get(self, ids):
        return [self.rows[i][0] for i in ids if i in self.rows]

    def metadata(self, where=None):
        return [(i, dict(rec.metadata)) for i, (rec, _) in self.rows.items() if matches(rec.metadata, where)]

    def delete(self, ids):
        for i in ids:
            self.rows.pop(i, None)

    def count(self):
        return len(self.rows)


class EchoChatModel(BaseChatModel):
    """A chat model that answers with the marker found in the question (e.g. `Q07-3f2a`) and cites [1], one
    generation at a time like llama.cpp, taking `delay` seconds: cross-talk between sessions would show as a
    marker in the wrong answer."""

    delay: float = 0.05
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        question = str(messages[-1].content).rsplit("Question:", 1)[-1]
        found = re.search(r"Q\d+-[0-9a-f]+", question)
        with self._lock:
            time.sleep(self.delay)
        text = f"The passage answers {found.group(0) if found else 'nothing'} [1]."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


BESSENT_ARTICLE = ("date 2026-02-10\nBessent et He\n\n"
                   "Bessent a rencontré He Lifeng pour la dernière fois en Malaisie en octobre.")


def bessent_service(tmp_path, *replies: str, ingest: bool = True, llm: Any = None, **settings: Any):
    """A QAService over designed embeddings and an in-memory store, answering with `replies` in order (or `llm`),
    with the one-paragraph French Bessent article ingested from tmp_path/a unless `ingest` is False."""
    from qa.service import QAService
    from qa.settings import Settings

    emb = DesignedEmbeddings()
    service = QAService(settings=Settings(index_dir=tmp_path / "idx", k=2, **settings), embeddings=emb,
                        store=MemoryStore(emb), llm=llm if llm is not None else scripted_llm(*replies))
    if ingest:
        folder = tmp_path / "a"
        folder.mkdir(exist_ok=True)
        (folder / "bessent.txt").write_text(BESSENT_ARTICLE, encoding="utf-8")
        service.ingest([folder])
    return service
