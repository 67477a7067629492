"""The vLLM engine: our config maps onto Ray Data LLM's processor config (CI); runs only with vllm and a GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dataforge.inference.base import SamplingParams, VllmConfig
from tiny_models import tiny

pytest.importorskip("ray.data.llm", reason="ray[data] with the LLM module is needed to build the processor config")
from dataforge.inference.vllm_backend import engine_kwargs, processor_config, vllm_sampling  # noqa: E402


def _model_dir(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text("{}")
    return tmp_path


def test_config_maps_to_ray_processor_config(tmp_path: Path) -> None:
    from ray.data.llm import vLLMEngineProcessorConfig

    cfg = VllmConfig(model=str(_model_dir(tmp_path)), tensor_parallel_size=2, concurrency=(1, 4), batch_size=128,
                     max_model_len=8192, accelerator_type="H100", engine_kwargs={"enable_prefix_caching": True})
    pc = processor_config(cfg)
    assert isinstance(pc, vLLMEngineProcessorConfig)
    assert pc.model_source == str(tmp_path) and pc.batch_size == 128 and pc.accelerator_type == "H100"
    assert pc.engine_kwargs["tensor_parallel_size"] == 2 and pc.engine_kwargs["max_model_len"] == 8192
    assert pc.engine_kwargs["enable_prefix_caching"] is True
    assert pc.task_type == "generate" and pc.should_continue_on_error
    assert processor_config(cfg.model_copy(update={"task": "classify"})).task_type == "classify"


def test_sampling_maps_to_vllm_keywords(tmp_path: Path) -> None:
    s = vllm_sampling(SamplingParams(temperature=0.5, top_p=0.9, max_tokens=64, stop=["END"]), seed=42)
    assert s == {"temperature": 0.5, "top_p": 0.9, "max_tokens": 64, "n": 1, "stop": ["END", "<|im_end|>"],
                 "detokenize": True, "seed": 42}
    assert engine_kwargs(VllmConfig(model=str(_model_dir(tmp_path))))["tensor_parallel_size"] == 1


def _gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None or not _gpu(),
                    reason="the vLLM engine runs only where the vllm package and a CUDA GPU are present")
def test_vllm_generates_with_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    from dataforge.inference.base import make_backend

    b = make_backend(VllmConfig(model=str(tiny(tmp_path_factory)), gpu_memory_utilization=0.3, max_model_len=512))
    out = b.generate(["hello", "world"], SamplingParams(max_tokens=4, n=2, seed=1), keys=["a", "b"])
    assert [len(s) for s in out] == [2, 2] and all(c.error is None for s in out for c in s)


def test_vllm_missing_is_a_clear_import_error(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    from dataforge.inference.base import make_backend

    with pytest.raises(ImportError, match="dataforge\\[gpu\\]"):
        make_backend(VllmConfig(model=str(_model_dir(tmp_path))))


def test_images_take_ray_data_llm_multimodal_path(tmp_path: Path) -> None:
    from dataforge.inference.base import ChatMessage, ImagePart, TextPart
    from dataforge.inference.vllm_backend import multimodal_messages

    cfg = VllmConfig(model=str(_model_dir(tmp_path)), engine_kwargs={"max_model_len": 4096})
    pc = processor_config(cfg, multimodal=True)
    assert pc.prepare_multimodal_stage["enabled"] is True and pc.chat_template_stage is True
    assert pc.engine_kwargs["limit_mm_per_prompt"] == {"image": 8} and pc.engine_kwargs["max_model_len"] == 4096
    assert processor_config(cfg).prepare_multimodal_stage is False  # text prompts stay rendered by us
    png = b"\x89PNG\r\n\x1a\n0000"
    msgs = multimodal_messages([ChatMessage(role="system", content="Be exact."),
                                ChatMessage(role="user", content=[ImagePart(image=png), TextPart(text="Read.")])])
    assert msgs[0] == {"role": "system", "content": [{"type": "text", "text": "Be exact."}]}
    assert msgs[1]["content"][0]["type"] == "image_url"
    assert msgs[1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    # Ray's own stage config accepts what we pass (validated without vLLM)
    from ray.llm._internal.batch.stages.configs import PrepareMultimodalStageConfig, resolve_stage_config

    resolved = resolve_stage_config(pc.prepare_multimodal_stage, PrepareMultimodalStageConfig, {})
    assert resolved.enabled and resolved.chat_template_content_format == "string"
