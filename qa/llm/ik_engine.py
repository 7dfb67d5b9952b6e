"""The native side of `qa.llm.ik`: one ik_llama.cpp model and context, over the wheel's ctypes bindings.

`ik-llama-cpp-python` is pinned exactly in pyproject.toml: this module reaches into its ctypes layer
(`_ctypes_api`), whose struct layouts follow ik_llama.cpp's C API, and binds the few functions the wheel's
own wrapper leaves out (cache trimming, model metadata, the log hook).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from qa.errors import ModelError
from qa.llm.ik import CacheFull

_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_silence = _LOG_CALLBACK(lambda level, text, data: None)  # module-level: the library keeps the pointer


def _bind(lib, name: str, argtypes: list, restype):
    func = getattr(lib, name)
    func.argtypes, func.restype = argtypes, restype
    return func


def _bindings():
    """The wheel's ctypes bindings over its own libllama (an IK_LLAMA_CPP_LIB_PATH the user set wins: the wheel's
    loader reads it)."""
    try:
        from ik_llama_cpp import _ctypes_api as C
    except (ImportError, OSError) as exc:
        raise ModelError(f"the ik_llama.cpp runtime is not usable here ({exc}); reinstall with `make setup`") from exc
    return C


class IkEngine:
    """Loads a GGUF file; tokenizes, evaluates tokens into the cache at given positions of a sequence (one of
    `seqs`, sharing the cache's `n_ctx` cells), reads the logits of the last token evaluated."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int, repack: bool = True, seqs: int = 4):
        C = _bindings()
        self._C = C
        lib = C._lib
        self.library = str(getattr(lib, "_name", "") or "")  # the libllama file loaded
        self._seq_rm = _bind(lib, "llama_kv_cache_seq_rm",
                             [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32], ctypes.c_bool)
        meta = _bind(lib, "llama_model_meta_val_str",
                     [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t], ctypes.c_int32)
        _bind(lib, "llama_log_set", [_LOG_CALLBACK, ctypes.c_void_p], None)(_silence, None)
        C.llama_backend_init()

        params = C.llama_model_default_params()
        params.n_gpu_layers = 0
        params.repack_tensors = repack
        params.use_mmap = not repack  # repacking rewrites the weights in memory
        self._model = C.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not self._model:
            raise ModelError(f"ik_llama.cpp could not load {path}: is it a GGUF file this runtime supports?")
        self._n_vocab = C.llama_vocab_n_tokens(C.llama_model_get_vocab(self._model))

        cparams = C.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_ctx
        cparams.n_seq_max = seqs
        cparams.n_threads = cparams.n_threads_batch = n_threads
        # flash attention measured no faster here (0.98x), micro-batches of 2048 slower (1.12x): defaults kept
        cparams.flash_attn = False
        self._ctx = C.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            C.llama_free_model(self._model)
            self._model = None
            raise ModelError(f"ik_llama.cpp could not make a {n_ctx}-token context for {path} (memory?)")
        self.n_ctx = n_ctx
        self._ubatch = C.llama_n_ubatch(self._ctx)

        buf = ctypes.create_string_buffer(1 << 16)
        n = meta(self._model, b"tokenizer.chat_template", buf, len(buf))
        self.chat_template: str | None = buf.value.decode("utf-8") if 0 < n < len(buf) else None
        eos = _bind(lib, "llama_token_eos", [ctypes.c_void_p], ctypes.c_int32)(self._model)
        self.eos_text = self.piece(eos, special=True).decode("utf-8", errors="replace") if eos >= 0 else ""

    def tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        room = len(data) + 8
        buf = (self._C.llama_token * room)()
        # add_special: a BOS only where the vocabulary asks for one; parse_special: template markers as tokens
        n = self._C.llama_tokenize(self._model, data, len(data), buf, room, True, True)
        if n < 0:
            raise ModelError(f"could not tokenize a prompt of {len(data)} bytes")
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = self._C.llama_token_to_piece(self._model, token, buf, len(buf), 0, special)
        if n < 0:  # longer than the buffer: -n bytes are needed
            buf = ctypes.create_string_buffer(-n)
            n = self._C.llama_token_to_piece(self._model, token, buf, len(buf), 0, special)
        return buf.raw[: max(n, 0)]

    def is_end(self, token: int) -> bool:
        return bool(self._C.llama_token_is_eog(self._model, token))

    def forget_from(self, position: int, seq: int = 0) -> None:
        self._seq_rm(self._ctx, seq, max(position, 0), -1)

    def clear(self) -> None:
        self._C.llama_kv_cache_clear(self._ctx)

    def feed(self, tokens: list[int], position: int, seq: int = 0) -> None:
        C = self._C
        for offset in range(0, len(tokens), self._ubatch):
            part = tokens[offset : offset + self._ubatch]
            last = offset + len(part) == len(tokens)
            batch = C.llama_batch_init(len(part), 0, 1)
            try:
                batch.n_tokens = len(part)
                for i, token in enumerate(part):
                    batch.token[i] = token
                    batch.pos[i] = position + offset + i
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = seq
                    batch.logits[i] = 1 if last and i == len(part) - 1 else 0
                status = C.llama_decode(self._ctx, batch)
            finally:
                C.llama_batch_free(batch)
            if status == 1:
                raise CacheFull(f"no room in the {self.n_ctx}-token cache for tokens {position + offset}..")
            if status != 0:
                raise ModelError(f"ik_llama.cpp failed to evaluate tokens {position + offset}.. (status {status})")

    def logits(self) -> np.ndarray:
        pointer = self._C.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def __del__(self) -> None:
        C = getattr(self, "_C", None)
        if C is None:
            return
        if getattr(self, "_ctx", None):
            C.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            C.llama_free_model(self._model)
            self._model = None
