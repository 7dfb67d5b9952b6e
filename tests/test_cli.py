import pytest
import json
import subprocess
import sys

from qa.cli import main
from qa.settings import Settings


def test_help_is_fast_and_loads_no_heavy_library():
    code = ("import sys; from qa.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'ik_llama_cpp', 'gradio') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    text = capsys.readouterr().out
    for command in ("ingest", "ask", "models", "stats"):
        assert command in text


def test_empty_question_is_a_clear_error_with_exit_status(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path))
    assert main(["ask", "   "]) == 2
    assert "question is empty" in capsys.readouterr().err


def test_bad_as_of_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path))
    assert main(["ask", "When?", "--as-of", "yesterday"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_models_list_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSQA_MODEL_DIR", str(tmp_path))
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    models = [r for r in rows if r["kind"] != "copy"]
    assert {r["name"] for r in models} == {"embeddinggemma-300m", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"}
    assert not any(r["present"] for r in rows)
    copies = {r["name"]: r for r in rows if r["kind"] == "copy"}
    assert set(copies) == {"ONNX export"}
    assert copies["ONNX export"]["path"] == str(tmp_path / "embeddinggemma-300m.onnx")
    # a copy that exists is shown with its size on disk
    made = tmp_path / "embeddinggemma-300m.onnx"
    made.mkdir()
    (made / "model.onnx").write_bytes(b"x" * 1000)
    (made / "export.json").write_text("{}")
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ONNX export" in listed and "0.00 GB" in listed
    assert main(["models", "list", "--json"]) == 0
    copy = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "ONNX export")
    assert copy["present"] and copy["size"] == 1002
    # a copy an earlier version made, which nothing reads any more, is named for deletion
    assert "no longer used" not in (main(["models", "list"]), capsys.readouterr().out)[1]
    old = tmp_path / "embeddinggemma-300m.onnx-q8"
    old.mkdir()
    (old / "model.onnx").write_bytes(b"x" * 2000)
    main(["models", "list"])
    listed = capsys.readouterr().out
    assert "no longer used" in listed and f"{old}  0.00 GB" in listed


def test_eval_checks_every_config_before_running_any(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path / "idx"))
    data = tmp_path / "q.jsonl"
    data.write_text('{"id": "a", "question": "Who?"}\n')
    assert main(["eval", str(data), "--config", "ours", "--config", "typo", "--out", str(tmp_path / "o")]) == 2
    assert "unknown config 'typo'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "ours").exists()  # nothing ran


def test_eval_shares_one_generator_between_configs_that_run_the_same_model_the_same_way(tmp_path, monkeypatch):
    import qa.evaluation
    import qa.evaluation.report
    import qa.service

    built = []

    class FakeService:
        def __init__(self, settings, recipe=None, llm=None, progress=True):
            self.settings, self.recipe = settings, recipe
            if llm is None:
                built.append(settings.llm_context)
                llm = object()
            self.llm = llm

    monkeypatch.setattr(qa.service, "QAService", FakeService)
    monkeypatch.setattr(qa.evaluation, "run_eval", lambda service, *a, **k: service.llm)
    monkeypatch.setattr(qa.evaluation.report, "write", lambda reports, *a: {"markdown": "m", "json": "j"})
    seen = []
    monkeypatch.setattr(qa.evaluation.report, "comparison_table", lambda reports: seen.extend(reports) or "")
    (tmp_path / "stock.json").write_text('{"name": "stock", "settings": {"llm_context": 2048}}')
    (tmp_path / "lede.json").write_text('{"name": "lede", "recipe": {"sentence_window": 0}}')
    data = tmp_path / "q.jsonl"
    data.write_text('{"id": "a", "question": "Who?"}\n')
    assert main(["eval", str(data), "--config", "ours", "--config", str(tmp_path / "stock.json"),
                 "--config", str(tmp_path / "lede.json"), "--out", str(tmp_path / "o")]) == 0
    assert built == [Settings().llm_context, 2048]
    assert seen[0] is seen[2] and seen[0] is not seen[1]  # lede reused ours' generator


def test_eval_refuses_a_zero_limit(capsys, tmp_path, monkeypatch):
    from qa.errors import InputError
    from qa.evaluation import run_eval

    with pytest.raises(InputError, match="positive"):
        run_eval(object(), [], limit=0)


def test_delete_removes_articles_and_names_unknown_ids(capsys, tmp_path, monkeypatch):
    import qa.cli
    from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
    from qa.service import QAService
    from qa.settings import Settings

    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "ecb", "text": "The ECB left its deposit rate unchanged on Thursday."}\n'
                    '{"id": "louvre", "text": "Thieves took crown jewels from the Louvre on Sunday."}\n')
    emb = DesignedEmbeddings()
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx"), embeddings=emb, store=MemoryStore(emb),
                    llm=scripted_llm())
    svc.ingest([feed])
    monkeypatch.setattr(qa.cli, "_service", lambda args, progress=False: svc)
    assert main(["delete", "ecb", "nope"]) == 1
    captured = capsys.readouterr()
    assert "ecb: 1 chunks deleted" in captured.out and "no article 'nope'" in captured.err
    assert [a["article_id"] for a in svc.articles()] == ["louvre"]
    assert sorted(svc.keyword.ids()) == sorted(i for i, _ in svc.store.metadata())


def test_ask_takes_options_and_names_a_bad_one(capsys, tmp_path, monkeypatch):
    from qa.cli import build_parser

    args = build_parser().parse_args(["ask", "Which museum?", "--option", "Louvre", "--option", "Prado"])
    assert args.options == ["Louvre", "Prado"]
    assert build_parser().parse_args(["ask", "Which museum?"]).options is None
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(tmp_path))
    assert main(["ask", "Which museum?", "--option", "Louvre", "--option", " "]) == 2
    assert "option 2 is empty" in capsys.readouterr().err
