"""vLLM backend on GPU workers through Ray Data LLM (``ray.data.llm.build_processor``).

Ray owns batching, GPU placement, tensor parallelism and autoscaling: each ``generate`` or
``score`` call turns its prompts into a Ray dataset and runs it through a vLLM engine
processor. Prompts are rendered here in the Qwen chat format (the processor's chat-template
stage is off), so every engine sees the same text. ``n`` samples become ``n`` rows, each with
its own seed from ``(seed, row id, sample)``. This is the one module that uses ``ray.data.llm``.

Prompts with images (a vision-language model such as Qwen2.5-VL) go through Ray's multimodal
path instead (Ray 2.60): rows carry OpenAI-style ``messages`` whose images are ``image_url``
data URIs; ``prepare_multimodal_stage`` parses them with vLLM into ``multimodal_data`` (the
page pixels) and embeds the model's placeholders, and the chat-template stage renders the
model's own template (Qwen2.5-VL's is the Qwen chat format). A call with any image sends all
its rows that way.

Each call starts the processor's engine actors, which takes a while for a large model: give
vLLM stages a large ``batch_size`` (thousands of rows) so a call amortises it.
"""

from __future__ import annotations

import math
from typing import Any

from dataforge.inference.base import (
    IM_END,
    ChatMessage,
    Completion,
    SamplingParams,
    VllmConfig,
    as_messages,
    prompt_images,
    prompt_text,
    render_chat,
    row_seed,
)

ERROR_COLUMN = "__inference_error__"
#: Images one prompt may carry on the vLLM engine unless engine_kwargs.limit_mm_per_prompt says otherwise.
MAX_IMAGES_PER_PROMPT = 8


def multimodal_messages(prompt: Any) -> list[dict[str, Any]]:
    """OpenAI messages for Ray's multimodal stage: every content a list of parts (one Arrow type for all rows)."""
    out = []
    for m in as_messages(prompt):
        content = m["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        out.append({"role": m["role"], "content": parts})
    return out


def engine_kwargs(config: VllmConfig) -> dict[str, Any]:
    """vLLM engine arguments for a config (explicit ``engine_kwargs`` win)."""
    kw: dict[str, Any] = {
        "tensor_parallel_size": config.tensor_parallel_size,
        "pipeline_parallel_size": config.pipeline_parallel_size,
        "gpu_memory_utilization": config.gpu_memory_utilization,
    }
    if config.max_model_len:
        kw["max_model_len"] = config.max_model_len
    kw.update(config.engine_kwargs)
    return kw


def processor_config(config: VllmConfig, multimodal: bool = False) -> Any:
    """The ``ray.data.llm.vLLMEngineProcessorConfig`` our config maps to (needs ray[llm], not vllm).

    ``multimodal``: rows carry OpenAI ``messages`` with images; vLLM's multimodal preparation
    and the model's chat template run before tokenisation (Ray >= 2.56 ``prepare_multimodal_stage``).
    """
    from ray.data.llm import vLLMEngineProcessorConfig

    kw: dict[str, Any] = dict(
        model_source=config.model,
        engine_kwargs=engine_kwargs(config),
        task_type=config.task,
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        chat_template_stage=multimodal,  # text prompts arrive rendered in the Qwen chat format
        tokenize_stage=True,
        detokenize_stage=config.task == "generate",
        should_continue_on_error=True,
    )
    if multimodal:
        kw["prepare_multimodal_stage"] = {"enabled": True, "chat_template_content_format": "string",
                                         "apply_sys_msg_formatting": True}
        kw["engine_kwargs"] = {"limit_mm_per_prompt": {"image": MAX_IMAGES_PER_PROMPT}, **kw["engine_kwargs"]}
    if config.accelerator_type:
        kw["accelerator_type"] = config.accelerator_type
    return vLLMEngineProcessorConfig(**kw)


def vllm_sampling(params: SamplingParams, seed: int | None) -> dict[str, Any]:
    """vLLM ``SamplingParams`` keyword arguments for one sample."""
    out: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
                           "n": 1, "stop": [*params.stop, IM_END], "detokenize": True}
    if seed is not None:
        out["seed"] = seed
    return out


def _postprocess(row: dict[str, Any]) -> dict[str, Any]:
    """Keep only what the backend reads back from a processed row."""
    emb = row.get("embeddings")
    return {
        "_i": row["_i"], "_j": row["_j"],
        "generated_text": row.get("generated_text") or "",
        "num_input_tokens": int(row.get("num_input_tokens") or 0),
        "num_generated_tokens": int(row.get("num_generated_tokens") or 0),
        "score": float(emb[0]) if emb is not None and len(emb) else math.nan,
        "error": row.get(ERROR_COLUMN) or None,
    }


class VllmBackend:
    """Runs prompts through a Ray Data vLLM processor; needs ``vllm`` and GPUs on the cluster."""

    def __init__(self, config: VllmConfig) -> None:
        """Check vLLM is importable and build the processor config."""
        try:
            import vllm  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"backend engine 'vllm' needs the vllm package ({exc}); pip install 'dataforge[gpu]' on the GPU "
                "nodes, or use engine: http against a running vLLM server, or engine: transformers"
            ) from exc
        self.config = config
        self.model_id = config.model
        self.proc_config = processor_config(config)
        self._mm_config: Any = None

    def _run(self, rows: list[dict[str, Any]], multimodal: bool = False) -> list[dict[str, Any]]:
        import ray.data
        from ray.data.llm import build_processor

        if not rows:
            return []
        ctx = ray.data.DataContext.get_current()  # no progress bars inside a dataforge run
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        if multimodal and self._mm_config is None:
            self._mm_config = processor_config(self.config, multimodal=True)
        processor = build_processor(self._mm_config if multimodal else self.proc_config, postprocess=_postprocess)
        out = processor(ray.data.from_items(rows)).take_all()
        return sorted(out, key=lambda r: (r["_i"], r["_j"]))

    def generate(self, prompts: list[list[ChatMessage]] | list[str], params: SamplingParams,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        """``params.n`` completions per prompt (one engine request per sample); images take the multimodal path."""
        keys = keys if keys is not None else [str(i) for i in range(len(prompts))]
        multimodal = any(prompt_images(p) for p in prompts)
        rows = [{"_i": i, "_j": j, **({"messages": multimodal_messages(p)} if multimodal else {"prompt": prompt_text(p)}),
                 "sampling_params": vllm_sampling(params, row_seed(params.seed, k, j))}
                for i, (p, k) in enumerate(zip(prompts, keys)) for j in range(params.n)]
        result: list[list[Completion]] = [[] for _ in prompts]
        for r in self._run(rows, multimodal):
            if r["error"]:
                result[r["_i"]].append(Completion.failed(str(r["error"])))
                continue
            reason = "length" if r["num_generated_tokens"] >= params.max_tokens else "stop"
            result[r["_i"]].append(Completion(text=r["generated_text"], finish_reason=reason,
                                              n_prompt_tokens=r["num_input_tokens"],
                                              n_tokens=r["num_generated_tokens"]))
        return result

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """The classifier head's first output per (prompt, response), rendered as a Qwen chat."""
        rows = [{"_i": i, "_j": 0,
                 "prompt": render_chat([ChatMessage(role="user", content=p), ChatMessage(role="assistant", content=r)],
                                       add_generation_prompt=False),
                 "pooling_params": {}}
                for i, (p, r) in enumerate(pairs)]
        out = self._run(rows)
        self.last_score_errors = [str(r["error"]) if r["error"] else None for r in out]
        return [r["score"] for r in out]

    def close(self) -> None:
        """Nothing held between calls (Ray releases the engine actors)."""
