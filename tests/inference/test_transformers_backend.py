"""Generation and scoring for real with tiny random Qwen models through transformers (CPU)."""

from __future__ import annotations

import math
import pickle

import pytest

from dataforge.inference.base import ChatMessage, SamplingParams, TransformersConfig, make_backend
from tiny_models import tiny


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory):
    b = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory)), device="cpu"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def rm(tmp_path_factory: pytest.TempPathFactory):
    b = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory, "reward")), device="cpu"))
    yield b
    b.close()


def test_tiny_model_has_the_real_qwen_vocabulary(gen) -> None:
    tok = gen.tokenizer
    assert tok("Hello world", add_special_tokens=False)["input_ids"] == [9707, 1879]
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [151643, 151644, 151645]
    assert gen.model.config.vocab_size == 151936


def test_generation_n_samples_and_seed_per_row(gen) -> None:
    params = SamplingParams(max_tokens=6, n=3, seed=7, temperature=1.0, top_p=1.0)
    prompts = [[ChatMessage(role="user", content="Write about rivers.")], "plain text prompt"]
    out = gen.generate(prompts, params, keys=["a", "b"])
    assert [len(s) for s in out] == [3, 3]
    for c in out[0] + out[1]:
        assert c.error is None and c.n_tokens <= 6 and c.n_prompt_tokens > 0
    assert len({c.text for c in out[0]}) > 1  # samples differ
    # a row's completions depend on (seed, id), not on its batch neighbours or position
    again = gen.generate([prompts[1]], params, keys=["b"])
    assert [c.text for c in again[0]] == [c.text for c in out[1]]
    other = gen.generate([prompts[1]], params.model_copy(update={"seed": 8}), keys=["b"])
    assert [c.text for c in other[0]] != [c.text for c in out[1]]


def test_greedy_is_deterministic_and_stop_strings_cut(gen) -> None:
    params = SamplingParams(max_tokens=8, temperature=0.0)
    a = gen.generate(["abc"], params, keys=["x"])[0][0]
    b = gen.generate(["abc"], params, keys=["y"])[0][0]
    assert a.text == b.text and a.finish_reason in ("length", "stop")
    if len(a.text) > 2:
        stop = a.text[1:3]
        cut = gen.generate(["abc"], params.model_copy(update={"stop": [stop]}), keys=["x"])[0][0]
        assert cut.text == a.text[: a.text.find(stop)] and cut.finish_reason == "stop"


def test_qwen3_generator(tmp_path_factory: pytest.TempPathFactory) -> None:
    b = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory, arch="qwen3")), device="cpu"))
    out = b.generate(["hi"], SamplingParams(max_tokens=4, seed=1), keys=["k"])
    assert out[0][0].error is None and out[0][0].n_tokens <= 4


def test_reward_model_scores_pairs(rm) -> None:
    pairs = [("What is 2+2?", "4"), ("What is 2+2?", "It is five, clearly."), ("Name a river.", "The Nile.")]
    scores = rm.score(pairs)
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    assert len(set(scores)) == 3
    alone = rm.score([pairs[1]])[0]
    assert alone == pytest.approx(scores[1], abs=1e-5)  # padding in a batch does not change a score


def test_classifier_cannot_generate_per_row_error(rm) -> None:
    out = rm.generate(["x"], SamplingParams(max_tokens=2, n=2))
    assert [c.finish_reason for c in out[0]] == ["error", "error"] and "causal LM" in out[0][0].error


def test_causal_lm_scores_by_mean_logprob(gen) -> None:
    s = gen.score([("q", "an answer")])
    assert s[0] < 0


def test_config_pickles_before_loading(tmp_path_factory: pytest.TempPathFactory) -> None:
    cfg = TransformersConfig(model=str(tiny(tmp_path_factory)))
    assert pickle.loads(pickle.dumps(cfg)) == cfg
