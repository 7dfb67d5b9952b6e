"""ik_llama.cpp compiled for this CPU.

The prebuilt `ik-llama-cpp-python` wheel is an AVX2 build (as is every prebuilt llama.cpp wheel on PyPI: tenth
session), so on CPUs with AVX-512 VNNI its matrix kernels leave half of each vector register idle. There, with
`llm_native_build` on, `newsqa models pull` compiles the same version's sources (its sdist on PyPI) once, with
`-march=native`, into the model folder, and the ik runtime loads that library instead of the wheel's
(`IK_LLAMA_CPP_LIB_PATH`, which the wheel's loader reads). Same C API and weights; prompts are read faster, and
the other rounding changes a few near-tie replies (bench/RESULTS.md, twenty-second session: one of them an
unanswerable question turned into a guess, which qa/terms.py now catches; on by default since the twenty-third
session). The folder's name
carries the version and a digest of the CPU's flags, so a model folder copied to another machine does not load
code built for a different CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

from qa.settings import cpu_flags

PACKAGE = "ik-llama-cpp-python"
# ik_llama.cpp's AVX-512 paths need all of these (Zen 4, Ice Lake server and later).
NEEDED_FLAGS = frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni"})
LIBRARIES = ("libllama.so", "libggml.so")
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=ON",
    # flash attention is off in the engine; its kernels for every KV-cache type are most of the compile time
    "-DGGML_IQK_FA_ALL_QUANTS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
    # the two libraries end up side by side: libllama finds libggml next to itself
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN",
)
MARKER = "build.json"


def wanted(flags: set[str] | None = None) -> bool:
    """Whether a build for this CPU beats the wheel: x86-64 with AVX-512 VNNI."""
    flags = cpu_flags() if flags is None else flags
    return platform.machine() in {"x86_64", "AMD64"} and NEEDED_FLAGS <= flags


def installed_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def build_folder(model_dir: Path, version: str, flags: set[str]) -> Path:
    tag = hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:10]
    return Path(model_dir) / f"ik-llama-{version}-native-{tag}"


def native_library(model_dir: Path, flags: set[str] | None = None, version: str | None = None) -> Path | None:
    """The libllama built for this CPU and the installed version, when `models pull` made it; else None."""
    flags = cpu_flags() if flags is None else flags
    version = version or installed_version()
    if version is None or not wanted(flags):
        return None
    folder = build_folder(model_dir, version, flags)
    if not (folder / MARKER).is_file() or not all((folder / name).is_file() for name in LIBRARIES):
        return None
    return folder / LIBRARIES[0]


def _download_sdist(version: str, dest: Path) -> Path:
    from qa.models import pip_download

    return pip_download(f"{PACKAGE}=={version}", dest, sources=True)


def _compile(sdist: Path, work: Path, log: Path) -> Path:
    """Unpack the sdist, configure and build the `llama` target; returns the build folder."""
    with tarfile.open(sdist) as archive:
        try:
            archive.extractall(work, filter="data")
        except TypeError:  # Python before 3.11.4 has no extraction filters
            archive.extractall(work)
    sources = next(work.glob("*/vendor/ik_llama.cpp"), None)
    if sources is None:
        raise RuntimeError(f"{sdist.name} holds no vendor/ik_llama.cpp folder")
    build = work / "build"
    jobs = str(os.cpu_count() or 2)
    with log.open("w") as out:
        for cmd in (["cmake", "-S", str(sources), "-B", str(build), *CMAKE_OPTIONS],
                    ["cmake", "--build", str(build), "--target", "llama", "-j", jobs]):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd[:3])} ...` failed; its output is in {log}")
    return build


def build(model_dir: Path, *, flags: set[str] | None = None, version: str | None = None,
          fetch: Callable[[str, Path], Path] = _download_sdist,
          compile_: Callable[[Path, Path, Path], Path] = _compile) -> str:
    """Compile ik_llama.cpp for this CPU into the model folder where it helps, once; a line saying what
    happened. Failures are not errors: the ik runtime then loads the prebuilt wheel's library, as before."""
    flags = cpu_flags() if flags is None else flags
    version = version or installed_version()
    if version is None:
        return f"native LLM build: not made ({PACKAGE} is not installed)"
    if not wanted(flags):
        return "native LLM build: not needed here (no AVX-512 VNNI: the prebuilt AVX2 wheel is what this CPU runs)"
    existing = native_library(model_dir, flags, version)
    if existing is not None:
        return f"native LLM build: already made -> {existing.parent}"
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        return (f"native LLM build: not made ({' and '.join(missing)} not found: apt-get install cmake g++); "
                "the prebuilt wheel is used")
    folder = build_folder(model_dir, version, flags)
    print(f"native LLM build: compiling ik_llama.cpp ({PACKAGE} {version}) for this CPU, once "
          "(about 5 minutes on 2 cores)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="ik-build-", dir=folder.parent) as tmp:
            work = Path(tmp)
            log = folder.parent / f"{folder.name}.log"
            built = compile_(fetch(version, work / "sdist"), work / "src", log)
            staged = work / "out"
            staged.mkdir()
            for name in LIBRARIES:
                found = next(built.rglob(name), None)
                if found is None:
                    raise RuntimeError(f"the build made no {name}")
                shutil.copy2(found, staged / name)
            seconds = time.perf_counter() - start
            (staged / MARKER).write_text(json.dumps({"package": PACKAGE, "version": version, "seconds": round(seconds),
                                                     "cmake": list(CMAKE_OPTIONS)}, indent=2))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(staged, folder)
            log.unlink(missing_ok=True)
    except Exception as exc:  # a compiler's or pip's failure leaves the wheel in use
        return f"native LLM build: not made ({type(exc).__name__}: {exc}); the prebuilt wheel is used"
    return f"native LLM build: compiled in {seconds:.0f} s -> {folder}"
