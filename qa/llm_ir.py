"""An OpenVINO copy of the GGUF with 8-bit weights, for the OpenVINO runtime (`llm_openvino_weights`).

OpenVINO GenAI reads the GGUF directly and keeps Q4_K_M's small blocks of 4-bit weights, which its CPU kernels
expand slowly: on the AMX machine of the fourteenth session it wrote ~285 ms a token. The same weights expanded
once and stored as 8 bits per output channel (asymmetric, NNCF's weight compression) wrote ~175 ms a token and
read prompts ~1.15x as fast, with the same greedy replies on the bench's prompts (bench/RESULTS.md).

The copy is made once, from the GGUF alone: OpenVINO GenAI's GGUF reader writes the graph and tokenizers it
builds (`enable_save_ov_model`), the steps that expand the 4-bit blocks are run once (constant folding), and
NNCF compresses every matrix product to int8 per channel. About three minutes on 2 cores and ~9 GB of memory
for a moment (the folded float32 weights); 1.8 GB on disk next to the GGUF (`<gguf>.ov-int8/`), written aside
and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from vectorstore.onnx_encoder import derived_folder, written_aside

IR_GRAPH = "openvino_model.xml"
IR_MARKER = "newsqa-int8.json"
# What GenAI's reader writes besides the graph, and the pipeline needs beside it
TOKENIZER_FILES = ("openvino_tokenizer.xml", "openvino_tokenizer.bin", "openvino_detokenizer.xml",
                   "openvino_detokenizer.bin")


def ir_folder(gguf: str | Path) -> Path:
    """Where the int8 copy of a GGUF file lives: next to it, same name + `.ov-int8`."""
    return derived_folder(gguf, ".ov-int8")


def is_converted(gguf: str | Path) -> bool:
    folder = ir_folder(gguf)
    return (folder / IR_GRAPH).is_file() and (folder / IR_MARKER).is_file()


def convert_gguf(gguf: str | Path, *, replace: bool = False) -> Path:
    """Make the int8 OpenVINO copy of `gguf` (see the module's docstring); returns its folder. An existing copy
    is kept unless `replace`. Errors name the fix."""
    gguf = Path(gguf)
    target = ir_folder(gguf)
    if is_converted(gguf) and not replace:
        return target
    if not gguf.is_file():
        raise FileNotFoundError(f"GGUF model not found at {gguf}: run `newsqa models pull`")
    try:
        import nncf
        import openvino as ov
        import openvino_genai as og
        from openvino import passes
    except ImportError as exc:
        raise FileNotFoundError("the int8 copy needs openvino, openvino-genai and nncf: pip install -e "
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
        compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(compressed, str(staging / IR_GRAPH))
        del model, compressed
        for name in TOKENIZER_FILES:
            shutil.copyfile(work / name, staging / name)
        shutil.rmtree(work)
        (staging / IR_MARKER).write_text(json.dumps({
            "source": str(gguf), "source_bytes": os.path.getsize(gguf), "weights": "int8_asym per channel",
            "nncf": nncf.__version__, "openvino_genai": og.__version__,
            "seconds": round(time.perf_counter() - start),
        }))
    return target
