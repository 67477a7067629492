"""Hugging Face transformers backend: generation with a causal or vision-language LM, scores with a reward/classifier head.

A model folder whose config has a ``vision_config`` (Qwen2-VL, Qwen2.5-VL) loads as an
image-text-to-text model with its image processor (``preprocessor_config.json``); each image
of a prompt is turned into pixel patches and its ``<|image_pad|>`` placeholder expanded to as
many tokens as the image has merged patches, as Qwen's own processor does. Generation runs one prompt at a time (its ``n`` samples together) under a seed derived from
``(seed, row id)``, so a row's text does not depend on which other rows share its batch or
worker: reruns on CPU are identical. Scoring pads batches on the right and reads the head's
output at each sequence's last token.
"""

from __future__ import annotations

import math
import time
from typing import Any

from dataforge.inference.base import (
    IM_END,
    IMAGE_PAD,
    ENDOFTEXT,
    ChatMessage,
    Completion,
    ImagePart,
    SamplingParams,
    TransformersConfig,
    prompt_images,
    prompt_text,
    render_chat,
    row_seed,
)


class ImageInputError(ValueError):
    """A prompt's image cannot reach the model (no vision tower, undecodable image, too many tokens)."""


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string; say whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class TransformersBackend:
    """Generation and scoring with a local transformers model (CPU or one GPU)."""

    def __init__(self, config: TransformersConfig) -> None:
        """Load the tokenizer and model from the local folder in ``config.model``."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

        self.config = config
        self.model_id = config.model
        if config.threads:
            torch.set_num_threads(config.threads)
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        dtype: Any = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
                      "float16": torch.float16}[config.dtype]
        if dtype == "auto" and device == "cpu":
            dtype = torch.float32
        hf_config = AutoConfig.from_pretrained(config.model)
        archs = hf_config.architectures or []
        self.is_classifier = any(a.endswith("ForSequenceClassification") for a in archs)
        self.is_vision = getattr(hf_config, "vision_config", None) is not None and not self.is_classifier
        self.tokenizer = AutoTokenizer.from_pretrained(config.model)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = ENDOFTEXT
        self.image_processor: Any = None
        self.stats = {"prompts": 0, "images": 0, "image_tokens": 0}
        if self.is_vision:
            from transformers import AutoImageProcessor, AutoModelForImageTextToText

            try:
                self.image_processor = AutoImageProcessor.from_pretrained(config.model)
            except (OSError, ValueError, ImportError) as exc:
                raise ValueError(
                    f"vision-language model {config.model}: cannot load its image processor ({exc}); the folder needs "
                    "the preprocessor_config.json published with the model, and Pillow (pip install pillow)"
                ) from exc
            self.image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
            self.merge = int(getattr(self.image_processor, "merge_size", 2))
            cls: Any = AutoModelForImageTextToText
        else:
            cls = AutoModelForSequenceClassification if self.is_classifier else AutoModelForCausalLM
        self.model = cls.from_pretrained(config.model, dtype=dtype).to(device)
        self.model.eval()
        self._stop_ids = [i for i in (self.tokenizer.convert_tokens_to_ids(t) for t in (IM_END, ENDOFTEXT))
                          if isinstance(i, int) and i >= 0]

    # -- generation ------------------------------------------------------------------------
    def generate(self, prompts: list[list[ChatMessage]] | list[str], params: SamplingParams,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        """``params.n`` completions per prompt, each prompt under its own seed from ``(seed, key)``."""
        keys = keys if keys is not None else [str(i) for i in range(len(prompts))]
        out: list[list[Completion]] = []
        for prompt, key in zip(prompts, keys):
            try:
                out.append(self._generate_one(prompt_text(prompt), prompt_images(prompt), params, key))
            except ImageInputError as exc:
                out.append([Completion.failed(str(exc))] * params.n)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
                out.append([Completion.failed(f"{type(exc).__name__}: {exc}")] * params.n)
        return out

    def _vision_inputs(self, text: str, images: list[ImagePart]) -> tuple[str, dict[str, Any], int]:
        """Pixel inputs for the images and the text with each placeholder expanded to its image's token count."""
        import io

        from PIL import Image, UnidentifiedImageError

        if not self.is_vision:
            raise ImageInputError(
                f"model {self.model_id} has no vision tower, so the prompt's {len(images)} image(s) cannot reach it; "
                "use a vision-language model (Qwen2.5-VL class) or send text only")
        if text.count(IMAGE_PAD) != len(images):
            raise ImageInputError(f"the prompt has {text.count(IMAGE_PAD)} {IMAGE_PAD} placeholders for {len(images)} "
                                  "images; write images as image parts, not as placeholder text")
        pil = []
        for k, img in enumerate(images):
            try:
                pil.append(Image.open(io.BytesIO(img.to_bytes())).convert("RGB"))
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise ImageInputError(f"image {k + 1} of the prompt cannot be decoded ({exc}); send PNG or JPEG bytes") from None
        pixels = dict(self.image_processor(images=pil, return_tensors="pt"))
        counts = [int(g.prod()) // (self.merge * self.merge) for g in pixels["image_grid_thw"]]
        pieces = text.split(IMAGE_PAD)
        expanded = pieces[0] + "".join(IMAGE_PAD * c + rest for c, rest in zip(counts, pieces[1:]))
        return expanded, pixels, sum(counts)

    def _generate_one(self, text: str, images: list[ImagePart], params: SamplingParams, key: str) -> list[Completion]:
        import torch

        if self.is_classifier:
            raise ValueError(f"model {self.model_id} is a sequence classifier; generation needs a causal LM")
        pixels: dict[str, Any] = {}
        n_image_tokens = 0
        if images:
            text, pixels, n_image_tokens = self._vision_inputs(text, images)
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"]
        if n_image_tokens and ids.shape[1] > self.config.max_input_tokens:
            raise ImageInputError(
                f"the prompt has {ids.shape[1]} tokens ({n_image_tokens} for its images), over max_input_tokens="
                f"{self.config.max_input_tokens}; a prompt with images is never cut: render smaller images or raise "
                "max_input_tokens")
        ids = ids[:, -self.config.max_input_tokens:].to(self.device)
        pixels = {k: v.to(self.device) for k, v in pixels.items()}
        if "pixel_values" in pixels:
            pixels["pixel_values"] = pixels["pixel_values"].to(self.model.dtype)
        self.stats["prompts"] += 1
        self.stats["images"] += len(images)
        self.stats["image_tokens"] += n_image_tokens
        mask = torch.ones_like(ids)
        seed = row_seed(params.seed, key)
        if seed is not None:
            torch.manual_seed(seed)
        sample = params.temperature > 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens, do_sample=sample, num_return_sequences=params.n,
            eos_token_id=self._stop_ids, pad_token_id=self.tokenizer.pad_token_id, max_time=params.timeout_s,
        )
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        start = time.monotonic()
        with torch.no_grad():
            seqs = self.model.generate(input_ids=ids, attention_mask=mask, **pixels, **kwargs)
        elapsed = time.monotonic() - start
        n_prompt = int(ids.shape[1])
        completions = []
        for row in seqs[:, n_prompt:].tolist():
            ended = False
            toks = []
            for t in row:
                if t in self._stop_ids:
                    ended = True
                    break
                toks.append(t)
            text_out, stopped = _cut_at_stop(self.tokenizer.decode(toks, skip_special_tokens=False), params.stop)
            if ended or stopped:
                reason = "stop"
            elif len(toks) >= params.max_tokens:
                reason = "length"
            elif elapsed >= params.timeout_s:
                reason = "timeout"
            else:
                reason = "stop"
            err = f"generation stopped after {elapsed:.1f}s (timeout_s={params.timeout_s})" if reason == "timeout" else None
            completions.append(Completion(text=text_out, finish_reason=reason, n_prompt_tokens=n_prompt,
                                          n_tokens=len(toks), error=err, n_image_tokens=n_image_tokens))
        return completions

    # -- scoring ---------------------------------------------------------------------------
    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Reward per (prompt, response): the classifier head's first logit, or the LM's mean response log-prob."""
        self.last_score_errors: list[str | None] = [None] * len(pairs)
        scores: list[float] = []
        bs = self.config.batch_size
        for start in range(0, len(pairs), bs):
            chunk = pairs[start:start + bs]
            try:
                scores += self._score_chunk(chunk)
            except Exception as exc:  # noqa: BLE001 - fall back to one pair at a time
                for j, pair in enumerate(chunk):
                    try:
                        scores += self._score_chunk([pair])
                    except Exception as one:  # noqa: BLE001
                        scores.append(math.nan)
                        self.last_score_errors[start + j] = f"{type(one).__name__}: {one}"
                del exc
        return scores

    def _score_chunk(self, pairs: list[tuple[str, str]]) -> list[float]:
        import torch

        prompts = [render_chat([ChatMessage(role="user", content=p)]) for p, _ in pairs]
        fulls = [pr + r + IM_END + "\n" for pr, (_, r) in zip(prompts, pairs)]
        tok = self.tokenizer
        side = tok.padding_side
        tok.padding_side = "right"
        try:
            enc = tok(fulls, return_tensors="pt", padding=True, add_special_tokens=False,
                      truncation=True, max_length=self.config.max_input_tokens)
        finally:
            tok.padding_side = side
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.no_grad():
            if self.is_classifier:
                logits = self.model(**enc).logits
                return [float(x) for x in logits[:, 0].float().cpu().tolist()]
            logits = self.model(**enc).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        target = enc["input_ids"][:, 1:]
        tok_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        out = []
        for i, pr in enumerate(prompts):
            n_prompt = len(tok(pr, add_special_tokens=False)["input_ids"])
            n_total = int(enc["attention_mask"][i].sum())
            span = tok_lp[i, n_prompt - 1:n_total - 1]
            out.append(float(span.mean()) if span.numel() else math.nan)
        return out

    def close(self) -> None:
        """Drop the model so its memory can be freed."""
        self.model = None  # type: ignore[assignment]
