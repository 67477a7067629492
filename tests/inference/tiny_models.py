"""Session-cached tiny Qwen models for inference and synth tests (built from configs, no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest


def tiny(tmp_path_factory: pytest.TempPathFactory, kind: str = "causal", arch: str = "qwen2") -> Path:
    """A tiny model of this kind (causal, reward or vl), built once per test session (the tokenizer is built once too)."""
    pytest.importorskip("transformers", reason="transformers is not installed (pip install 'dataforge[synth]')")
    from dataforge.inference.tiny import build_tiny_model

    base = tmp_path_factory.getbasetemp()
    out = base / f"tiny-{kind}-{arch}"
    if not (out / "config.json").is_file():
        if kind == "vl":
            from dataforge.inference.tiny import build_tiny_vl_model

            pytest.importorskip("PIL", reason="Pillow is needed by Qwen2-VL's image processor (pip install pillow)")
            build_tiny_vl_model(out, hidden=32, layers=1, seed=0, tokenizer_cache=base / "qwen-tokenizer")
        else:
            build_tiny_model(out, kind=kind, arch=arch, hidden=32, layers=1, seed=0,
                             tokenizer_cache=base / "qwen-tokenizer")
    return out
