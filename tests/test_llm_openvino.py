"""The OpenVINO GenAI chat model's own logic, over a scripted pipeline (the real one runs in the real-model suite)."""

from __future__ import annotations

import threading

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from qa.errors import ModelError
from qa.llm_ik import render_chat

og = pytest.importorskip("openvino_genai")

from qa.llm_openvino import ChatOpenVinoGenAI  # noqa: E402

EOS = "<|im_end|>"


class Tokenizer:
    chat_template = ""  # none in the file: the runtime falls back to ChatML, as ik does

    def get_eos_token(self) -> str:
        return EOS


class Metrics:
    def __init__(self, prompt: str, produced: int):
        self.prompt, self.produced = prompt, produced

    def get_num_input_tokens(self) -> int:
        return len(self.prompt.split())

    def get_num_generated_tokens(self) -> int:
        return self.produced

    def get_ttft(self):
        return type("Mean", (), {"mean": 12.5})()


class ScriptedPipeline:
    """Streams the pieces it was given, one per generated token, until told to stop or out of new tokens.
    Records what it was built with and asked."""

    made: list["ScriptedPipeline"] = []
    pieces: list[str] = []
    fail_next = False

    def __init__(self, path: str, device: str, *, scheduler_config, **properties):
        self.path, self.device, self.scheduler, self.properties = path, device, scheduler_config, properties
        self.prompts: list[str] = []
        self.configs: list = []
        self.running = threading.Lock()
        ScriptedPipeline.made.append(self)

    def get_tokenizer(self) -> Tokenizer:
        return Tokenizer()

    def generate(self, prompts: list[str], config, streamer=lambda text: None):
        assert self.running.acquire(blocking=False), "two generations ran at once"
        try:
            (prompt,) = prompts
            self.prompts.append(prompt)
            self.configs.append(config)
            if ScriptedPipeline.fail_next:
                ScriptedPipeline.fail_next = False
                raise RuntimeError("Exception from src/inference: out of KV cache blocks")
            produced = 0
            for piece in self.pieces[: config.max_new_tokens]:
                produced += 1
                if streamer(piece) == og.StreamingStatus.STOP:
                    break
            return type("Result", (), {"perf_metrics": Metrics(prompt, produced)})()
        finally:
            self.running.release()


@pytest.fixture
def pipeline(monkeypatch, tmp_path):
    """A chat model whose OpenVINO pipeline is scripted; returns (model, pipeline class)."""
    ScriptedPipeline.made, ScriptedPipeline.pieces, ScriptedPipeline.fail_next = [], [], False
    monkeypatch.setattr(og, "LLMPipeline", ScriptedPipeline)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")

    def make(pieces: list[str], **kw) -> ChatOpenVinoGenAI:
        ScriptedPipeline.pieces = pieces
        return ChatOpenVinoGenAI(model_path=str(gguf), **kw)

    return make


def ask(text: str, system: str = "Answer from the passages.") -> list:
    return [SystemMessage(content=system), HumanMessage(content=text)]


def test_streams_the_pieces_then_one_usage_chunk_from_the_rendered_prompt(pipeline):
    llm = pipeline(["In", " October", " [1]."], n_threads=2)
    chunks = list(llm.stream(ask("When?")))
    assert "".join(str(c.content) for c in chunks) == "In October [1]."
    (pipe,) = ScriptedPipeline.made
    prompt = render_chat(None, [{"role": "system", "content": "Answer from the passages."},
                                {"role": "user", "content": "When?"}], EOS)
    assert pipe.prompts == [prompt]  # the same text ik_llama.cpp reads
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage == [{"input_tokens": len(prompt.split()), "output_tokens": 3,
                      "total_tokens": len(prompt.split()) + 3}]
    # paged attention with prefix caching keeps the instructions evaluated; the thread count is the settings'
    scheduler = pipe.scheduler
    assert scheduler.enable_prefix_caching and scheduler.cache_size == 1
    assert pipe.properties == {"INFERENCE_NUM_THREADS": 2} and pipe.device == "CPU"
    config = pipe.configs[0]
    assert not config.apply_chat_template and not config.do_sample and config.max_new_tokens == llm.max_tokens


