"""The REST API's OpenAPI document checked by an outside tool: schemathesis (from PyPI) fuzzes every operation
of /openapi.json against real uvicorn on loopback and finds no server error and no response that the document
does not describe (status, content type, headers, body schema). Fakes for the models; a temporary index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fakes import DesignedEmbeddings, EchoChatModel, MemoryStore
from live_api import running
from qa.api import create_api
from qa.ingest.loaders import make_article
from qa.ingest.web import Fetcher, FetchPolicy, WebLoader
from qa.service import QAService
from qa.settings import Settings

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance")


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_and_no_conformance_failure(tmp_path):
    emb = DesignedEmbeddings()
    service = QAService(settings=Settings(index_dir=tmp_path / "idx", k=2, translate_queries=False),
                        embeddings=emb, store=MemoryStore(emb), llm=EchoChatModel())
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"r{i}.txt").write_text(f"date 2026-02-1{i}\nReport {i}\n\nThe ECB kept its rate, report {i}.",
                                          encoding="utf-8")
    service.ingest([corpus])
    # Fuzzed URLs never leave the process: no DNS lookup (private allowed), an in-process transport that 404s.
    service.web_loader = lambda: WebLoader(Fetcher(FetchPolicy(private=True, host_delay_s=0.0),
                                                   transport=httpx.MockTransport(lambda r: httpx.Response(404))),
                                           make_article)
    st = Path(sys.executable).with_name("st")
    with running(create_api(service, token="t0ken", upload_dir=tmp_path / "uploads")) as base:
        run = subprocess.run(
            [str(st), "run", f"{base}/openapi.json", "--checks", CHECKS, "--max-examples", "25", "--seed", "7",
             "-H", "Authorization: Bearer t0ken", "--request-timeout", "60", "--workers", "1",
             "--suppress-health-check", "all"],
            capture_output=True, text=True, timeout=550, cwd=tmp_path)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "No issues found" in report or "passed" in report.lower(), report
