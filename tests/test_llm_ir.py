"""The int8 and w8a8 OpenVINO copies of the LLM (qa/llm_ir.py): OpenVINO and NNCF run for real on tiny graphs
that a scripted GGUF reader writes the way OpenVINO GenAI's does (weights kept as small integers plus the steps
that expand them); the real GGUF's copies are checked in the real-model suite."""

from __future__ import annotations

import json

import numpy as np
import pytest

ov = pytest.importorskip("openvino")
og = pytest.importorskip("openvino_genai")
pytest.importorskip("nncf")

from qa.llm_ir import IR_GRAPH, IR_MARKER, TOKENIZER_FILES, convert_gguf, ir_folder, is_converted  # noqa: E402

RNG = np.random.default_rng(7)
WEIGHTS = RNG.integers(0, 16, size=(48, 64)).astype(np.uint8)  # 4-bit values, one row per output
SCALES = RNG.uniform(0.01, 0.05, size=(48, 1)).astype(np.float32)


def tiny_graph():
    """x (1x64) times weights expanded at run time: convert to float, shift by 8, scale per row."""
    from openvino import opset13 as ops

    x = ops.parameter([1, 64], np.float32, name="x")
    expanded = ops.multiply(ops.subtract(ops.convert(ops.constant(WEIGHTS), "f32"), ops.constant(np.float32(8))),
                            ops.constant(SCALES))
    return ov.Model([ops.matmul(x, expanded, False, True)], [x], "tiny")


def expected(x: np.ndarray) -> np.ndarray:
    return x @ ((WEIGHTS.astype(np.float32) - 8) * SCALES).T


class Reader:
    """Writes what GenAI's reader writes next to the GGUF when asked to save: the graph and tokenizer files."""

    made: list[str] = []
    graph = staticmethod(lambda: tiny_graph())

    def __init__(self, path, device, **properties):
        from pathlib import Path

        assert properties == {"enable_save_ov_model": True}
        folder = Path(path).parent
        ov.save_model(self.graph(), str(folder / IR_GRAPH), compress_to_fp16=False)
        for name in TOKENIZER_FILES:
            (folder / name).write_text(name)
        Reader.made.append(path)


def run(folder, x):
    compiled = ov.Core().compile_model(str(folder / IR_GRAPH), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(x)[0]


def test_the_copy_holds_int8_weights_that_compute_what_the_expanded_ones_do(monkeypatch, tmp_path):
    monkeypatch.setattr(og, "LLMPipeline", Reader)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    folder = convert_gguf(gguf)
    assert folder == ir_folder(gguf) and is_converted(gguf)
    assert sorted(p.name for p in folder.iterdir()) == sorted([IR_GRAPH, "openvino_model.bin", IR_MARKER,
                                                               *TOKENIZER_FILES])  # nothing of the work left
    assert (folder / TOKENIZER_FILES[0]).read_text() == TOKENIZER_FILES[0]
    marker = json.loads((folder / IR_MARKER).read_text())
    assert marker["source"] == str(gguf) and marker["weights"].startswith("int8")
    model = ov.Core().read_model(str(folder / IR_GRAPH))
    constants = [op for op in model.get_ops() if op.get_type_name() == "Constant"]
    big = [c for c in constants if int(np.prod(list(c.get_output_shape(0)))) == WEIGHTS.size]
    assert big and all(str(c.get_output_element_type(0)) in {"<Type: 'uint8_t'>", "<Type: 'int8_t'>"} for c in big)
    # re-quantized over 256 levels per row, not the 16 levels the reader wrote (those were expanded and folded)
    assert all(int(c.get_data().max()) - int(c.get_data().min()) > 200 for c in big)
    x = RNG.normal(size=(1, 64)).astype(np.float32)
    got, want = run(folder, x), expected(x)
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()  # int8 per row of 16 levels: near exact


def test_an_existing_copy_is_kept_and_a_failed_one_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(og, "LLMPipeline", Reader)
    Reader.made = []
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    convert_gguf(gguf)
    convert_gguf(gguf)
    assert len(Reader.made) == 1

    class Silent:  # a reader that writes nothing (an older GenAI)
        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(og, "LLMPipeline", Silent)
    other = tmp_path / "n.gguf"
    other.write_bytes(b"GGUF")
    with pytest.raises(RuntimeError, match="did not write openvino_model.xml"):
        convert_gguf(other)
    assert not ir_folder(other).exists() and not is_converted(other)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.gguf", "m.gguf.ov-int8", "n.gguf"])


def test_a_missing_gguf_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="newsqa models pull"):
        convert_gguf(tmp_path / "absent.gguf")


