"""The int8 question copy of the embedder (`query_backend=onnx-int8`): which products it quantizes, that the copy
computes what the float graph computes to int8 precision, and how the embedder picks the question runtime.

Unit tests build a tiny ONNX graph by hand; the real copy is tested in test_real_models.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxruntime.quantization")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

WIDTH = 8


def _graph_folder(model_folder: Path) -> Path:
    """A fake export of `model_folder`: input_ids, attention_mask [b, l] -> [b, WIDTH] through a widening product
    (8 -> 16), a narrowing one (16 -> 8, like an MLP down projection), a product of two activations (like
    attention's) and a last weight product (8 -> 8). Written where `newsqa models pull` writes the export."""
    from vectorstore.onnx_encoder import GRAPH, MARKER, exported_folder

    rng = np.random.default_rng(3)
    weights = {"w_in": rng.normal(size=(1, WIDTH)), "w_up": rng.normal(size=(WIDTH, 16)) / 3,
               "w_down": rng.normal(size=(16, WIDTH)) / 4, "w_out": rng.normal(size=(WIDTH, WIDTH)) / 3}
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_f", "axis_last"], ["ids_3d"]),  # [b, l, 1]
        helper.make_node("MatMul", ["ids_3d", "w_in"], ["h0"], name="embed"),  # [b, l, 8] (reads 1 < width)
        helper.make_node("Tanh", ["h0"], ["h1"]),
        helper.make_node("MatMul", ["h1", "w_up"], ["up"], name="mlp_up"),
        helper.make_node("Relu", ["up"], ["act"]),
        helper.make_node("MatMul", ["act", "w_down"], ["down"], name="mlp_down"),
        helper.make_node("Transpose", ["down"], ["down_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["down", "down_t"], ["scores"], name="scores"),  # two activations
        helper.make_node("MatMul", ["scores", "down"], ["mixed"], name="mix"),
        helper.make_node("MatMul", ["mixed", "w_out"], ["out3"], name="head"),
        helper.make_node("ReduceMean", ["out3"], ["question_vector"], axes=[1], keepdims=0),
    ]
    initializers = [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()]
    initializers.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_last"))
    graph = helper.make_graph(
        nodes, "fake-encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "l"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "l"])],
        [helper.make_tensor_value_info("question_vector", TensorProto.FLOAT, ["b", WIDTH])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = exported_folder(model_folder)
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / GRAPH))
    (folder / MARKER).write_text("{}")
    model_folder.mkdir(exist_ok=True)
    return folder


class _LengthTokenizer:
    """Each text becomes its word lengths (the fake graph's inputs), padded with zeros."""

    def __call__(self, texts, padding, truncation, max_length, return_tensors):
        rows = [[len(w) for w in t.split()][:max_length] for t in texts]
        width = max(len(r) for r in rows)
        return {"input_ids": np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64),
                "attention_mask": np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=np.int64)}


def test_products_to_quantize_are_the_weight_products_less_the_narrowing_ones(tmp_path):
    from vectorstore.onnx_encoder import GRAPH
    from vectorstore.onnx_question_int8 import products_to_quantize, weight_products

    folder = _graph_folder(tmp_path / "model")
    products = weight_products(onnx.load(str(folder / GRAPH)).graph)
    # attention-like products of two activations are not weight products
    assert products == [("embed", 1, WIDTH), ("mlp_up", WIDTH, 16), ("mlp_down", 16, WIDTH), ("head", WIDTH, WIDTH)]
    assert products_to_quantize(products, keep_narrowing=True) == ["embed", "mlp_up", "head"]
    real_like = [("q", 768, 768), ("up", 768, 3072), ("down", 3072, 768), ("o", 768, 768)]
    assert products_to_quantize(real_like, keep_narrowing=True) == ["q", "up", "o"]
    assert products_to_quantize(real_like, keep_narrowing=False) == ["q", "up", "down", "o"]
    assert products_to_quantize([], keep_narrowing=True) == []


