"""Copies derived from the default models on this machine: making them (the ONNX export, the int8 question and
chunk encoders, the LLM's OpenVINO copies, their calibration text and memory check) and listing them for `newsqa
models list` (where they are, how much disk they take, which setting uses them). `auto` settings switch to some of
them once they exist, so a user can see why. qa/models.py assembles and verifies the pulled files they come from."""

from __future__ import annotations

import time
from pathlib import Path

from qa.errors import LoadError, ModelError
from qa.models import EMBEDDING_GEMMA, QWEN_CODER_1_5B
from qa.settings import cpu_has_int8_dot


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def derived_copies(model_dir: Path) -> list[dict[str, object]]:
    """One row per copy the default models can have: name, made from, present, path, size (bytes), used by."""
    from qa import native_llm
    from qa.llm_ir import ir_folder, is_converted
    from qa.settings import cpu_flags
    from vectorstore.onnx_encoder import exported_folder, is_exported
    from vectorstore.onnx_question_int8 import is_question_quantized, question_int8_folder
    from vectorstore.openvino_int8 import int8_folder, is_quantized

    embedder = EMBEDDING_GEMMA.target(model_dir)
    gguf = QWEN_CODER_1_5B.target(model_dir)
    copies = [
        ("ONNX export", embedder, exported_folder(embedder), is_exported(embedder),
         "questions (query_backend onnx / auto) and, in float32, chunks (document_backend onnx, openvino, auto)"),
        ("int8 question encoder", embedder, question_int8_folder(embedder), is_question_quantized(embedder),
         "questions (query_backend onnx-int8 and auto; made by `newsqa models pull`, again by `models quantize --questions`)"),
        ("int8 chunk encoder (OpenVINO)", embedder, int8_folder(embedder), is_quantized(embedder),
         "chunks (document_backend openvino-int8, and auto on bf16 CPUs: `newsqa models quantize`)"),
        ("int8 LLM copy (OpenVINO)", gguf, ir_folder(gguf, "int8"), is_converted(gguf, "int8"),
         "the openvino LLM runtime (llm_openvino_weights int8 / auto: `newsqa models quantize-llm`)"),
        ("w8a8 LLM copy (OpenVINO)", gguf, ir_folder(gguf, "w8a8"), is_converted(gguf, "w8a8"),
         "llm_openvino_weights w8a8 only (`newsqa models quantize-llm --w8a8`)"),
    ]
    rows = [{"name": name, "made_from": source.name, "present": present, "path": str(path),
             "size": _size(path) if present else 0, "used_by": used}
            for name, source, path, present, used in copies]
    version = native_llm.installed_version()
    if version:
        library = native_llm.native_library(model_dir, version=version)
        folder = native_llm.build_folder(model_dir, version, cpu_flags())
        rows.append({"name": "ik_llama.cpp for this CPU", "made_from": f"{native_llm.PACKAGE} {version}",
                     "present": library is not None, "path": str(folder), "size": _size(folder) if library else 0,
                     "used_by": "the ik LLM runtime unless llm_native_build is false (`newsqa models pull` makes "
                                "it on AVX-512 VNNI CPUs)"})
    return rows


def question_int8_for_auto(folder: Path) -> str:
    """Make the int8 question copy that `query_backend=auto` uses (from the ONNX export, about a minute), once,
    and again after the export was made again; a line saying what happened. Failures are not errors: questions
    then go through the float32 export."""
    from vectorstore.onnx_encoder import is_exported
    from vectorstore.onnx_question_int8 import auto_uses_copy, question_int8_folder

    if auto_uses_copy(folder):
        return f"int8 question encoder: already made -> {question_int8_folder(folder)}"
    if not is_exported(folder):
        return "int8 question encoder: skipped (no ONNX export to make it from); questions go through PyTorch"
    try:
        return quantize_question_int8(folder)
    except Exception as exc:  # ONNX Runtime's quantizer fails in many internal ways; the float32 export still works
        return f"int8 question encoder: not made ({type(exc).__name__}: {exc}); questions go through the export"


def export_encoder_onnx(folder: Path, settings) -> str:
    """Export the embedding model to ONNX for fast question and chunk encoding (once; a line saying what happened).
    Missing export packages are not an error: the model then runs on PyTorch."""

    from vectorstore.onnx_encoder import exported_folder, is_exported

    target = exported_folder(folder)
    if is_exported(folder):
        return f"ONNX encoder: already exported -> {target}"
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        return f"ONNX encoder: skipped ({exc.name} is not installed); the model runs on PyTorch"
    from qa.factory import offline_environment
    from vectorstore.embeddings import SentenceTransformerEmbeddings
    from vectorstore.onnx_encoder import export_encoder

    offline_environment()
    start = time.perf_counter()
    embeddings = SentenceTransformerEmbeddings(folder, dtype="float32", query_backend="torch",
                                               document_backend="torch", threads=settings.resolved_threads())
    try:
        export_encoder(embeddings.model, folder)
    except Exception as exc:  # the exporter's failures are many and internal; PyTorch still works
        return f"ONNX encoder: export failed ({type(exc).__name__}: {exc}); the model runs on PyTorch"
    return f"ONNX encoder: exported in {time.perf_counter() - start:.0f} s -> {target}"