def test_models_pull_makes_the_int8_copy_only_where_the_openvino_runtime_would_load_it(monkeypatch, tmp_path):
    from qa import copies
    from qa.settings import Settings

    monkeypatch.setattr(og, "LLMPipeline", Reader)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert "not used here" in copies.llm_int8_for_auto(gguf, Settings(llm_runtime="ik"))
    for weights in ("gguf", "w8a8"):  # named weights that are not the int8 copy: nothing to make for them
        assert "not used here" in copies.llm_int8_for_auto(gguf, Settings(llm_runtime="openvino",
                                                                          llm_openvino_weights=weights))
    assert not is_converted(gguf)
    assert "made in" in copies.llm_int8_for_auto(gguf, Settings(llm_runtime="openvino")) and is_converted(gguf)
    assert "already made" in copies.llm_int8_for_auto(gguf, Settings(llm_runtime="openvino"))
    assert not is_converted(gguf, "w8a8")  # made only when asked for

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported GGUF tensor type")

    monkeypatch.setattr(og, "LLMPipeline", broken)
    other = tmp_path / "n.gguf"
    other.write_bytes(b"GGUF")
    line = copies.llm_int8_for_auto(other, Settings(llm_runtime="openvino"))
    assert "not made (RuntimeError: unsupported GGUF tensor type)" in line and "reads the GGUF itself" in line


def test_the_w8a8_copy_is_refused_up_front_where_memory_would_run_out(monkeypatch, tmp_path):
    from qa import copies
    from qa.errors import ModelError

    copies.check_memory_for_w8a8(64.0)
    copies.check_memory_for_w8a8(0.0)  # unknown (no /proc/meminfo): tried
    with pytest.raises(ModelError, match=r"has 16\.0\. Add swap .*run it again"):
        copies.check_memory_for_w8a8(16.0)
    monkeypatch.setattr(copies, "memory_gib", lambda: 16.0)
    monkeypatch.setattr(og, "LLMPipeline", Reader)
    Reader.made = []
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="needs ~26 GiB"):
        copies.quantize_llm(gguf, "w8a8")
    assert Reader.made == [] and not ir_folder(gguf, "w8a8").exists()  # refused before the reader ran


VOCAB = RNG.normal(size=(32, 64)).astype(np.float32)  # token embeddings of a tiny language model
UP = RNG.integers(0, 16, size=(96, 64)).astype(np.uint8)  # 4-bit values: reads the width (64), writes 96
UP_SCALES = RNG.uniform(0.01, 0.05, size=(96, 1)).astype(np.float32)
DOWN = RNG.normal(scale=0.1, size=(64, 96)).astype(np.float32)  # reads 96 features, writes the width back


def tiny_lm():
    """Token ids (and their mask) -> embeddings (width 64) -> a product with weights expanded at run time, as
    GenAI's reader writes them (64 -> 96), then a down projection back to the width: the shape of a causal LM's
    inputs, small enough to quantize in a second."""
    from openvino import opset13 as ops

    ids = ops.parameter([1, -1], np.int64, name="input_ids")
    mask = ops.parameter([1, -1], np.int64, name="attention_mask")
    hidden = ops.multiply(ops.gather(ops.constant(VOCAB), ids, np.int64(0)),
                          ops.unsqueeze(ops.convert(mask, "f32"), np.int64(-1)))
    expanded = ops.multiply(ops.subtract(ops.convert(ops.constant(UP), "f32"), ops.constant(np.float32(8))),
                            ops.constant(UP_SCALES))
    up = ops.matmul(hidden, expanded, False, True)
    up.set_friendly_name("up")
    logits = ops.matmul(up, ops.constant(DOWN), False, True)
    logits.set_friendly_name("down")
    logits.output(0).get_tensor().set_names({"logits"})
    return ov.Model([logits], [ids, mask], "tiny-lm")


class LMReader(Reader):
    """The same reader, writing the tiny language model instead."""

    graph = staticmethod(lambda: tiny_lm())


class Tokenizer:
    """Reads the rendered prompt: one id per character (mod the tiny vocabulary)."""

    seen: list[str] = []

    def __init__(self, folder):
        self.chat_template = None  # ChatML, as render_chat falls back to

    def get_eos_token(self):
        return "<|im_end|>"

    def encode(self, text):
        Tokenizer.seen.append(text)
        ids = np.array([[ord(c) % len(VOCAB) for c in text[:200]]], dtype=np.int64)
        return type("Encoded", (), {"input_ids": type("Tensor", (), {"data": ids})()})()


