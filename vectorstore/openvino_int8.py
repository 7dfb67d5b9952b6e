"""An 8-bit copy of the embedding model's ONNX export for OpenVINO (`document_backend=openvino-int8`).

NNCF's post-training quantization (`pip install -e '.[openvino]'`) turns most of the graph's matrix products into
int8 ones (VNNI on AVX-512 CPUs), with activation ranges measured on a few hundred calibration passages. Two
kinds of product lose the most when quantized and stay in bf16/f32: each MLP block's down projection (its input,
the gated activation, has the widest range) and the dense head after pooling. Measured on realtimeqa chunks
(bench/RESULTS.md, eleventh session): every product int8 gives vectors at cosine 0.986 to float32 ones;
without those two kinds, 0.997, for a little less speed.

The copy is made once, from the export `newsqa models pull` writes, by `newsqa models quantize`; it lives next to
the model folder (`<model>.int8/`), written aside and renamed into place like the export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from vectorstore.onnx_encoder import (GRAPH, derived_folder, exported_folder, graph_inputs, is_exported,
                                      written_aside)

INT8_GRAPH = "model.xml"
INT8_MARKER = "int8.json"


def int8_folder(model_folder: str | Path) -> Path:
    """Where the int8 copy of a model folder lives: next to it, same name + `.int8`."""
    return derived_folder(model_folder, ".int8")


def is_quantized(model_folder: str | Path) -> bool:
    target = int8_folder(model_folder)
    return (target / INT8_GRAPH).is_file() and (target / INT8_MARKER).is_file()


def weight_products(model: Any) -> list[tuple[str, int, int]]:
    """Each matrix product of `model` with a constant weight, in graph order: (name, features read, features
    written). Attention's own products (two activations) are left out."""
    products = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        weight = op.input_value(1).get_node()
        while weight.get_type_name() in {"Convert", "Transpose", "Reshape"} and weight.get_input_size():
            weight = weight.input_value(0).get_node()
        if weight.get_type_name() != "Constant":
            continue
        rows, cols = (int(d) for d in op.get_input_shape(1)[-2:])
        transposed = op.get_attributes().get("transpose_b", False)
        in_features, out_features = (cols, rows) if transposed else (rows, cols)
        products.append((op.get_friendly_name(), in_features, out_features))
    return products


def narrowing_products(products: list[tuple[str, int, int]]) -> list[str]:
    """Of `weight_products`, those that read more features than the model's width (the first product's input):
    the MLP down projections, whose input (the gated activation) has the widest range of a transformer's."""
    return [name for name, k, _ in products if k > products[0][1]] if products else []


def non_widening_products(products: list[tuple[str, int, int]]) -> list[str]:
    """Of `weight_products`, every one except those that write more features than they read (a transformer's
    MLP gate and up projections), and the last one (a language model's head) in any case."""
    return [name for name, k, n in products[:-1] if n <= k] + [name for name, _, _ in products[-1:]]


def kept_in_float(model: Any) -> list[str]:
    """The matrix products left unquantized: the narrowing ones (`narrowing_products`; with the head's way back
    to the width) and the last two (the head)."""
    products = weight_products(model)
    return sorted(set(narrowing_products(products) + [name for name, _, _ in products[-2:]]))


def overflow_fix_parameters(seven_bit_weights: bool, **advanced: Any) -> dict[str, Any]:
    """`nncf.quantize` keyword arguments: `advanced_parameters` holding `advanced` (AdvancedQuantizationParameters
    fields), with NNCF's overflow fix on every product when `seven_bit_weights`. CPUs without an int8 dot product
    (AVX2 without VNNI) add pairs of u8 x s8 products in 16 bits, which saturate with 8-bit weights (a tiny
    graph's outputs were 12 % off float on such a CPU, 1.1 % with the fix); 7-bit weights cannot overflow
    there. Returns {} when there is nothing to pass."""
    if not seven_bit_weights and not advanced:
        return {}
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    if seven_bit_weights:
        advanced["overflow_fix"] = OverflowFix.ENABLE
    return {"advanced_parameters": AdvancedQuantizationParameters(**advanced)}


def calibration_feeds(texts: Sequence[str], tokenizer: Any, batch: int = 2) -> list[dict]:
    """The calibration passages as the graph's inputs, in batches shaped like ingestion's (sorted by length)."""
    ordered = sorted(texts, key=len, reverse=True)
    return [graph_inputs(tokenizer, ordered[start:start + batch]) for start in range(0, len(ordered), batch)]


def quantize_export(model_folder: str | Path, texts: Sequence[str], tokenizer: Any, *,
                    replace: bool = False, seven_bit_weights: bool = False) -> Path:
    """Quantize the ONNX export of `model_folder` to int8 with `texts` as calibration passages (a few hundred
    chunk-sized passages in the document format). Returns the int8 folder; an existing copy is kept unless
    `replace`. `seven_bit_weights`: for CPUs without an int8 dot product instruction (see
    `overflow_fix_parameters`). Errors name the fix."""
    target = int8_folder(model_folder)
    if is_quantized(model_folder) and not replace:
        return target
    if not is_exported(model_folder):
        raise FileNotFoundError(f"no ONNX export of the embedding model at {exported_folder(model_folder)}: run "
                                "`newsqa models pull` first")
    if not texts:
        raise ValueError("no calibration passages: give articles to calibrate on")
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise FileNotFoundError("quantizing needs the openvino and nncf packages: pip install -e '.[openvino]'"
                                ) from exc

    import logging

    nncf.set_log_level(logging.ERROR)  # its INFO lines list every product it leaves alone
    model = ov.Core().read_model(str(exported_folder(model_folder) / GRAPH))
    feeds = calibration_feeds(texts, tokenizer)
    keep = kept_in_float(model)
    quantized = nncf.quantize(
        model, nncf.Dataset(feeds), preset=nncf.QuantizationPreset.MIXED, model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(feeds), ignored_scope=nncf.IgnoredScope(names=keep, validate=False),
        **overflow_fix_parameters(seven_bit_weights),
    )
    with written_aside(target) as staging:
        ov.save_model(quantized, str(staging / INT8_GRAPH))
        (staging / INT8_MARKER).write_text(json.dumps({
            "source": str(exported_folder(model_folder)), "nncf": nncf.__version__, "openvino": ov.__version__,
            "calibration_passages": len(texts), "kept_in_float": len(keep), "seven_bit_weights": seven_bit_weights,
        }))
    return target