def test_a_stop_string_across_pieces_ends_the_generation_and_is_not_shown(pipeline):
    llm = pipeline(["Paris", " is", " the", " answer", "\nQues", "tion:", " more", " text"])
    result = llm.invoke(ask("Where?"), stop=["\nQuestion:"])
    assert result.content == "Paris is the answer"
    assert result.response_metadata["finish_reason"] == "stop"
    assert result.usage_metadata["output_tokens"] == 6  # the pipeline was told to stop at the stop string


def test_max_tokens_cuts_the_answer_with_finish_reason_length(pipeline):
    result = pipeline(["a", "b", "c", "d"], max_tokens=8).invoke(ask("Letters?"), max_tokens=2)
    assert result.content == "ab"
    assert result.response_metadata["finish_reason"] == "length"
    assert result.response_metadata["timings"]["prompt_ms"] == 12.5


def test_sampling_with_a_temperature_is_seeded_and_kept_to_top_k_and_top_p(pipeline):
    llm = pipeline(["ok"], temperature=0.7, seed=7)
    llm.invoke(ask("hi"))
    config = ScriptedPipeline.made[0].configs[0]
    assert config.do_sample and config.rng_seed == 7 and config.top_k == 40
    assert config.temperature == pytest.approx(0.7) and config.top_p == pytest.approx(0.95)


def test_a_reader_that_stops_early_ends_the_generation_and_leaves_the_model_usable(pipeline):
    llm = pipeline(["one", " two", " three", " four"])
    stream = llm.stream(ask("Count."))
    assert next(stream).content == "one"
    stream.close()  # a client gone
    assert llm.invoke(ask("Count again.")).content == "one two three four"  # no deadlock on the lock
    (pipe,) = ScriptedPipeline.made
    assert len(pipe.prompts) == 2


def test_loading_runs_one_token_through_the_model_so_the_first_question_does_not_wait(pipeline):
    llm = pipeline(["Hi", " there"]).load()
    (pipe,) = ScriptedPipeline.made
    assert len(pipe.prompts) == 1 and pipe.configs[0].max_new_tokens == 1
    assert llm.invoke(ask("hi")).content == "Hi there" and len(ScriptedPipeline.made) == 1


def test_a_runtime_failure_is_a_model_error_and_the_next_request_works(pipeline):
    llm = pipeline(["fine"])
    ScriptedPipeline.fail_next = True
    with pytest.raises(ModelError, match="OpenVINO GenAI failed while answering: .*KV cache"):
        llm.invoke(ask("hi"))
    assert llm.invoke(ask("hi")).content == "fine"
    assert len(ScriptedPipeline.made) == 1  # loaded once


def test_a_missing_model_file_names_the_fix(tmp_path):
    with pytest.raises(ModelError, match="newsqa models pull"):
        ChatOpenVinoGenAI(model_path=str(tmp_path / "absent.gguf")).invoke(ask("hi"))


def test_a_file_the_runtime_cannot_read_names_the_other_runtime(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported GGUF tensor type")

    monkeypatch.setattr(og, "LLMPipeline", refuse)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="unsupported GGUF tensor type.*NEWSQA_LLM_RUNTIME=ik"):
        ChatOpenVinoGenAI(model_path=str(gguf)).load()


