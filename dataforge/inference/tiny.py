"""Build tiny randomly initialised Qwen-architecture models with the real Qwen tokenizer, offline.

    python -m dataforge.inference.tiny OUT_DIR [--kind causal|reward] [--arch qwen2|qwen3] [--hidden 32]

A generator (Qwen2/Qwen3 causal LM) or a reward model (Qwen2ForSequenceClassification, one
label) with the real vocabulary: 151,643 byte-level BPE ranks from dashscope plus Qwen's
control tokens (151,936 embedding rows, as in the published configs). Weights come from
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

#: Qwen2.5's chat template (without tools), so ``apply_chat_template`` renders like ``render_chat``.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def write_tokenizer(out: Path, cache: Path | None = None) -> Path:
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
    tok.chat_template = CHAT_TEMPLATE
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


def main() -> None:
    """Command line: write one tiny model."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--kind", choices=["causal", "reward"], default="causal")
    ap.add_argument("--arch", choices=["qwen2", "qwen3"], default="qwen2")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(build_tiny_model(args.out, args.kind, args.arch, args.hidden, args.layers, seed=args.seed))


if __name__ == "__main__":
    main()