BUNDLED_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def article_windows(paths, *, width: int, stride: int):
    """(window, article) for each `width`-character window, every `stride` characters, of the articles under
    `paths`, for calibration. Files that do not load are skipped (ingestion reports them)."""
    from qa.loaders import iter_files, load_file

    for path in iter_files(paths):
        if not isinstance(path, Path):
            continue
        for article in load_file(path):
            if isinstance(article, LoadError):
                continue
            for start in range(0, max(1, len(article.text) - width // 4), stride):
                yield article.text[start:start + width], article


def calibration_passages(paths, template: str | None, *, width: int = 600, stride: int = 120,
                         limit: int = 400) -> list[str]:
    """Chunk-sized windows (every `stride` characters) of the articles under `paths`, in the document format the
    encoder sees, at most `limit`: overlapping windows give the quantizer a few hundred varied passages from a
    handful of articles."""
    out: list[str] = []
    for window, article in article_windows(paths, width=width, stride=stride):
        title = " ".join((article.title or "").split()) or "none"
        out.append(template.format(title=title, text=window) if template else window)
        if len(out) >= limit:
            break
    return out


def quantize_encoder_int8(folder: Path, settings, paths=None) -> str:
    """Make the int8 copy of the embedding model for `document_backend=openvino-int8`, calibrated on `paths`
    (default: the bundled sample articles); a line saying what happened."""

    from vectorstore.openvino_int8 import int8_folder, quantize_export

    texts = calibration_passages(paths or [BUNDLED_SAMPLE], settings.document_template)
    if not texts:
        raise ModelError(f"no articles to calibrate on in {', '.join(map(str, paths or [BUNDLED_SAMPLE]))}: "
                         "name a folder or file of articles with --calibrate")
    from transformers import AutoTokenizer

    from qa.factory import offline_environment

    offline_environment()
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    quantize_export(folder, texts, tokenizer, replace=True, seven_bit_weights=not cpu_has_int8_dot())
    return (f"int8 encoder: {len(texts)} calibration passages, quantized in {time.perf_counter() - start:.0f} s "
            f"-> {int8_folder(folder)}")


def quantize_question_int8(folder: Path) -> str:
    """Make the int8 question copy of the embedding model (`query_backend=onnx-int8`, and `auto` once it exists)
    from its ONNX export; a line saying what happened. Weights keep 7 bits where the CPU has no int8 dot
    product (as for the other int8 copies), and the MLP down projections stay float32."""

    from vectorstore.onnx_question_int8 import quantize_question_encoder

    start = time.perf_counter()
    target = quantize_question_encoder(folder, keep_narrowing=True, reduce_range=not cpu_has_int8_dot(),
                                       replace=True)
    return f"int8 question encoder: quantized in {time.perf_counter() - start:.0f} s -> {target}"


def int8_encoder_for_auto(folder: Path, settings) -> str:
    """Make the int8 chunk encoder where `document_backend=auto` would use it (the model runs in bf16 here and
    openvino and nncf are installed), once; a line saying what happened. Failures are not errors: chunks then go
    through PyTorch as before."""
    import importlib.util

    from vectorstore.openvino_int8 import int8_folder, is_quantized

    if settings.resolved_dtype() != "bfloat16":
        return ("int8 encoder: not used here (the embedder runs in float32 on this CPU: chunks go through the "
                "float32 export, under OpenVINO where installed, else ONNX Runtime)")
    if is_quantized(folder):
        return f"int8 encoder: already made -> {int8_folder(folder)}"
    missing = [name for name in ("openvino", "nncf") if importlib.util.find_spec(name) is None]
    if missing:
        return (f"int8 encoder: skipped ({', '.join(missing)} not installed: pip install -e '.[openvino]'); "
                "chunks go through PyTorch")
    try:
        return quantize_encoder_int8(folder, settings)
    except Exception as exc:  # NNCF's and OpenVINO's failures are many and internal; PyTorch still works
        return f"int8 encoder: not made ({type(exc).__name__}: {exc}); chunks go through PyTorch"


# Questions of the kinds people ask of news, for the w8a8 copy's calibration prompts (answers do not matter:
# what is measured is the range of what flows through the model while it reads such prompts).
CALIBRATION_QUESTIONS = (
    "What did the officials announce?", "When will the agreement take effect?", "Who was arrested and why?",
    "How many people were affected?", "Where did the meeting take place?", "What happened after the vote?",
    "Que s'est-il passé ensuite ?", "¿Qué dijo el gobierno?",
)
# What making the w8a8 copy took at its peak on the default LLM (RAM and swap together), with some room
W8A8_MEMORY_GIB = 26


def llm_calibration_chats(paths=None, *, count: int = 16, passages: int = 4,
                          width: int = 600) -> list[list[dict[str, str]]]:
    """`count` answer prompts (system and user messages, as the service writes them: numbered passages with
    their titles and dates) over `passages` windows of `width` characters of the articles under `paths`
    (default: the bundled samples) each, for the w8a8 copy of the LLM."""
    from datetime import date
    from math import gcd

    from qa.prompting import ANSWER_RULE, HUMAN, SYSTEM, format_passage

    windows = [(text, article.published, article.title or "")
               for text, article in article_windows(paths or [BUNDLED_SAMPLE], width=width, stride=width // 2)]
    if not windows:
        raise ModelError(f"no articles to calibrate on in {', '.join(map(str, paths or [BUNDLED_SAMPLE]))}: "
                         "name a folder or file of articles with --calibrate")
    # every `step`-th window, wrapping around: spread over the articles, each window before any repeats
    step = next(s for s in range(7, 7 + len(windows) + 1) if gcd(s, len(windows)) == 1)
    chats = []
    for i in range(count):
        chosen = [windows[(i * passages + j) * step % len(windows)] for j in range(passages)]
        context = "\n\n".join(format_passage(j + 1, *window) for j, window in enumerate(chosen))
        human = HUMAN.format(as_of=date.today().isoformat(), context=context,
                             question=CALIBRATION_QUESTIONS[i % len(CALIBRATION_QUESTIONS)], reply_rule=ANSWER_RULE)
        chats.append([{"role": "system", "content": SYSTEM}, {"role": "user", "content": human}])
    return chats


def quantize_llm(gguf: Path, kind: str = "int8", paths=None) -> str:
    """Make an OpenVINO copy of the GGUF (qa/llm_ir.py; `kind` int8 or w8a8, the latter calibrated on answer
    prompts over `paths`, default the bundled samples), replacing one already there; a line saying what was
    made."""
    from qa.llm_ir import convert_gguf

    calibration = ()
    if kind == "w8a8":
        check_memory_for_w8a8()
        calibration = llm_calibration_chats(paths)
    start = time.perf_counter()
    folder = convert_gguf(gguf, replace=True, kind=kind, calibration=calibration,
                          seven_bit_weights=kind == "w8a8" and not cpu_has_int8_dot())
    return f"{kind} LLM copy for OpenVINO: made in {time.perf_counter() - start:.0f} s -> {folder}"


def _cgroup_limit(name: str) -> float:
    """A cgroup v2 memory limit of this process in bytes (infinity where none is set or readable)."""
    try:
        value = Path("/sys/fs/cgroup", name).read_text().strip()
        return float("inf") if value == "max" else float(value)
    except (OSError, ValueError):
        return float("inf")


def memory_gib() -> float:
    """RAM and swap this process may use together, in GiB: the machine's (/proc/meminfo), cut to its cgroup's
    limits inside a container (0 where /proc/meminfo cannot be read)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        ram, swap = (int(fields[key].split()[0]) * 1024 for key in ("MemTotal", "SwapTotal"))
    except (OSError, KeyError, ValueError):
        return 0.0
    return (min(ram, _cgroup_limit("memory.max")) + min(swap, _cgroup_limit("memory.swap.max"))) / 2**30


def check_memory_for_w8a8(memory: float | None = None) -> None:
    """Refuse to start the w8a8 copy where it would be killed for memory halfway through; the error names
    the fix."""
    memory = memory_gib() if memory is None else memory
    if memory and memory < W8A8_MEMORY_GIB:
        raise ModelError(f"the w8a8 copy of the LLM needs ~{W8A8_MEMORY_GIB} GiB of RAM and swap for a moment; this "
                         f"machine has {memory:.1f}. Add swap (e.g. fallocate -l 12G /swapfile && chmod 600 "
                         "/swapfile && mkswap /swapfile && swapon /swapfile) and run it again")


def native_llm_for_auto(settings) -> str:
    """Compile ik_llama.cpp for this CPU where the ik runtime would load it (qa/native_llm.py), once; a line
    saying what happened."""
    from qa import native_llm

    if settings.resolved_llm_runtime() != "ik":
        return "native LLM build: not used here (the LLM runtime is not ik)"
    if not settings.llm_native_build:
        return "native LLM build: off (llm_native_build is false; the prebuilt wheel is used)"
    return native_llm.build(settings.model_dir)


def llm_int8_for_auto(gguf: Path, settings) -> str:
    """Make the int8 OpenVINO copy of the LLM where it would be loaded (the openvino runtime runs here and
    `llm_openvino_weights` is auto or int8), once; a line saying what happened. Failures are not errors: the
    runtime then reads the GGUF itself, as before. (The w8a8 copy is made only when asked for.)"""
    from qa.llm_ir import ir_folder, is_converted

    if settings.resolved_llm_runtime() != "openvino" or settings.llm_openvino_weights not in {"auto", "int8"}:
        return "int8 LLM copy: not used here (the LLM does not run on OpenVINO on this CPU, or other weights are set)"
    if is_converted(gguf):
        return f"int8 LLM copy: already made -> {ir_folder(gguf)}"
    try:
        return quantize_llm(gguf)
    except Exception as exc:  # OpenVINO's and NNCF's failures are many and internal; the GGUF still works
        return f"int8 LLM copy: not made ({type(exc).__name__}: {exc}); OpenVINO reads the GGUF itself"