@pytest.mark.parametrize("seven_bit", [False, True])
def test_the_w8a8_copy_quantizes_activations_measured_on_rendered_answer_prompts(monkeypatch, tmp_path, seven_bit):
    from qa import copies
    from qa.settings import cpu_has_int8_dot

    monkeypatch.setattr(og, "LLMPipeline", LMReader)
    monkeypatch.setattr(og, "Tokenizer", Tokenizer)
    Tokenizer.seen = []
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    chats = copies.llm_calibration_chats(count=4)
    assert len(chats) == 4 and all([m["role"] for m in chat] == ["system", "user"] for chat in chats)
    assert all("[1] (published 20" in chat[1]["content"] and "[4] (published" in chat[1]["content"] for chat in chats)
    assert len({chat[1]["content"] for chat in chats}) == 4  # different passages in each
    with pytest.raises(ValueError, match="calibration"):
        convert_gguf(gguf, kind="w8a8")
    folder = convert_gguf(gguf, kind="w8a8", calibration=chats, seven_bit_weights=seven_bit)
    assert folder == ir_folder(gguf, "w8a8") and is_converted(gguf, "w8a8") and not is_converted(gguf)
    assert sorted(p.name for p in folder.iterdir()) == sorted([IR_GRAPH, "openvino_model.bin", IR_MARKER,
                                                               *TOKENIZER_FILES])  # nothing of the work left
    marker = json.loads((folder / IR_MARKER).read_text())
    assert marker["kind"] == "w8a8" and "4 prompts" in marker["weights"]
    assert ("7-bit weights" in marker["weights"]) == seven_bit
    # the prompts were rendered with the chat template before being read
    assert len(Tokenizer.seen) == 4 and all(t.startswith("<|im_start|>system") for t in Tokenizer.seen)
    model = ov.Core().read_model(str(folder / IR_GRAPH))
    products = {op.get_friendly_name(): op for op in model.get_ops() if op.get_type_name() == "MatMul"}
    fed_by = {name: op.input_value(0).get_node().get_type_name() for name, op in products.items()}
    # the first product's input is quantized, not only its weights; the down projection stays in float
    assert fed_by["up"] == "FakeQuantize" and fed_by["down"] != "FakeQuantize"
    up_weights = [op.get_data() for op in model.get_ops() if op.get_type_name() == "Constant"
                  and op.get_element_type() == ov.Type.i8 and tuple(op.get_output_shape(0)) == UP.shape]
    assert len(up_weights) == 1 and np.abs(up_weights[0]).max() == (63 if seven_bit else 127)
    ids = np.array([[3, 17, 5, 30]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled(feed)[0]
    want = ((VOCAB[ids[0]] @ ((UP.astype(np.float32) - 8) * UP_SCALES).T) @ DOWN.T)[None]
    assert got.shape == want.shape
    # 8-bit weights are exact only where the CPU has an int8 dot product (VNNI, AMX); on plain AVX2 OpenVINO adds
    # pairs of u8 x s8 products in 16 bits, which saturate (12 % off here on such a CPU): 7-bit weights are
    # exact everywhere, and quantize_llm picks them there (next test)
    if seven_bit or cpu_has_int8_dot():
        assert np.abs(got - want).max() < 0.06 * np.abs(want).max()


@pytest.mark.parametrize("int8_dot", [False, True])
def test_copies_made_on_a_cpu_without_an_int8_dot_product_keep_weights_to_7_bits(monkeypatch, tmp_path, int8_dot):
    from qa import copies, llm_ir
    from vectorstore import openvino_int8

    from qa.settings import Settings

    calls = {}

    def convert(gguf, **kw):
        calls[kw["kind"]] = kw["seven_bit_weights"]
        return tmp_path

    def quantize(folder, texts, tokenizer, **kw):
        calls["encoder"] = kw["seven_bit_weights"]
        return tmp_path

    monkeypatch.setattr(copies, "cpu_has_int8_dot", lambda: int8_dot)
    monkeypatch.setattr(copies, "check_memory_for_w8a8", lambda: None)
    monkeypatch.setattr(llm_ir, "convert_gguf", convert)
    monkeypatch.setattr(openvino_int8, "quantize_export", quantize)
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", lambda folder: None)
    copies.quantize_llm(tmp_path / "m.gguf", "w8a8")
    copies.quantize_llm(tmp_path / "m.gguf", "int8")  # weights only: nothing to overflow, never 7 bits
    copies.quantize_encoder_int8(tmp_path / "encoder", Settings())
    assert calls == {"w8a8": not int8_dot, "int8": False, "encoder": not int8_dot}


def test_overflow_fix_parameters():
    from nncf.quantization.advanced_parameters import OverflowFix

    from vectorstore.openvino_int8 import overflow_fix_parameters

    assert overflow_fix_parameters(False) == {}
    fixed = overflow_fix_parameters(True)["advanced_parameters"]
    assert fixed.overflow_fix == OverflowFix.ENABLE
    kept = overflow_fix_parameters(False, disable_bias_correction=True)["advanced_parameters"]
    assert kept.disable_bias_correction and kept.overflow_fix is None


def test_model_feed_gives_a_graph_only_the_inputs_it_has():
    from qa.llm_ir import model_feed

    feed = model_feed([[5, 6, 7]], {"input_ids", "position_ids", "beam_idx"})
    assert sorted(feed) == ["beam_idx", "input_ids", "position_ids"]
    assert feed["position_ids"].tolist() == [[0, 1, 2]] and feed["beam_idx"].tolist() == [0]
    assert feed["input_ids"].dtype == np.int64 and feed["beam_idx"].dtype == np.int32
