"""ik_llama.cpp compiled for this CPU: when it is built, where it goes, when it is loaded (fakes for pip and the
compiler; the real build is what `newsqa models pull` runs, and the real-model suite loads it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import native_llm
from qa.native_llm import NEEDED_FLAGS, build, build_folder, native_library, wanted

ZEN4 = set(NEEDED_FLAGS) | {"avx2", "fma", "avx512_bf16"}
AVX2 = {"avx2", "fma", "f16c"}


@pytest.fixture(autouse=True)
def x86(monkeypatch):
    monkeypatch.setattr(native_llm.platform, "machine", lambda: "x86_64")


class FakeToolchain:
    """pip download and cmake stand-ins: the 'build' holds the two libraries in the folders cmake puts them."""

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.fetched: list[str] = []
        self.compiled = 0

    def fetch(self, version: str, dest: Path) -> Path:
        self.fetched.append(version)
        dest.mkdir(parents=True)
        sdist = dest / f"ik_llama_cpp_python-{version}.tar.gz"
        sdist.write_bytes(b"sources")
        return sdist

    def compile(self, sdist: Path, work: Path, log: Path) -> Path:
        self.compiled += 1
        if self.fail:
            raise RuntimeError(f"`cmake --build ...` failed; its output is in {log}")
        build = work / "build"
        (build / "src").mkdir(parents=True)
        (build / "ggml" / "src").mkdir(parents=True)
        (build / "src" / "libllama.so").write_bytes(b"llama")
        (build / "ggml" / "src" / "libggml.so").write_bytes(b"ggml")
        return build


def test_only_avx512_vnni_cpus_want_their_own_build(monkeypatch):
    assert wanted(ZEN4)
    assert not wanted(AVX2)
    assert not wanted(ZEN4 - {"avx512_vnni"})
    monkeypatch.setattr(native_llm.platform, "machine", lambda: "aarch64")
    assert not wanted(ZEN4)


def test_a_build_lands_in_a_folder_named_by_version_and_cpu_and_is_then_found(tmp_path):
    tools = FakeToolchain()
    line = build(tmp_path, flags=ZEN4, version="0.1.5", fetch=tools.fetch, compile_=tools.compile)
    folder = build_folder(tmp_path, "0.1.5", ZEN4)
    assert line.startswith("native LLM build: compiled in") and str(folder) in line
    assert native_library(tmp_path, ZEN4, "0.1.5") == folder / "libllama.so"
    assert (folder / "libggml.so").read_bytes() == b"ggml"  # beside libllama, where its run path looks
    assert tools.fetched == ["0.1.5"]
    # once: the next pull finds it
    again = build(tmp_path, flags=ZEN4, version="0.1.5", fetch=tools.fetch, compile_=tools.compile)
    assert again.startswith("native LLM build: already made") and tools.compiled == 1
    # another CPU or another version of the wheel does not load it
    assert native_library(tmp_path, ZEN4 | {"amx_int8"}, "0.1.5") is None
    assert native_library(tmp_path, ZEN4, "0.1.6") is None
    # leftovers of the build (sources, temporary folders, the log) are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_a_cpu_without_vnni_builds_nothing(tmp_path):
    tools = FakeToolchain()
    line = build(tmp_path, flags=AVX2, version="0.1.5", fetch=tools.fetch, compile_=tools.compile)
    assert "not needed here" in line and tools.fetched == [] and native_library(tmp_path, AVX2, "0.1.5") is None


def test_a_failed_build_leaves_the_wheel_in_use_and_says_why(tmp_path):
    tools = FakeToolchain(fail=True)
    line = build(tmp_path, flags=ZEN4, version="0.1.5", fetch=tools.fetch, compile_=tools.compile)
    assert line.startswith("native LLM build: not made (RuntimeError:") and "prebuilt wheel is used" in line
    assert native_library(tmp_path, ZEN4, "0.1.5") is None
    assert not build_folder(tmp_path, "0.1.5", ZEN4).exists()


def test_a_missing_compiler_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(native_llm.shutil, "which", lambda tool: None if tool == "cmake" else "/usr/bin/" + tool)
    tools = FakeToolchain()
    line = build(tmp_path, flags=ZEN4, version="0.1.5", fetch=tools.fetch, compile_=tools.compile)
    assert "cmake not found" in line and "apt-get install" in line and tools.fetched == []


def test_the_factory_hands_the_build_to_the_ik_runtime_unless_turned_off(tmp_path, monkeypatch):
    from qa.factory import build_llm
    from qa.settings import Settings

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    tools = FakeToolchain()
    version = native_llm.installed_version() or "0.1.5"
    monkeypatch.setattr(native_llm, "cpu_flags", lambda: ZEN4)
    monkeypatch.setattr(native_llm, "installed_version", lambda: version)
    build(tmp_path, flags=ZEN4, version=version, fetch=tools.fetch, compile_=tools.compile)
    settings = Settings(model_dir=tmp_path, llm_model=str(gguf), llm_runtime="ik")  # on by default
    assert build_llm(settings).library == str(build_folder(tmp_path, version, ZEN4) / "libllama.so")
    assert build_llm(settings.model_copy(update={"llm_native_build": False})).library is None
    monkeypatch.setattr(native_llm, "cpu_flags", lambda: AVX2)
    assert build_llm(settings).library is None
