"""newsqa: question answering over news articles, with cited answers, offline.

    from qa import QAService
    svc = QAService(index_dir="./index")
    svc.ingest(["data/sample"])
    answer = svc.ask("When did Bessent last meet He Lifeng?", as_of="2026-02-11")

Importing this package loads no model and touches no file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["QAService", "Settings", "Recipe", "Answer", "Citation", "Passage", "Retrieved", "IngestReport"]

if TYPE_CHECKING:
    from qa.service import QAService
    from qa.settings import Recipe, Settings
    from qa.types import Answer, Citation, IngestReport, Passage, Retrieved


def __getattr__(name: str) -> Any:
    if name == "QAService":
        from qa.service import QAService

        return QAService
    if name in {"Settings", "Recipe"}:
        from qa import settings

        return getattr(settings, name)
    if name in {"Answer", "Citation", "Passage", "Retrieved", "IngestReport"}:
        from qa import types

        return getattr(types, name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