def test_concurrent_first_requests_load_one_pipeline(pipeline):
    llm = pipeline(["ok"])
    results = []
    threads = [threading.Thread(target=lambda: results.append(llm.invoke(ask("hi")).content)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ScriptedPipeline.made) == 1 and results == ["ok", "ok", "ok"]


def test_auto_runs_openvino_only_on_amx_cpus_where_it_is_installed(monkeypatch, tmp_path):
    import qa.settings
    from qa.factory import build_llm
    from qa.llm import ChatXLlamaCpp
    from qa.llm_ik import ChatIkLlama
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(qa.settings, "cpu_has_amx", lambda: True)
    assert isinstance(build_llm(Settings(llm_model=str(gguf))), ChatOpenVinoGenAI)
    assert Settings().resolved_llm_runtime() == "openvino"
    monkeypatch.setattr(qa.settings, "cpu_has_amx", lambda: False)
    assert isinstance(build_llm(Settings(llm_model=str(gguf))), ChatIkLlama)
    # a runtime named in the settings is used wherever it runs
    assert isinstance(build_llm(Settings(llm_model=str(gguf), llm_runtime="openvino")), ChatOpenVinoGenAI)
    assert isinstance(build_llm(Settings(llm_model=str(gguf), llm_runtime="xllamacpp")), ChatXLlamaCpp)
    monkeypatch.setattr(qa.settings, "cpu_has_amx", lambda: True)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    assert Settings().resolved_llm_runtime() == "ik"  # not installed


def test_amx_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    import qa.settings

    real_open = builtins.open
    flags = {"flags": "fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8"}

    def fake_open(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            cpuinfo = tmp_path / "cpuinfo"
            cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags['flags']}\n")
            return real_open(cpuinfo, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert qa.settings.cpu_has_amx()
    flags["flags"] = "fpu avx512f avx512_bf16 avx512_vnni"  # the AMD EPYC of earlier sessions
    assert not qa.settings.cpu_has_amx()


def test_prompt_lookup_decoding_is_built_into_the_pipeline_and_asked_for_in_every_request(pipeline):
    llm = pipeline(["Paris", " [1]."], n_threads=2, draft_tokens=5, draft_ngram=3)
    assert llm.invoke(ask("Where?")).content == "Paris [1]."
    (pipe,) = ScriptedPipeline.made
    assert pipe.properties == {"INFERENCE_NUM_THREADS": 2, "prompt_lookup": True}
    config = pipe.configs[0]
    assert config.num_assistant_tokens == 5 and config.max_ngram_size == 3 and not config.do_sample


def test_without_draft_tokens_the_pipeline_decodes_one_token_a_step(pipeline):
    pipeline(["ok"], draft_tokens=0).invoke(ask("hi"))
    (pipe,) = ScriptedPipeline.made
    assert "prompt_lookup" not in pipe.properties
    assert not pipe.configs[0].num_assistant_tokens


def test_the_settings_reach_the_openvino_chat_model(monkeypatch, tmp_path):
    from qa.factory import build_llm
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    llm = build_llm(Settings(llm_model=str(gguf), llm_runtime="openvino", llm_draft_tokens=4, threads=1))
    assert isinstance(llm, ChatOpenVinoGenAI) and llm.draft_tokens == 4 and llm.n_threads == 1
    ik = build_llm(Settings(llm_model=str(gguf), llm_runtime="ik", llm_draft_tokens=4))
    assert not hasattr(ik, "draft_tokens")  # a setting of the OpenVINO runtime only


def test_with_an_int8_copy_the_pipeline_loads_the_copy_instead_of_the_gguf(pipeline, tmp_path):
    from qa.llm_ir import IR_GRAPH

    copy = tmp_path / "m.gguf.ov-int8"
    copy.mkdir()
    (copy / IR_GRAPH).write_text("<net/>")
    llm = pipeline(["ok"], ir_path=str(copy))
    assert llm.invoke(ask("hi")).content == "ok"
    (pipe,) = ScriptedPipeline.made
    assert pipe.path == str(copy)


def test_a_missing_int8_copy_names_the_command_that_makes_it(pipeline, tmp_path):
    llm = pipeline(["ok"], ir_path=str(tmp_path / "absent.ov-int8"))
    with pytest.raises(ModelError, match="newsqa models quantize-llm.*NEWSQA_LLM_OPENVINO_WEIGHTS=gguf"):
        llm.invoke(ask("hi"))
    assert not ScriptedPipeline.made


def test_auto_weights_take_the_int8_copy_only_once_it_is_made(tmp_path):
    from qa.factory import build_llm
    from qa.llm_ir import IR_GRAPH, IR_MARKER, ir_folder
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    settings = Settings(llm_model=str(gguf), llm_runtime="openvino")
    assert build_llm(settings).ir_path is None  # no copy yet: the GGUF itself
    copy = ir_folder(gguf)
    copy.mkdir()
    (copy / IR_GRAPH).write_text("<net/>")
    assert build_llm(settings).ir_path is None  # a copy without its marker is one still being written
    (copy / IR_MARKER).write_text("{}")
    assert build_llm(settings).ir_path == str(copy)
    assert build_llm(settings.model_copy(update={"llm_openvino_weights": "gguf"})).ir_path is None
    forced = build_llm(Settings(llm_model=str(gguf), llm_runtime="openvino", llm_openvino_weights="int8"))
    assert forced.ir_path == str(copy)


def test_the_w8a8_copy_is_loaded_only_when_named_and_a_missing_one_names_its_command(pipeline, tmp_path):
    from qa.factory import build_llm
    from qa.llm_ir import IR_GRAPH, IR_MARKER, ir_folder
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    settings = Settings(llm_model=str(gguf), llm_runtime="openvino")
    for kind in ("int8", "w8a8"):
        copy = ir_folder(gguf, kind)
        copy.mkdir()
        (copy / IR_GRAPH).write_text("<net/>")
        (copy / IR_MARKER).write_text("{}")
    assert build_llm(settings).ir_path == str(ir_folder(gguf))  # auto: the int8 copy, never the less accurate one
    assert build_llm(settings.model_copy(update={"llm_openvino_weights": "w8a8"})).ir_path == str(ir_folder(gguf, "w8a8"))
    forced = Settings(llm_model=str(tmp_path / "n.gguf"), llm_runtime="openvino", llm_openvino_weights="w8a8")
    (tmp_path / "n.gguf").write_bytes(b"GGUF")
    assert build_llm(forced).ir_path.endswith("n.gguf.ov-w8a8")
    llm = pipeline(["ok"], ir_path=build_llm(forced).ir_path)
    with pytest.raises(ModelError, match="newsqa models quantize-llm --w8a8"):
        llm.invoke(ask("hi"))


def test_a_request_may_ask_for_fewer_proposals_but_never_none_on_a_lookup_pipeline(pipeline):
    llm = pipeline(["Quand ?"], draft_tokens=5)
    llm.invoke(ask("When?"), draft_tokens=1)
    llm.invoke(ask("When?"), draft_tokens=0)  # the pipeline refuses 0 proposals: asked for 1
    llm.invoke(ask("When?"), draft_tokens=9)  # never more than the model was built with
    (pipe,) = ScriptedPipeline.made
    assert [c.num_assistant_tokens for c in pipe.configs] == [1, 1, 5]


def test_translations_ask_for_one_proposal_and_other_models_get_no_extra_argument(pipeline):
    from qa.translate import QueryTranslator

    llm = pipeline(["Quand Bessent a-t-il rencontré He Lifeng ?"], draft_tokens=5)
    assert QueryTranslator(llm).translate("When did Bessent meet He Lifeng?", "fr") == \
        "Quand Bessent a-t-il rencontré He Lifeng ?"
    (pipe,) = ScriptedPipeline.made
    assert pipe.configs[0].num_assistant_tokens == 1

    class Plain:  # a chat model without prompt lookup (a remote server): called with the messages only
        def invoke(self, messages, **kwargs):
            assert not kwargs
            return type("Reply", (), {"content": "Quand ?"})()

    assert QueryTranslator(Plain()).translate("When?", "fr") == "Quand ?"


def test_an_eval_run_records_which_weights_auto_loaded(tmp_path):
    """A stored run made with the GGUF is not resumed once the int8 copy exists (auto would load the copy)."""
    from qa.evaluation.runner import _fingerprint, _same_run
    from qa.llm_ir import IR_GRAPH, IR_MARKER, ir_folder
    from qa.settings import Settings

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    service = type("Service", (), {"settings": Settings(llm_model=str(gguf), llm_runtime="openvino")})()
    before = _fingerprint(service, "set")
    assert before["llm_openvino_weights"] == "gguf"
    copy = ir_folder(gguf)
    copy.mkdir()
    (copy / IR_GRAPH).write_text("<net/>")
    (copy / IR_MARKER).write_text("{}")
    after = _fingerprint(service, "set")
    assert after["llm_openvino_weights"] == "int8" and _same_run(before, after) == ["llm_openvino_weights"]
    w8a8 = ir_folder(gguf, "w8a8")
    w8a8.mkdir()
    (w8a8 / IR_GRAPH).write_text("<net/>")
    (w8a8 / IR_MARKER).write_text("{}")
    assert _same_run(after, _fingerprint(service, "set")) == []  # auto never loads it
    named = type("Service", (), {"settings": Settings(llm_model=str(gguf), llm_runtime="openvino",
                                                      llm_openvino_weights="w8a8")})()
    assert _same_run(after, _fingerprint(named, "set")) == ["llm_openvino_weights"]
    ik = type("Service", (), {"settings": Settings(llm_model=str(gguf), llm_runtime="ik")})()
    assert _fingerprint(ik, "set")["llm_openvino_weights"] == "auto"  # not the runtime here: as set
