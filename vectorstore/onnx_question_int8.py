"""An 8-bit copy of the embedding model's ONNX export for questions (`query_backend=onnx-int8`).

ONNX Runtime's dynamic quantization stores the weights of the graph's matrix products in int8 and quantizes each
product's input when it runs, so it needs no calibration and takes under a minute to make. One question is one
short sequence, where the products' weights dominate the work: on 2 AVX2 cores without VNNI it is encoded in
~0.67x the float32 time (bench/RESULTS.md, seventeenth session). The vectors move a little (cosine 0.996-0.998 to
the float32 ones), so the chunks keep their float32 vectors and only the questions change.

Two choices are recorded in the copy's marker: whether the MLP down projections stay float32 (`keep_narrowing`:
their input, the gated activation, has the widest range of the graph's; keeping them costs speed and buys
accuracy) and whether the weights keep 7 bits (`reduce_range`, for CPUs whose int8 products add pairs in 16-bit
lanes and would saturate with full-range weights; the caller decides from the CPU flags).

The copy lives next to the model folder (`<model>.onnx-q8/`), written aside and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vectorstore.onnx_encoder import GRAPH, MARKER, derived_folder, exported_folder, is_exported, written_aside

QUESTION_MARKER = "question-int8.json"


def question_int8_folder(model_folder: str | Path) -> Path:
    """Where the int8 question copy of a model folder lives: next to it, same name + `.onnx-q8`."""
    return derived_folder(model_folder, ".onnx-q8")


def is_question_quantized(model_folder: str | Path) -> bool:
    target = question_int8_folder(model_folder)
    return (target / GRAPH).is_file() and (target / QUESTION_MARKER).is_file()


def export_identity(model_folder: str | Path) -> dict[str, Any]:
    """What identifies the export a copy was made from: its marker and its files' sizes."""
    folder = exported_folder(model_folder)
    marker = folder / MARKER
    return {"marker": marker.read_text() if marker.is_file() else "",
            "sizes": sorted([f.name, f.stat().st_size] for f in folder.glob("model.onnx*") if f.is_file())}


def is_stale(model_folder: str | Path) -> bool:
    """Whether the question copy was made from another export than the one there now (the export was made
    again since): its vectors would no longer match the chunks' encoder. Copies made before this was recorded
    count as current."""
    try:
        made_from = json.loads((question_int8_folder(model_folder) / QUESTION_MARKER).read_text()).get("export")
    except (OSError, ValueError):
        return False
    if made_from is None:
        return False
    return made_from != export_identity(model_folder)  # lists, as the marker's JSON reads back


def auto_uses_copy(model_folder: str | Path) -> bool:
    """Whether `query_backend=auto` sends questions through the copy: it exists and was made from the export
    there now (`vectorstore.embeddings.load_question_encoder` says why when a stale one is passed over)."""
    return is_question_quantized(model_folder) and not is_stale(model_folder)


def weight_products(graph: Any) -> list[tuple[str, int, int]]:
    """(node name, features read, features written) of each MatMul of an ONNX graph whose second input is a
    stored weight, in graph order; attention's products (two activations) are left out."""
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    products = []
    for node in graph.node:
        if node.op_type == "MatMul" and len(node.input) == 2 and len(shapes.get(node.input[1], ())) == 2:
            rows, cols = shapes[node.input[1]]
            products.append((node.name, int(rows), int(cols)))
    return products


def products_to_quantize(products: list[tuple[str, int, int]], keep_narrowing: bool) -> list[str]:
    """The names to quantize: every weight product, or (keep_narrowing) all but those reading more features
    than the model's width (what most products read), i.e. the MLP down projections."""
    if not products:
        return []
    reads = [k for _, k, _ in products]
    width = max(set(reads), key=reads.count)
    return [name for name, k, _ in products if not (keep_narrowing and k > width)]


def quantize_question_encoder(model_folder: str | Path, *, keep_narrowing: bool = True,
                              reduce_range: bool = True, replace: bool = False) -> Path:
    """Make the int8 question copy from the export (`newsqa models pull` writes the export). Returns the folder."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = question_int8_folder(model_folder)
    if is_question_quantized(model_folder) and not replace:
        return target
    if not is_exported(model_folder):
        raise FileNotFoundError(f"no ONNX export of {model_folder}: run `newsqa models pull` first")
    source = exported_folder(model_folder) / GRAPH
    products = weight_products(onnx.load(str(source), load_external_data=False).graph)
    chosen = products_to_quantize(products, keep_narrowing)
    if not chosen:
        raise ValueError(f"{source} has no matrix product with a stored weight to quantize")
    with written_aside(target) as staging:
        quantize_dynamic(str(source), str(staging / GRAPH), op_types_to_quantize=["MatMul"],
                         nodes_to_quantize=chosen, weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=reduce_range, use_external_data_format=True)
        (staging / QUESTION_MARKER).write_text(json.dumps({
            "source": str(model_folder), "onnxruntime": onnxruntime.__version__,
            "export": export_identity(model_folder),
            "quantized_products": len(chosen), "weight_products": len(products),
            "keep_narrowing": keep_narrowing, "reduce_range": reduce_range,
        }))
    return target
