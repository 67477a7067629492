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
