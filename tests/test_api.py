import json

import pytest
from fastapi.testclient import TestClient

from fakes import BESSENT_ARTICLE, bessent_service
from qa.api import create_api, safe_filename

ARTICLE = BESSENT_ARTICLE


def _service(tmp_path, *replies, ingest=True):
    return bessent_service(tmp_path, *replies, ingest=ingest)


@pytest.fixture
def client(tmp_path):
    svc = _service(tmp_path, "Bessent last met He Lifeng in October 2025 [1].",
                   "Bessent last met He Lifeng in October 2025 [1].")
    return TestClient(create_api(svc))


def test_ask_returns_the_answer_json(client):
    res = client.post("/api/ask", json={"question": "When did Bessent last meet He Lifeng?", "as_of": "2026-02-11"})
    assert res.status_code == 200
    body = res.json()
    assert body["answer"] == "Bessent last met He Lifeng in October 2025 [1]."
    assert body["citations"][0]["language"] == "fr" and body["as_of"] == "2026-02-11"


def test_stream_sends_tokens_then_the_answer(client):
    with client.stream("POST", "/api/ask/stream", json={"question": "When did Bessent last meet He?"}) as res:
        assert res.status_code == 200
        text = "".join(res.iter_text())
    events = [block.split("\n", 1) for block in text.strip().split("\n\n")]
    kinds = [e[0].removeprefix("event: ") for e in events]
    assert kinds[0] == "passages" and kinds[-1] == "answer" and kinds.count("token") > 1
    shown = json.loads(events[0][1].removeprefix("data: "))
    answer = json.loads(events[-1][1].removeprefix("data: "))
    assert shown["reading"] is True and shown["passages"] == answer["passages"]
    assert "Malaisie" in shown["passages"][0]["text"]
    tokens = "".join(json.loads(e[1].removeprefix("data: "))["text"] for e in events if e[0] == "event: token")
    assert tokens == "Bessent last met He Lifeng in October 2025 [1]."


def test_validation_errors_name_the_field(client):
    res = client.post("/api/ask", json={"question": ""})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"][-1] == "question"
    res = client.post("/api/ask", json={"question": "When?", "k": 0})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"][-1] == "k"
    res = client.post("/api/ask", json={"question": "When?", "as_of": "last year"})
    assert res.status_code == 422 and "YYYY-MM-DD" in res.json()["detail"]


def test_empty_index_is_409_not_500(tmp_path):
    client = TestClient(create_api(_service(tmp_path, "x", ingest=False)))
    for path in ("/api/ask", "/api/ask/stream"):
        res = client.post(path, json={"question": "When did Bessent meet He?"})
        assert res.status_code == 409 and "newsqa ingest" in res.json()["detail"]


def test_ingest_upload_list_delete_and_health(tmp_path):
    client = TestClient(create_api(_service(tmp_path, "x", ingest=False)))
    files = [("files", ("../../evil name.txt", ARTICLE.encode(), "text/plain")),
             ("files", ("bad.jsonl", b'{"text": "ok record about the ECB"}\n{broken\n', "application/json"))]
    report = client.post("/api/ingest", files=files).json()
    assert report["added"] == 2 and report["failed"] == 1 and not report["ok"]
    assert not (tmp_path / "evil name.txt").exists()  # no path traversal: saved under the upload folder
    assert (tmp_path / "idx" / "uploads" / "evil name.txt").is_file()
    listing = client.get("/api/articles").json()
    assert listing["stats"]["articles"] == 2
    health = client.get("/api/health").json()
    assert health["articles"] == 2 and health["status"] == "ok"
    article_id = listing["articles"][0]["article_id"]
    assert client.delete(f"/api/articles/{article_id}").json()["chunks_removed"] >= 1
    assert client.delete(f"/api/articles/{article_id}").status_code == 404
    records = client.post("/api/ingest/records", json={"records": [{"id": "r1", "text": "The ECB held rates."}]})
    assert records.json()["added"] == 1


def test_bearer_token_is_checked(tmp_path):
    client = TestClient(create_api(_service(tmp_path, "ok [1]"), token="s3cret"))
    assert client.get("/api/articles").status_code == 401
    assert client.get("/api/articles", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/articles", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/health").status_code == 200


def test_openapi_schema_is_served(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/ingest", "/api/articles", "/api/health"} <= set(paths)


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\..\\x.txt") == "x.txt"
    assert safe_filename("") == "upload.txt"


def test_upload_over_the_size_limit_is_413_and_nothing_is_saved(tmp_path, monkeypatch):
    import qa.api as api

    monkeypatch.setattr(api, "MAX_UPLOAD_BYTES", 1000)
    client = TestClient(create_api(_service(tmp_path, "x", ingest=False)))
    res = client.post("/api/ingest", files=[("files", ("big.txt", b"word " * 400, "text/plain"))])
    assert res.status_code == 413 and "big.txt" in res.json()["detail"]
    assert not (tmp_path / "idx" / "uploads" / "big.txt").exists()
    assert client.get("/api/articles").json()["stats"]["articles"] == 0


def test_upload_names_cannot_escape_the_upload_folder():
    for hostile in ("../../etc/passwd", "/etc/passwd", "..\\..\\win.ini", "./.bashrc", "a/../../b.txt", "..", ""):
        name = safe_filename(hostile)
        assert name and "/" not in name and "\\" not in name and name not in {".", ".."}


def test_options_reach_the_answer_and_are_validated(tmp_path):
    from fakes import PromptRecorder
    from qa.answer.prompt import OPTION_RULE

    svc = _service(tmp_path, "Malaysia [1]", "Malaysia [1]")
    recorder = PromptRecorder()
    svc.llm.callbacks = [recorder]
    client = TestClient(create_api(svc))
    res = client.post("/api/ask", json={"question": "Where did Bessent last meet He Lifeng?",
                                        "options": ["Malaysia", "Geneva"]})
    assert res.status_code == 200 and res.json()["answer"] == "Malaysia [1]"
    assert recorder.seen[0].endswith("Lifeng?\nOptions: Malaysia; Geneva\n" + OPTION_RULE)
    with client.stream("POST", "/api/ask/stream", json={"question": "Where did Bessent last meet He Lifeng?",
                                                         "options": ["Malaysia", "Geneva"]}) as streamed:
        assert streamed.status_code == 200 and "event: answer" in "".join(streamed.iter_text())
    assert recorder.seen[1] == recorder.seen[0]
    bad = client.post("/api/ask", json={"question": "Where?", "options": [f"o{i}" for i in range(11)]})
    assert bad.status_code == 422 and "options" in bad.text
    # An empty option is an HTTP error on the streaming route too, not an error event after a 200.
    empty = client.post("/api/ask/stream", json={"question": "Where?", "options": ["Malaysia", " "]})
    assert empty.status_code == 422 and "option 2 is empty" in empty.text
