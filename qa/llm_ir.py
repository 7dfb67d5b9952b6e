"""OpenVINO copies of the GGUF with 8-bit weights, for the OpenVINO runtime (`llm_openvino_weights`).

OpenVINO GenAI reads the GGUF directly and keeps Q4_K_M's small blocks of 4-bit weights, which its CPU kernels
expand slowly: on the AMX machine of the fourteenth session it wrote ~285 ms a token. The same weights expanded
once and stored as 8 bits per output channel (asymmetric, NNCF's weight compression) wrote ~175 ms a token and
read prompts ~1.15x as fast, with the same greedy replies on the bench's prompts (bench/RESULTS.md).

The copy is made once, from the GGUF alone: OpenVINO GenAI's GGUF reader writes the graph and tokenizers it
builds (`enable_save_ov_model`), the steps that expand the 4-bit blocks are run once (constant folding), and
NNCF compresses every matrix product to int8 per channel. About three minutes on 2 cores and ~9 GB of memory
for a moment (the folded float32 weights); 1.8 GB on disk next to the GGUF (`<gguf>.ov-int8/`), written aside
and renamed into place.

A second copy, `w8a8` (`<gguf>.ov-w8a8/`), also quantizes what flows into the MLP gate and up products to int8
(NNCF's post-training quantization with SmoothQuant, ranges measured on a few answer prompts built from
articles): the CPU then multiplies int8 by int8 there, which AMX tiles do at twice their bf16 rate. Answers come
~40% sooner on realtimeqa (bench/RESULTS.md, fifteenth session), but its accuracy fell 2.4 points, so
it is made and loaded only when asked for (`newsqa models quantize-llm --w8a8`, `llm_openvino_weights=w8a8`).
Making it takes ~13-15 minutes and ~20-23 GB of RAM and swap for a moment (the smoothed float32 weights and the graph
that measures them).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorstore.onnx_encoder import derived_folder, written_aside

IR_GRAPH = "openvino_model.xml"
# The copies and the folder suffix each lives under, next to the GGUF
KINDS = {"int8": ".ov-int8", "w8a8": ".ov-w8a8"}
SMOOTH_QUANT_ALPHA = 0.95  # NNCF's default for matrix products in transformers
IR_MARKER = "newsqa-int8.json"
# What GenAI's reader writes besides the graph, and the pipeline needs beside it
TOKENIZER_FILES = ("openvino_tokenizer.xml", "openvino_tokenizer.bin", "openvino_detokenizer.xml",
                   "openvino_detokenizer.bin")


def ir_folder(gguf: str | Path, kind: str = "int8") -> Path:
    """Where a copy (`kind`: int8 or w8a8) of a GGUF file lives: next to it, same name + `.ov-int8`/`.ov-w8a8`."""
    if kind not in KINDS:
        raise ValueError(f"an OpenVINO copy of the LLM is int8 or w8a8, not {kind!r}")
    return derived_folder(gguf, KINDS[kind])


def is_converted(gguf: str | Path, kind: str = "int8") -> bool:
    folder = ir_folder(gguf, kind)
    return (folder / IR_GRAPH).is_file() and (folder / IR_MARKER).is_file()


def model_feed(ids: Any, names: set[str]) -> dict[str, np.ndarray]:
    """One prompt's token ids as the inputs of the causal-LM graph GenAI builds (those of them it has), read
    from position 0 with an empty KV state."""
    ids = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    n = ids.shape[1]
    feed = {"input_ids": ids, "attention_mask": np.ones((1, n), np.int64),
            "position_ids": np.arange(n, dtype=np.int64)[None], "beam_idx": np.zeros((1,), np.int32)}
    return {name: value for name, value in feed.items() if name in names}


def convert_gguf(gguf: str | Path, *, replace: bool = False, kind: str = "int8",
                 calibration: Sequence[Sequence[dict[str, str]]] = (), seven_bit_weights: bool = False) -> Path:
    """Make an OpenVINO copy of `gguf` (see the module's docstring): `kind` int8 (weights) or w8a8 (weights and
    activations, measured on `calibration`: chats, each a list of {"role", "content"} messages, rendered with
    the model's own template; `seven_bit_weights` for CPUs without an int8 dot product, see
    vectorstore.openvino_int8.overflow_fix_parameters). Returns its folder. An existing copy is kept unless
    `replace`. Errors name the fix."""
    gguf = Path(gguf)
    target = ir_folder(gguf, kind)
    if is_converted(gguf, kind) and not replace:
        return target
    if kind == "w8a8" and not calibration:
        raise ValueError("the w8a8 copy needs calibration chats (answer prompts) to measure activations on")
    if not gguf.is_file():
        raise FileNotFoundError(f"GGUF model not found at {gguf}: run `newsqa models pull`")
    try:
        import nncf
        import openvino as ov
        import openvino_genai as og
        from openvino import passes
    except ImportError as exc:
        raise FileNotFoundError("the OpenVINO copies need openvino, openvino-genai and nncf: pip install -e "
                                "'.[openvino]'") from exc
    import logging

    nncf.set_log_level(logging.ERROR)
    start = time.perf_counter()
    with written_aside(target) as staging:
        # GenAI writes the graph it reads from a GGUF next to that file: give it a link in the staging folder.
        work = staging / "from-gguf"
        work.mkdir()
        (work / "model.gguf").symlink_to(gguf.resolve())
        pipe = og.LLMPipeline(str(work / "model.gguf"), "CPU", enable_save_ov_model=True)
        del pipe
        missing = [name for name in (IR_GRAPH, *TOKENIZER_FILES) if not (work / name).is_file()]
        if missing:
            raise RuntimeError(f"OpenVINO GenAI {og.__version__} did not write {', '.join(missing)} from the GGUF")
        # The graph keeps each weight as 4-bit blocks and the steps that expand them (convert, shift, scale):
        # folding the constants runs those steps once, leaving float weights for NNCF to compress.
        model = ov.Core().read_model(str(work / IR_GRAPH))
        manager = passes.Manager()
        manager.register_pass(passes.ConstantFolding())
        manager.run_passes(model)
        if kind == "int8":
            compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
            del model
        else:  # the folded float32 weights, written as float16 and read back: half the memory from here on
            folded = staging / "folded"
            folded.mkdir()
            ov.save_model(model, str(folded / IR_GRAPH), compress_to_fp16=True)
            del model
            compressed = quantize_activations(folded / IR_GRAPH, work, calibration, seven_bit_weights)
        ov.save_model(compressed, str(staging / IR_GRAPH))
        del compressed
        shutil.rmtree(staging / "folded", ignore_errors=True)
        for name in TOKENIZER_FILES:
            shutil.copyfile(work / name, staging / name)
        shutil.rmtree(work)
        (staging / IR_MARKER).write_text(json.dumps({
            "source": str(gguf), "source_bytes": os.path.getsize(gguf), "kind": kind,
            "weights": "int8_asym per channel" if kind == "int8" else (
                f"MLP gate and up products int8 in weights and activations, the rest bf16; SmoothQuant "
                f"{SMOOTH_QUANT_ALPHA}, {len(calibration)} prompts" + ("; 7-bit weights" if seven_bit_weights else "")),
            "nncf": nncf.__version__, "openvino_genai": og.__version__,
            "seconds": round(time.perf_counter() - start),
        }))
    return target


def quantize_activations(graph: Path, work: Path, calibration: Sequence[Sequence[dict[str, str]]],
                         seven_bit_weights: bool = False) -> Any:
    """The folded graph at `graph` with int8 weights and activations (NNCF, transformer preset, SmoothQuant),
    ranges measured on `calibration` rendered with the tokenizer GenAI wrote in `work`. Attention itself stays
    in bf16 (GenAI swaps it for its paged kernel), and so does every product but the MLP gate and up
    projections (`non_widening_products`): those two carry ~57% of the work, and quantizing the attention and
    down projections as well cost realtimeqa accuracy (bench/RESULTS.md, fifteenth session, variants A-C)."""
    import nncf
    import openvino as ov
    import openvino_genai as og
    from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters

    from qa.llm_ik import render_chat
    from vectorstore.openvino_int8 import non_widening_products, overflow_fix_parameters, weight_products

    model = ov.Core().read_model(str(graph))
    tokenizer = og.Tokenizer(str(work))
    template, eos = tokenizer.chat_template or None, tokenizer.get_eos_token()
    names = {port.get_any_name() for port in model.inputs}
    feeds = [model_feed(tokenizer.encode(render_chat(template, list(chat), eos)).input_ids.data, names)
             for chat in calibration]
    in_bf16 = non_widening_products(weight_products(model))
    return nncf.quantize(
        model, nncf.Dataset(feeds), subset_size=len(feeds), model_type=nncf.ModelType.TRANSFORMER,
        ignored_scope=nncf.IgnoredScope(names=in_bf16, types=["ScaledDotProductAttention"], validate=False),
        **overflow_fix_parameters(seven_bit_weights, disable_bias_correction=True,
                                  smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_ALPHA)))
