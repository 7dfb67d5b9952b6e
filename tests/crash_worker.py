"""Ingest a folder into a real on-disk index with designed embeddings, slowly, so a test can SIGKILL it.

    python tests/crash_worker.py INDEX_DIR CORPUS_DIR [DELAY_SECONDS]

Each embedding batch sleeps DELAY_SECONDS, which leaves the process somewhere inside a write most of the time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakes import DesignedEmbeddings  # noqa: E402
import qa.service  # noqa: E402
from qa.service import QAService  # noqa: E402
from qa.settings import Settings  # noqa: E402


class SlowEmbeddings(DesignedEmbeddings):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed_documents(self, texts):
        print(f"batch of {len(texts)}", flush=True)  # the test counts these to know where the kill landed
        time.sleep(self.delay)
        return super().embed_documents(texts)


def main() -> int:
    index, corpus = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    qa.service.INGEST_BATCH = 16  # small write batches: many kill points
    settings = Settings(index_dir=index)
    service = QAService(settings=settings, embeddings=SlowEmbeddings(delay))
    report = service.ingest([corpus])
    print(report.summary(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
