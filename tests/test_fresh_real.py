"""Fresh news first with the real parts: a feed item on a loopback site, polled by the FeedWatcher into real
Chroma, asked about with the real encoder and LLM while its own vectors are still being computed."""

from __future__ import annotations

import threading

import pytest

from conftest import SAMPLE_DIR
from qa.ingest.watch import FeedWatcher
from qa.service import QAService
from qa.settings import Settings
from web_fixtures import PORT_QUESTION, NewsSite, publish_port_story

pytestmark = pytest.mark.real_models



class HeldEncoder:
    """The real embeddings, with document batches encoded in the thread named "poll" held until `gate` opens."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.hold = False
        self.waiting = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _wait(self) -> None:
        if self.hold and threading.current_thread().name == "poll":
            self.waiting.set()
            assert self.gate.wait(120), "the test never opened the gate"

    def embed_documents(self, texts):
        self._wait()
        return self.inner.embed_documents(texts)

    def embed_raw(self, texts):
        self._wait()
        return self.inner.embed_raw(texts)


@pytest.mark.timeout(600)
def test_a_feed_item_is_answered_while_its_vectors_are_pending_with_real_models(tmp_path, real_embeddings,
                                                                                real_llm):
    encoder = HeldEncoder(real_embeddings)
    service = QAService(settings=Settings(index_dir=tmp_path / "index", url_private="allow"), embeddings=encoder,
                        llm=real_llm)
    service.ingest([SAMPLE_DIR])
    with NewsSite() as site:
        watcher = FeedWatcher(service, tmp_path / "feeds.json", every_s=900)
        url = watcher.add(publish_port_story(site)).url
        encoder.hold = True
        polled = {}
        poll = threading.Thread(target=lambda: polled.update(state=watcher.poll(url)), name="poll")
        poll.start()
        try:
            assert encoder.waiting.wait(120), "the poll never reached the encoder"
            assert not service.store.ids(where={"url": f"{site.base}/port/boats"})  # no vectors yet
            answer = service.ask(PORT_QUESTION, as_of="2026-12-08")
        finally:
            encoder.gate.set()
            poll.join(300)
    assert not answer.abstained, answer.text
    assert "eleven" in answer.text.lower() or "11" in answer.text
    assert {c.passage.chunk.url for c in answer.citations} == {f"{site.base}/port/boats"}
    assert any("Kessendorf" in p.chunk.text and "keyword" in p.matched_by for p in answer.passages)
    assert polled["state"].new == 1 and service.pending.batches() == []
    assert service.store.ids(where={"url": f"{site.base}/port/boats"})  # the vectors arrived after
    assert sorted(service.keyword.ids()) == sorted(service.store.ids())
