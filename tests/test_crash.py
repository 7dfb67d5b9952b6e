"""Crash safety: SIGKILL the ingesting process at random points, re-run, and check the index is exact.

Real Chroma on disk and the real keyword index; designed embeddings keep it fast. The guarantee under test
(README, "Crash safety"): after any kill, re-running the same ingest leaves exactly the expected articles and
chunks (no duplicates, none missing), and the keyword index holds the same chunk ids as the vector index.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from fakes import DesignedEmbeddings
from qa.service import QAService
from qa.settings import Settings
from vectorstore.keyword import KeywordIndex

WORKER = Path(__file__).with_name("crash_worker.py")
TOPICS = ["The ECB held its deposit rate", "Thieves took jewels from the Louvre", "Le pape a rencontré des jeunes",
          "Heavy rain flooded the valley", "La BCE a laissé son taux inchangé"]


def _corpus(folder: Path, n: int = 60) -> None:
    folder.mkdir()
    for i in range(n):
        sentences = " ".join(f"{TOPICS[(i + j) % len(TOPICS)]} in report {i}, paragraph {j}." for j in range(12))
        (folder / f"a{i:02d}.txt").write_text(f"date 2025-0{1 + i % 9}-1{i % 10}\nStory {i}\n\n{sentences}",
                                              encoding="utf-8")


def _run(index: Path, corpus: Path, delay: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(index), str(corpus), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _state(index: Path):
    service = QAService(settings=Settings(index_dir=index), embeddings=DesignedEmbeddings())
    store = service.store
    metas = store.metadata()
    chunks_per_article = Counter(str(m["article_id"]) for _, m in metas)
    texts = [r.text for r in store.get([i for i, _ in metas])]
    return service, sorted(i for i, _ in metas), chunks_per_article, texts


@pytest.mark.timeout(300)
def test_sigkill_at_random_points_then_rerun_gives_the_exact_index(tmp_path):
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    reference = tmp_path / "reference"
    assert _run(reference, corpus, 0.0).wait(timeout=120) == 0
    _, want_ids, want_counts, want_texts = _state(reference)
    assert len(want_ids) > 60

    index = tmp_path / "index"
    rng = random.Random(20251123)
    mid_write_kills = 0
    for attempt in range(6):
        proc = _run(index, corpus, 0.3)
        first = proc.stdout.readline()  # blocks until the first batch is being embedded (or the run ended)
        time.sleep(rng.uniform(0.0, 0.9))  # then somewhere inside the next few of ~10 batch writes
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        out = first + rest
        started = out.count("batch of")
        if not finished and started and "added" not in out:
            mid_write_kills += 1  # killed after some batches were embedded/written and before the end
    assert mid_write_kills >= 3, "too few kills landed inside the ingest: slow the worker down"

    final = _run(index, corpus, 0.0)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err[-2000:]
    service, ids, counts, texts = _state(index)
    assert ids == want_ids  # none missing, none extra
    assert counts == want_counts
    assert sorted(texts) == sorted(want_texts)  # no chunk stored twice under another id
    keyword = KeywordIndex(index / "keyword" / service.settings.collection)
    assert keyword.load()
    assert sorted(keyword.ids()) == ids  # keyword and vector indexes agree

    again = _run(index, corpus, 0.0)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and "0 added" in out and "60 unchanged" in out and "0 chunks written" in out
