"""OpenVINO's infer-request streams and the int8 copy of the embedder (`document_backend=openvino-int8`).

Unit tests build tiny OpenVINO graphs by hand; the real test quantizes the real export (few calibration
passages, in a temporary model folder) and ingests the seeds through it into real Chroma.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino")
opset = pytest.importorskip("openvino.opset13")


def _products_graph():
    """x[?, 4] -> 4x4 -> 4x6 (widening) -> 6x4 (back to the width) -> head 4x8, 8x4; one activation product."""
    x = opset.parameter([-1, 4], np.float32, name="x")
    rng = np.random.default_rng(0)

    def product(inp, k, n, name, transposed=False):
        weight = rng.normal(size=(n, k) if transposed else (k, n)).astype(np.float32)
        node = opset.matmul(inp, opset.constant(weight), False, transposed)
        node.set_friendly_name(name)
        return node

    h = product(x, 4, 4, "attention_in")
    wide = product(h, 4, 6, "mlp_up")
    down = product(wide, 6, 4, "mlp_down", transposed=True)
    scores = opset.matmul(down, down, False, True)  # two activations: not a weight product
    scores.set_friendly_name("scores")
    head1 = product(opset.matmul(scores, down, False, False), 4, 8, "head_up")
    head2 = product(head1, 8, 4, "head_down")
    return ov.Model([head2], [x], "products")


def test_kept_in_float_are_the_products_that_read_more_than_the_width_and_the_head():
    from vectorstore.openvino_int8 import kept_in_float

    assert kept_in_float(_products_graph()) == ["head_down", "head_up", "mlp_down"]


class _LengthTokenizer:
    """Each text becomes its word lengths, padded with zeros: the graph below sums them."""

    def __call__(self, texts, padding, truncation, max_length, return_tensors):
        rows = [[len(w) for w in t.split()][:max_length] for t in texts]
        width = max(len(r) for r in rows)
        ids = np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)
        mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask}


def _summing_graph(folder: Path) -> None:
    """input_ids, attention_mask [b, l] -> [b, 2]: (number of words, sum of word lengths)."""
    ids = opset.parameter([-1, -1], np.int64, name="input_ids")
    mask = opset.parameter([-1, -1], np.int64, name="attention_mask")
    count = opset.reduce_sum(opset.convert(mask, np.float32), [1], True)
    total = opset.reduce_sum(opset.convert(opset.multiply(ids, mask), np.float32), [1], True)
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Model([opset.concat([count, total], 1)], [ids, mask], "sums"), str(folder / "model.xml"))


@pytest.mark.parametrize("streams", [1, 2])
def test_batches_on_several_streams_come_back_in_the_callers_order(tmp_path, streams):
    from vectorstore.openvino_encoder import OpenVinoEncoder

    _summing_graph(tmp_path / "graph")
    encoder = OpenVinoEncoder(tmp_path / "graph", _LengthTokenizer(), threads=2, graph="model.xml",
                              streams=streams)
    assert encoder.streams == streams and encoder.group == 2 * streams * 2
    texts = [" ".join("w" * (1 + (i * 7) % 5) for _ in range(1 + i % 6)) for i in range(23)]
    out = encoder.encode_many(texts)
    assert out.shape == (23, 2)
    for text, row in zip(texts, out):
        words = text.split()
        expected = np.array([len(words), sum(len(w) for w in words)], dtype=float)
        assert np.allclose(row, expected / np.linalg.norm(expected), atol=1e-6)
    assert encoder.encode_many([]).shape[0] == 0


def _picky_graph(folder: Path) -> None:
    """The summing graph, but inference fails when a batch holds an odd number of tokens (a reshape to pairs)."""
    ids = opset.parameter([-1, -1], np.int64, name="input_ids")
    mask = opset.parameter([-1, -1], np.int64, name="attention_mask")
    pairs = opset.reshape(ids, opset.constant(np.array([-1, 2], dtype=np.int64)), False)
    zero = opset.multiply(opset.reduce_sum(opset.convert(pairs, np.float32), [0, 1], False),
                          opset.constant(np.float32(0)))
    count = opset.reduce_sum(opset.convert(mask, np.float32), [1], True)
    total = opset.reduce_sum(opset.convert(opset.multiply(ids, mask), np.float32), [1], True)
    folder.mkdir(parents=True, exist_ok=True)
    out = opset.add(opset.concat([count, total], 1), zero)
    ov.save_model(ov.Model([out], [ids, mask], "picky"), str(folder / "model.xml"))


@pytest.mark.parametrize("streams", [1, 2])
def test_a_failed_batch_raises_and_the_next_call_still_works(tmp_path, streams):
    """A tokenizer error half-way, then an inference error: each is raised, the requests still running are
    waited for, and the encoder (shared by the whole process) encodes the next texts correctly."""
    from vectorstore.openvino_encoder import OpenVinoEncoder

    _picky_graph(tmp_path / "graph")

    class Failing(_LengthTokenizer):
        calls = 0

        def __call__(self, texts, **kwargs):
            Failing.calls += 1
            if Failing.calls == 3:
                raise RuntimeError("tokenizer broke")
            return super().__call__(texts, **kwargs)

    encoder = OpenVinoEncoder(tmp_path / "graph", Failing(), threads=2, graph="model.xml", streams=streams)
    good = ["aaa bbb", "cc dd", "eeee ff", "gg hhh", "iii jj", "kk ll"]  # two words each: even token counts
    expected = np.array([[2, len(t) - 1] for t in good], dtype=float)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    with pytest.raises(RuntimeError, match="tokenizer broke"):
        encoder.encode_many(good)  # the third batch's tokenizer call fails with two batches started
    assert np.allclose(encoder.encode_many(good), expected)
    with pytest.raises(Exception):  # the shortest text, alone in the last batch, has 3 tokens: the reshape fails
        encoder.encode_many(good + ["a b c"])
    assert np.allclose(encoder.encode_many(good), expected)


def test_the_group_handed_over_per_lock_turn_follows_the_encoder(monkeypatch):
    """embed_documents hands a runtime with several streams a group of batches per turn, not one batch."""
    from vectorstore.embeddings import SentenceTransformerEmbeddings

    calls = []

    class Encoder:
        BATCH = 2
        group = 8

        def encode_many(self, texts, max_length):
            calls.append(len(texts))
            return np.ones((len(texts), 3), dtype=np.float32)

    fake = SentenceTransformerEmbeddings.__new__(SentenceTransformerEmbeddings)
    fake._hf = type("HF", (), {"_client": None})()
    fake._prompts, fake._max_length, fake._cut = {}, 64, None
    from vectorstore.locks import QueryFirstLock

    fake._lock = QueryFirstLock()
    vectors = fake._encode_batches([f"text {i}" for i in range(19)], {}, fake._lock.documents, Encoder())
    assert calls == [8, 8, 3] and len(vectors) == 19


def test_calibration_passages_are_overlapping_windows_in_the_document_format(tmp_path):
    from qa.copies import calibration_passages

    (tmp_path / "one.txt").write_text("A title line\n\n" + "word " * 400, encoding="utf-8")
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    passages = calibration_passages([tmp_path], "title: {title} | text: {text}", width=600, stride=120)
    assert len(passages) > 10
    assert all(p.startswith("title: ") and " | text: " in p for p in passages)
    assert all(len(p.split(" | text: ", 1)[1]) <= 600 for p in passages)
    assert len(calibration_passages([tmp_path], None, limit=5)) == 5


def test_int8_backend_errors_name_the_fix(tmp_path):
    from qa.settings import Settings
    from vectorstore.onnx_encoder import GRAPH, MARKER
    from vectorstore.openvino_encoder import load_openvino_encoder
    from vectorstore.openvino_int8 import quantize_export

    assert Settings(document_backend="openvino-int8").document_backend == "openvino-int8"
    with pytest.raises(FileNotFoundError, match="newsqa models pull"):
        quantize_export(tmp_path / "model", ["a passage"], tokenizer=None)
    export = tmp_path / "model.onnx"
    export.mkdir()
    (export / GRAPH).write_bytes(b"")
    (export / MARKER).write_text("{}")
    with pytest.raises(FileNotFoundError, match="newsqa models quantize"):
        load_openvino_encoder(tmp_path / "model", tokenizer=None, int8=True)
    with pytest.raises(ValueError, match="calibration"):
        quantize_export(tmp_path / "model", [], tokenizer=None)


def _fake_copy(folder: Path) -> None:
    from vectorstore.openvino_int8 import INT8_GRAPH, INT8_MARKER, int8_folder

    int8_folder(folder).mkdir(parents=True)
    (int8_folder(folder) / INT8_GRAPH).write_text("<net/>")
    (int8_folder(folder) / INT8_MARKER).write_text("{}")


def test_auto_runs_chunks_through_the_int8_copy_only_where_the_model_runs_bf16_and_the_copy_exists(
        tmp_path, monkeypatch):
    import importlib.util

    from vectorstore.embeddings import auto_picks_int8

    model = tmp_path / "model"
    assert not auto_picks_int8("bfloat16", model)
    _fake_copy(model)
    assert auto_picks_int8("bfloat16", model)
    assert not auto_picks_int8("float32", model)  # AVX2 CPUs: the float32 export under ONNX Runtime instead
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else real_find_spec(name, *a))
    assert not auto_picks_int8("bfloat16", model)


def test_auto_runs_float32_chunks_through_openvino_where_installed_else_onnx_runtime(tmp_path, monkeypatch):
    import importlib.util

    from vectorstore.embeddings import auto_document_runtime
    from vectorstore.onnx_encoder import GRAPH, MARKER, exported_folder

    model = tmp_path / "model"
    assert auto_document_runtime("float32", model) == "torch"  # no export yet
    exported_folder(model).mkdir(parents=True)
    (exported_folder(model) / GRAPH).write_text("graph")
    (exported_folder(model) / MARKER).write_text("{}")
    assert auto_document_runtime("float32", model) == "openvino"
    assert auto_document_runtime("bfloat16", model) == "torch"  # no int8 copy
    _fake_copy(model)
    assert auto_document_runtime("bfloat16", model) == "openvino-int8"
    assert auto_document_runtime("float32", model) == "openvino"  # the int8 copy is for bf16 CPUs only
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else real_find_spec(name, *a))
    assert auto_document_runtime("float32", model) == "onnx"
    assert auto_document_runtime("bfloat16", model) == "torch"


def _half_built(tmp_path: Path, required: bool):
    """An embedder whose chunk encoder is the OpenVINO int8 copy of a model folder that has none (no real model
    is loaded: only what loading the chunk encoder reads)."""
    import threading

    from vectorstore.embeddings import SentenceTransformerEmbeddings

    side = SentenceTransformerEmbeddings.__new__(SentenceTransformerEmbeddings)
    side._hf = type("HF", (), {"_client": type("Model", (), {"tokenizer": None})()})()
    side._document_source, side._document_kind = str(tmp_path / "model"), "openvino-int8"
    side._document_required, side._document_encoder = required, {}
    side._document_loading, side._threads, side._openvino_precision = threading.Lock(), 2, "bf16"
    return side


def test_an_int8_encoder_auto_chose_falls_back_to_pytorch_when_it_cannot_load(tmp_path, capsys):
    side = _half_built(tmp_path, required=False)
    assert side.document_backend == "torch"
    assert "chunks go through PyTorch" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="newsqa models quantize"):  # asked for by name: an error
        _half_built(tmp_path, required=True).document_backend


def test_models_pull_makes_the_int8_copy_only_where_auto_uses_it(tmp_path, monkeypatch):
    import importlib.util

    from qa import copies
    from qa.settings import Settings

    model = tmp_path / "model"
    line = copies.int8_encoder_for_auto(model, Settings(embedding_dtype="float32"))
    assert "not used here" in line
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nncf" else real_find_spec(name, *a))
    line = copies.int8_encoder_for_auto(model, Settings(embedding_dtype="bfloat16"))
    assert "skipped" in line and "nncf" in line and ".[openvino]" in line
    _fake_copy(model)
    assert "already made" in copies.int8_encoder_for_auto(model, Settings(embedding_dtype="bfloat16"))


@pytest.mark.real_models
def test_int8_copy_keeps_the_vectors_and_the_french_seed_ranking(real_embeddings, fp32_embeddings, tmp_path,
                                                                 seeds_dir):
    """`newsqa models quantize` on the real export (24 calibration passages from data/sample, in a temporary
    model folder that links the real one), then chunks through it against PyTorch float32, and a whole ingest of
    the seeds into real Chroma ranked like PyTorch's."""
    from conftest import SAMPLE_DIR
    from qa.copies import calibration_passages
    from qa.settings import Settings, cpu_has_int8_dot
    from test_real_models import cosines_to_float32, seed_ranks_against_torch
    from vectorstore.onnx_encoder import exported_folder
    from vectorstore.openvino_int8 import int8_folder, quantize_export

    pytest.importorskip("nncf")
    source = Path(real_embeddings._model_path)
    linked = tmp_path / source.name
    os.symlink(source, linked)
    os.symlink(exported_folder(source), exported_folder(linked))
    texts = calibration_passages([SAMPLE_DIR], Settings().document_template, limit=24)
    seven_bit = not cpu_has_int8_dot()  # as `newsqa models quantize` makes it on this CPU
    quantize_export(linked, texts, real_embeddings.model.tokenizer, seven_bit_weights=seven_bit)
    marker = json.loads((int8_folder(linked) / "int8.json").read_text())
    assert marker["calibration_passages"] == 24 and marker["kept_in_float"] == 26
    assert marker["seven_bit_weights"] == seven_bit

    side = real_embeddings.with_document_backend("torch")
    side._model_path = str(linked)
    side = side.with_document_backend("openvino-int8")
    assert side.document_backend == "openvino-int8"
    cosines = cosines_to_float32(side, fp32_embeddings)
    print(f"\n[int8] cosine to float32: {[round(c, 4) for c in cosines]}")
    assert min(cosines) > 0.98
    ranks = seed_ranks_against_torch(side, real_embeddings, tmp_path, seeds_dir)
    assert ranks["side"] == ranks["torch"] and None not in ranks["side"]


