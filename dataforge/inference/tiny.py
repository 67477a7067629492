"""Build tiny randomly initialised Qwen-architecture models with the real Qwen tokenizer, offline.

    python -m dataforge.inference.tiny OUT_DIR [--kind causal|reward|vl] [--arch qwen2|qwen3] [--hidden 32]

A generator (Qwen2/Qwen3 causal LM), a reward model (Qwen2ForSequenceClassification, one
label) or a vision-language model (Qwen2_5_VLForConditionalGeneration: a one-block vision
tower, Qwen2-VL's image processor config written by hand) with the real vocabulary: 151,643
byte-level BPE ranks from dashscope plus Qwen's control tokens, the vision tokens included
(151,936 embedding rows, as in the published configs). Weights come from
``torch.manual_seed(seed)``, so the same arguments write the same model. For tests and
benchmarks: the models are random, their text is noise.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Literal

#: Embedding rows in Qwen2/2.5/3 configs (ranks + control tokens, padded).
QWEN_VOCAB_SIZE = 151_936
PAD_ID = 151_643  # <|endoftext|>
IM_END_ID = 151_645
#: Qwen2-VL / Qwen2.5-VL vision token ids (the same in every published VL config).
VISION_START_ID, VISION_END_ID, IMAGE_PAD_ID, VIDEO_PAD_ID = 151_652, 151_653, 151_655, 151_656
#: The image processor of a tiny VL model: Qwen2-VL's (14-pixel patches, 2x2 merge, CLIP mean/std)
#: with at most 64 merged image tokens per image, so CPU tests stay fast (published: up to 16,384).
TINY_VL_MAX_PIXELS = 28 * 28 * 64
TINY_VL_MIN_PIXELS = 28 * 28 * 4

#: Qwen2.5's chat template (without tools), so ``apply_chat_template`` renders like ``render_chat``.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


#: Qwen2.5-VL's chat template (without tools): image parts become the vision placeholder.
VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def write_tokenizer(out: Path, cache: Path | None = None, chat_template: str = CHAT_TEMPLATE) -> Path:
    """Write Qwen's tokenizer (tokenizer.json + tokenizer_config.json) into ``out``; reuse ``cache`` if given."""
    from transformers import PreTrainedTokenizerFast

    from dataforge.stages.tokenize.convert import write_qwen_tokenizer_json

    out.mkdir(parents=True, exist_ok=True)
    tj = out / "tokenizer.json"
    if cache is not None and (cache / "tokenizer.json").is_file():
        shutil.copyfile(cache / "tokenizer.json", tj)
    else:
        write_qwen_tokenizer_json(tj)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tj, cache / "tokenizer.json")
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(tj), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        bos_token=None, unk_token=None, model_max_length=32768, padding_side="left",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = chat_template
    tok.save_pretrained(out)
    return out


def build_tiny_model(
    out: str | Path,
    kind: Literal["causal", "reward"] = "causal",
    arch: Literal["qwen2", "qwen3"] = "qwen2",
    hidden: int = 32,
    layers: int = 1,
    heads: int = 2,
    seed: int = 0,
    tokenizer_cache: str | Path | None = None,
) -> Path:
    """Write a tiny random Qwen model and the Qwen tokenizer into ``out`` (save_pretrained layout)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM, Qwen2ForSequenceClassification

    out = Path(out)
    if arch == "qwen3" and kind == "reward":
        raise ValueError("tiny reward models are Qwen2ForSequenceClassification; use arch='qwen2' for kind='reward'")
    common = dict(
        vocab_size=QWEN_VOCAB_SIZE, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=4096,
        tie_word_embeddings=True, pad_token_id=PAD_ID, eos_token_id=IM_END_ID, bos_token_id=PAD_ID,
    )
    torch.manual_seed(seed)
    if arch == "qwen3":
        from transformers import Qwen3Config, Qwen3ForCausalLM

        model = Qwen3ForCausalLM(Qwen3Config(head_dim=hidden // heads, **common))
    elif kind == "reward":
        model = Qwen2ForSequenceClassification(Qwen2Config(num_labels=1, **common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    model.eval()
    if kind == "causal":
        model.generation_config = GenerationConfig(
            eos_token_id=[IM_END_ID, PAD_ID], pad_token_id=PAD_ID, do_sample=True, temperature=0.7, top_p=0.8,
        )
    model.save_pretrained(out)
    write_tokenizer(out, Path(tokenizer_cache) if tokenizer_cache else None)
    return out


def image_processor_config(min_pixels: int = TINY_VL_MIN_PIXELS, max_pixels: int = TINY_VL_MAX_PIXELS) -> dict:
    """Qwen2-VL's ``preprocessor_config.json`` (as published for Qwen2.5-VL), with a pixel budget."""
    return {
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
        "do_convert_rgb": True, "do_resize": True, "do_rescale": True, "do_normalize": True,
        "rescale_factor": 1 / 255, "resample": 3,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
        "min_pixels": min_pixels, "max_pixels": max_pixels,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
    }


def build_tiny_vl_model(
    out: str | Path,
    hidden: int = 32,
    layers: int = 1,
    heads: int = 2,
    vision_hidden: int = 32,
    vision_depth: int = 1,
    seed: int = 0,
    max_pixels: int = TINY_VL_MAX_PIXELS,
    tokenizer_cache: str | Path | None = None,
) -> Path:
    """Write a tiny random Qwen2.5-VL (vision tower + Qwen2 decoder), its image processor config and tokenizer."""
    import json

    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out)
    head_dim = hidden // heads
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"hidden/heads = {head_dim}: the multimodal RoPE needs an even head size of at least 6")
    half = head_dim // 2  # mrope splits the rotary half over (time, height, width), as [16, 24, 24] of 64
    t = half // 4 or 1
    mrope = [t, (half - t) // 2, half - t - (half - t) // 2]
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=QWEN_VOCAB_SIZE, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope},
            tie_word_embeddings=True, pad_token_id=PAD_ID, eos_token_id=IM_END_ID, bos_token_id=PAD_ID,
        ),
        vision_config=dict(
            depth=vision_depth, hidden_size=vision_hidden, intermediate_size=vision_hidden * 2, num_heads=heads,
            out_hidden_size=hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
            fullatt_block_indexes=list(range(vision_depth)), in_channels=3,
        ),
        image_token_id=IMAGE_PAD_ID, video_token_id=VIDEO_PAD_ID, vision_start_token_id=VISION_START_ID,
        vision_end_token_id=VISION_END_ID, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[IM_END_ID, PAD_ID], pad_token_id=PAD_ID, do_sample=True, temperature=0.7, top_p=0.8,
    )
    model.save_pretrained(out)
    (out / "preprocessor_config.json").write_text(
        json.dumps(image_processor_config(max_pixels=max_pixels), indent=2), encoding="utf-8")
    write_tokenizer(out, Path(tokenizer_cache) if tokenizer_cache else None, chat_template=VL_CHAT_TEMPLATE)
    return out


def main() -> None:
    """Command line: write one tiny model."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--kind", choices=["causal", "reward", "vl"], default="causal")
    ap.add_argument("--arch", choices=["qwen2", "qwen3"], default="qwen2")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.kind == "vl":
        print(build_tiny_vl_model(args.out, args.hidden, args.layers, seed=args.seed))
    else:
        print(build_tiny_model(args.out, args.kind, args.arch, args.hidden, args.layers, seed=args.seed))


if __name__ == "__main__":
    main()
