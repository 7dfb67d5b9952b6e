from datetime import date

import pytest

from qa.ingest.chunking import Chunker
from qa.types import Article

TEXT = " ".join(f"Sentence number {i} says something about trade talks between two countries." for i in range(40))


def _article(text=TEXT, **kw):
    base = dict(article_id="a1", title="Talks", text=text, source="a.txt", published=date(2025, 10, 26),
                language="en")
    base.update(kw)
    return Article(**base)


def test_chunks_are_sentence_aligned_overlapping_and_carry_metadata():
    chunks = Chunker(400, 100).split(_article())
    assert len(chunks) > 3
    assert all(len(c.text) <= 400 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # consecutive chunks share at least one sentence
    assert any(s in chunks[1].text for s in chunks[0].text.split(". ")[-2:])
    meta = chunks[0].metadata()
    assert meta["article_id"] == "a1" and meta["published"] == "2025-10-26" and meta["published_int"] == 20251026
    assert meta["language"] == "en" and meta["title"] == "Talks" and meta["source"] == "a.txt"


def test_ids_are_stable_and_change_with_content():
    chunker = Chunker(400, 100)
    first = [c.chunk_id for c in chunker.split(_article())]
    again = [c.chunk_id for c in chunker.split(_article())]
    changed = [c.chunk_id for c in chunker.split(_article(title="Talks, updated"))]
    assert first == again
    assert len(set(first)) == len(first)
    assert not set(first) & set(changed)


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValueError, match="chunk_overlap"):
        Chunker(100, 100)