@pytest.mark.parametrize("reduce_range", [True, False])
def test_the_copy_quantizes_the_chosen_products_and_computes_what_the_float_graph_does(tmp_path, reduce_range):
    from qa.settings import cpu_has_int8_dot
    from vectorstore.onnx_encoder import GRAPH, OnnxEncoder, exported_folder
    from vectorstore.onnx_question_int8 import (QUESTION_MARKER, is_question_quantized, question_int8_folder,
                                                quantize_question_encoder)

    model = tmp_path / "model"
    _graph_folder(model)
    assert not is_question_quantized(model)
    target = quantize_question_encoder(model, keep_narrowing=False, reduce_range=reduce_range)
    assert target == question_int8_folder(model) == tmp_path / "model.onnx-q8" and is_question_quantized(model)
    marker = json.loads((target / QUESTION_MARKER).read_text())
    assert marker["quantized_products"] == marker["weight_products"] == 4
    assert marker["reduce_range"] is reduce_range and marker["keep_narrowing"] is False
    ops = {node.op_type for node in onnx.load(str(target / GRAPH)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & ops  # int8 products in the copy
    texts = ["a short question", "and a somewhat longer one here", "x"]
    exact = OnnxEncoder(exported_folder(model), _LengthTokenizer()).encode_many(texts)
    quantized = OnnxEncoder(target, _LengthTokenizer()).encode_many(texts)
    cosines = (exact * quantized).sum(axis=1)
    # Full-range weights on a CPU without an int8 dot product: pairs of products are added in 16-bit lanes and
    # can saturate (why `newsqa models quantize --questions` keeps 7 bits there): 0.970 at worst on an AVX2 CPU.
    bound = 0.98 if reduce_range or cpu_has_int8_dot() else 0.95
    assert cosines.min() > bound, cosines
    assert not np.allclose(exact, quantized, atol=1e-7)  # it is another computation, not a copy of the file


def test_the_copy_keeps_narrowing_products_in_float_and_is_made_once(tmp_path):
    from vectorstore.onnx_encoder import GRAPH
    from vectorstore.onnx_question_int8 import QUESTION_MARKER, quantize_question_encoder

    model = tmp_path / "model"
    _graph_folder(model)
    target = quantize_question_encoder(model, keep_narrowing=True)
    graph = onnx.load(str(target / GRAPH)).graph
    float_products = {n.name for n in graph.node if n.op_type == "MatMul"}
    assert "mlp_down" in float_products and "scores" in float_products and "mix" in float_products
    assert "mlp_up" not in float_products and "head" not in float_products
    stamp = (target / QUESTION_MARKER).stat().st_mtime_ns
    assert quantize_question_encoder(model, keep_narrowing=False) == target  # present: not made again
    assert (target / QUESTION_MARKER).stat().st_mtime_ns == stamp
    quantize_question_encoder(model, keep_narrowing=False, replace=True)
    assert json.loads((target / QUESTION_MARKER).read_text())["keep_narrowing"] is False


def test_no_export_no_copy_and_errors_name_the_fix(tmp_path):
    from vectorstore.embeddings import missing_files
    from vectorstore.onnx_question_int8 import question_int8_folder, quantize_question_encoder

    with pytest.raises(FileNotFoundError, match="newsqa models pull"):
        quantize_question_encoder(tmp_path / "model")
    assert not question_int8_folder(tmp_path / "model").exists()
    assert "newsqa models quantize --questions" in missing_files(tmp_path / "model", "onnx-int8")
    assert "newsqa models pull" in missing_files(tmp_path / "model", "onnx")
    _graph_folder(tmp_path / "model")
    assert missing_files(tmp_path / "model", "onnx") is None
    assert "newsqa models quantize --questions" in missing_files(tmp_path / "model", "onnx-int8")


def test_the_question_runtime_auto_picks_the_copy_where_it_exists(tmp_path, capsys):
    from vectorstore.embeddings import load_question_encoder
    from vectorstore.onnx_encoder import GRAPH
    from vectorstore.onnx_question_int8 import question_int8_folder, quantize_question_encoder

    model = tmp_path / "model"
    tokenizer = _LengthTokenizer()
    assert load_question_encoder(model, tokenizer, 1, "auto") == (None, "torch")  # nothing exported
    _graph_folder(model)
    assert load_question_encoder(model, tokenizer, 1, "auto")[1] == "onnx"
    quantize_question_encoder(model)
    encoder, kind = load_question_encoder(model, tokenizer, 1, "auto")
    assert kind == "onnx-int8" and len(encoder.encode("who won")) == WIDTH
    assert load_question_encoder(model, tokenizer, 1, "onnx")[1] == "onnx"  # asked for by name
    # a damaged copy: `auto` says so and takes the float32 export; asked for by name, an error
    (question_int8_folder(model) / GRAPH).write_bytes(b"not a graph")
    assert load_question_encoder(model, tokenizer, 1, "auto")[1] == "onnx"
    assert "newsqa models quantize --questions" in capsys.readouterr().err
    with pytest.raises(Exception) as failed:  # onnxruntime's own error on the damaged graph, not a fallback
        load_question_encoder(model, tokenizer, 1, "onnx-int8")
    assert "not a graph" not in str(failed.value) and not isinstance(failed.value, (ImportError, FileNotFoundError))
    assert "INVALID" in str(failed.value).upper() or "protobuf" in str(failed.value).lower()


def test_the_setting_takes_onnx_int8_for_questions_only():
    from pydantic import ValidationError

    from qa.settings import Settings

    assert Settings(query_backend="onnx-int8").query_backend == "onnx-int8"
    with pytest.raises(ValidationError, match="document_backend"):
        Settings(document_backend="onnx-int8")


def test_a_run_with_int8_questions_is_another_run_both_ways(tmp_path):
    from qa.evaluation.runner import _fingerprint, _same_run
    from qa.settings import Settings
    from vectorstore.onnx_question_int8 import question_int8_folder

    class Service:  # no embedder: the fingerprint is read from the settings and the model folder, nothing loaded
        def __init__(self, **settings):
            self.settings = Settings(index_dir=tmp_path, model_dir=tmp_path / "models", **settings)

    float32 = _fingerprint(Service(query_backend="onnx"), "set")
    named = _fingerprint(Service(query_backend="onnx-int8"), "set")
    assert float32["question_encoder"] == "float32" and named["question_encoder"] == "onnx-int8"
    assert _fingerprint(Service(), "set")["question_encoder"] == "float32"  # auto, no copy made
    copy = question_int8_folder(tmp_path / "models" / "embeddinggemma-300m")
    copy.mkdir(parents=True)
    (copy / "model.onnx").write_bytes(b"")
    (copy / "question-int8.json").write_text("{}")
    assert _fingerprint(Service(), "set")["question_encoder"] == "onnx-int8"  # auto, once the copy exists
    (copy / "question-int8.json").write_text(json.dumps({"export": {"marker": "another export", "sizes": []}}))
    assert _fingerprint(Service(), "set")["question_encoder"] == "float32"  # a stale copy: auto passes it over
    assert _same_run(float32, named) == ["question_encoder"] and _same_run(named, float32) == ["question_encoder"]
    older = {k: v for k, v in float32.items() if k != "question_encoder"}  # stored before it was recorded
    assert _same_run(older, float32) == [] and _same_run(older, named) == ["question_encoder"]


def test_models_quantize_questions_makes_the_copy_and_refuses_misplaced_flags(tmp_path, monkeypatch, capsys):
    from qa import cli, copies, models
    from qa.errors import ConfigError

    made = []
    monkeypatch.setattr(models, "ensure", lambda spec, model_dir, auto_pull=True: tmp_path / "model")
    monkeypatch.setattr(copies, "export_encoder_onnx", lambda folder, settings: "exported")
    monkeypatch.setattr("vectorstore.onnx_encoder.is_exported", lambda folder: True)
    monkeypatch.setattr(copies, "quantize_question_int8", lambda folder: made.append(folder) or "made it")
    monkeypatch.setattr(copies, "quantize_encoder_int8", lambda *a: pytest.fail("the chunk copy was made"))
    assert cli.main(["models", "quantize", "--questions"]) == 0
    assert made == [tmp_path / "model"] and "made it" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="--questions belongs"):
        cli.cmd_models(cli.build_parser().parse_args(["models", "pull", "--questions"]))
    with pytest.raises(ConfigError, match="calibration"):
        cli.cmd_models(cli.build_parser().parse_args(["models", "quantize", "--questions", "--calibrate", "x"]))


def test_a_copy_made_from_an_earlier_export_is_not_used(tmp_path, capsys):
    """The export made again (another marker, other file sizes) after the copy: `auto` says so and takes the
    float32 export; asked for by name, an error that names the command; made again, it is current."""
    import time

    from vectorstore.embeddings import load_question_encoder
    from vectorstore.onnx_encoder import MARKER, exported_folder
    from vectorstore.onnx_question_int8 import QUESTION_MARKER, is_stale, question_int8_folder, quantize_question_encoder

    model = tmp_path / "model"
    _graph_folder(model)
    quantize_question_encoder(model)
    assert not is_stale(model)
    assert load_question_encoder(model, _LengthTokenizer(), 1, "auto")[1] == "onnx-int8"
    (exported_folder(model) / MARKER).write_text(json.dumps({"torch": "a later one", "at": time.time()}))
    assert is_stale(model)
    assert load_question_encoder(model, _LengthTokenizer(), 1, "auto")[1] == "onnx"
    assert "earlier export" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="newsqa models quantize --questions"):
        load_question_encoder(model, _LengthTokenizer(), 1, "onnx-int8")
    quantize_question_encoder(model, replace=True)
    assert not is_stale(model) and load_question_encoder(model, _LengthTokenizer(), 1, "auto")[1] == "onnx-int8"
    # a copy whose marker predates the record counts as current
    marker = question_int8_folder(model) / QUESTION_MARKER
    marker.write_text(json.dumps({k: v for k, v in json.loads(marker.read_text()).items() if k != "export"}))
    assert not is_stale(model)


def test_models_pull_makes_the_question_copy_once_and_again_after_a_new_export(tmp_path, monkeypatch):
    from qa import copies
    from vectorstore.onnx_encoder import MARKER, exported_folder
    from vectorstore.onnx_question_int8 import auto_uses_copy

    model = tmp_path / "model"
    assert "skipped (no ONNX export" in copies.question_int8_for_auto(model) and not auto_uses_copy(model)
    _graph_folder(model)
    assert "quantized in" in copies.question_int8_for_auto(model) and auto_uses_copy(model)
    assert "already made" in copies.question_int8_for_auto(model)
    (exported_folder(model) / MARKER).write_text('{"torch": "a later export"}')
    assert not auto_uses_copy(model)
    assert "quantized in" in copies.question_int8_for_auto(model) and auto_uses_copy(model)

    def broken(folder):
        raise RuntimeError("quantizer fell over")

    monkeypatch.setattr(copies, "quantize_question_int8", broken)
    (exported_folder(model) / MARKER).write_text('{"torch": "yet another export"}')
    line = copies.question_int8_for_auto(model)
    assert "not made (RuntimeError: quantizer fell over)" in line and "through the export" in line