def test_a_float32_openvino_encoder_auto_chose_falls_back_to_onnx_runtime(tmp_path, capsys, monkeypatch):
    import contextlib

    from vectorstore import onnx_encoder, openvino_encoder

    def broken(*args, **kwargs):
        raise RuntimeError("no CPU plugin")

    loaded = []
    monkeypatch.setattr(openvino_encoder, "load_openvino_encoder", broken)
    monkeypatch.setattr(onnx_encoder, "load_encoder",
                        lambda folder, tokenizer, threads, required: loaded.append((folder, threads)) or "ort")
    side = _half_built(tmp_path, required=False)
    side._document_kind, side._openvino_precision = "openvino", "f32"
    assert side.document_backend == "onnx" and side._documents_onnx() == "ort"
    assert loaded == [(str(tmp_path / "model"), 2)]  # the chunk session on every thread, once
    assert "chunks go through ONNX Runtime" in capsys.readouterr().err
    # a copy asking for OpenVINO by name does not get the ONNX Runtime session auto fell back to
    from vectorstore import embeddings

    monkeypatch.setattr(embeddings, "missing_files", lambda path, backend: None)  # no export in tmp_path
    side._model_path = str(tmp_path / "model")
    named = side.with_document_backend("openvino")
    with pytest.raises(RuntimeError, match="no CPU plugin"):
        named.document_backend
    assert side.with_document_backend("onnx")._documents_onnx() == "ort"  # the same runtime: shared
    assert len(loaded) == 1
    # answering with a float32 OpenVINO chunk encoder embeds citation sentences with the question's session and
    # loads no chunk encoder at all
    loaded.clear()
    fresh = _half_built(tmp_path, required=False)
    fresh._document_kind, fresh._openvino_precision = "openvino", "f32"
    fresh._onnx = type("Question", (), {"BATCH": 2, "encode_many": lambda s, texts, n: np.ones((len(texts), 3))})()
    fresh._doc_kwargs, fresh._prompts, fresh._max_length, fresh._cut = {}, {}, 64, None
    fresh._lock = type("Lock", (), {"query": lambda s: contextlib.nullcontext()})()
    assert len(fresh.embed_documents_for_query(["a", "b"])) == 2
    assert loaded == [] and fresh._document_encoder == {}
    with pytest.raises(RuntimeError, match="no CPU plugin"):  # asked for by name: the error
        named = _half_built(tmp_path, required=True)
        named._document_kind = "openvino"
        named.document_backend


def test_citation_sentences_go_through_the_openvino_chunk_encoder_with_a_questions_priority(tmp_path):
    """Answer-time sentence vectors (citation checks) use the OpenVINO chunk encoder where chunks go through
    it, taking the model lock as a question does; elsewhere the question's ONNX session."""
    from vectorstore.locks import QueryFirstLock

    used = []

    class Encoder:
        BATCH, group = 2, 8

        def __init__(self, name):
            self.name = name

        def encode_many(self, texts, max_length):
            used.append(self.name)
            return np.ones((len(texts), 3), dtype=np.float32)

    side = _half_built(tmp_path, required=False)
    side._document_encoder["encoder"] = Encoder("openvino")
    side._onnx, side._doc_kwargs, side._prompts, side._max_length, side._cut = Encoder("question"), {}, {}, 64, None
    lock = QueryFirstLock()
    taken = []
    side._lock = type("Lock", (), {"query": lambda s: (taken.append("query"), lock.query())[1],
                                   "documents": lambda s: (taken.append("documents"), lock.documents())[1]})()
    assert len(side.embed_documents_for_query(["a", "b", "c"])) == 3
    assert used == ["openvino"] and taken == ["query"]
    used.clear()
    side._document_encoder["encoder"] = None  # auto, and it could not be loaded
    side.embed_documents_for_query(["a"])
    assert used == ["question"]
    used.clear()
    side._document_kind = "onnx"  # an ONNX Runtime chunk session is never loaded for answers
    side._document_encoder["encoder"] = Encoder("onnx documents")
    side.embed_documents_for_query(["a"])
    assert used == ["question"]
