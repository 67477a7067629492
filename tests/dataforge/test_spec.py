"""Pipeline validation: every mistake is caught before data is read, with the key and the fix named."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dataforge import spec
from dataforge.spec import PipelineError

GOOD = {
    "name": "t",
    "input": {"format": "jsonl", "paths": ["/data/*.jsonl"]},
    "output": {"path": "/out"},
    "stages": [
        {"stage": "length_filter_v1", "params": {"min_words": 10}},
        {"stage": "sample_v1", "params": {"rate": 0.5}, "resources": {"cpus": 2}},
    ],
}


def _fresh(doc=GOOD):
    import copy

    return copy.deepcopy(doc)


def test_good_pipeline_validates() -> None:
    p = spec.from_dict(_fresh())
    assert [s.stage for s in p.stages] == ["length_filter_v1", "sample_v1"]
    assert p.stages[1].resources.cpus == 2


def test_empty_stage_list_is_valid() -> None:
    doc = _fresh()
    doc["stages"] = []
    assert spec.from_dict(doc).stages == []


def test_unknown_top_level_key_names_key_and_valid_ones() -> None:
    doc = _fresh()
    doc["stagez"] = []
    with pytest.raises(PipelineError) as e:
        spec.from_dict(doc)
    msg = str(e.value)
    assert "stagez: unknown key" in msg and "did you mean 'stages'" in msg and "valid keys:" in msg


def test_unknown_stage_suggests_close_name() -> None:
    doc = _fresh()
    doc["stages"][0]["stage"] = "length_filtr_v1"
    with pytest.raises(PipelineError) as e:
        spec.from_dict(doc)
    assert "stages[0].stage: unknown stage 'length_filtr_v1': did you mean length_filter_v1" in str(e.value)


def test_unknown_param_and_wrong_type_name_the_param() -> None:
    doc = _fresh()
    doc["stages"][0]["params"] = {"min_wrds": 3}
    doc["stages"][1]["params"] = {"rate": "lots"}
    with pytest.raises(PipelineError) as e:
        spec.from_dict(doc)
    msg = str(e.value)
    assert "stages[0].params.min_wrds: unknown key; did you mean 'min_words'?" in msg
    assert "stages[1].params.rate:" in msg and "'lots'" in msg
    assert "2 problems" in msg


def test_missing_required_param_and_bad_range() -> None:
    doc = _fresh()
    doc["stages"][1]["params"] = {}
    doc["stages"][0]["params"] = {"min_words": 10, "max_words": 5}
    with pytest.raises(PipelineError) as e:
        spec.from_dict(doc)
    msg = str(e.value)
    assert "stages[1].params.rate: required key is missing" in msg
    assert "min_words=10 is greater than max_words=5" in msg


def test_resources_typo_is_caught() -> None:
    doc = _fresh()
    doc["stages"][1]["resources"] = {"cpu": 2}
    with pytest.raises(PipelineError) as e:
        spec.from_dict(doc)
    assert "stages[1].resources.cpu: unknown key; did you mean 'cpus'?" in str(e.value)


def test_unknown_format() -> None:
    doc = _fresh()
    doc["input"]["format"] = "jsonlines"
    with pytest.raises(PipelineError) as e:
        spec.from_dict(doc)
    assert "input.format: unknown format 'jsonlines'" in str(e.value)


def test_variables_from_env_and_set_and_missing() -> None:
    doc = _fresh()
    doc["input"]["paths"] = ["${DATA}/x.jsonl"]
    doc["output"]["path"] = "${OUT:-/default}/o"
    p = spec.from_dict(_fresh(doc), env={"DATA": "/d"})
    assert p.input.paths == ["/d/x.jsonl"] and p.output.path == "/default/o"
    p = spec.from_dict(_fresh(doc), sets=["DATA=/s", "OUT=/o"], env={})
    assert p.input.paths == ["/s/x.jsonl"] and p.output.path == "/o/o"
    with pytest.raises(PipelineError) as e:
        spec.from_dict(_fresh(doc), env={})
    assert "input.paths[0]: variable ${DATA} is not set; export DATA=... or pass --set DATA=..." in str(e.value)


def test_set_overrides_nested_keys_with_yaml_types() -> None:
    p = spec.from_dict(_fresh(), sets=["stages.0.params.min_words=20", "seed=3", "stages.1.workers=2"])
    assert p.stages[0].params == {"min_words": 20} and p.seed == 3 and p.stages[1].workers == 2
    with pytest.raises(PipelineError) as e:
        spec.from_dict(_fresh(), sets=["stages.9.params.x=1"])
    assert "use an index 0..1" in str(e.value)
    with pytest.raises(PipelineError):
        spec.from_dict(_fresh(), sets=["novalue"])


def test_yaml_syntax_error(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("name: x\ninput: [unclosed\n")
    with pytest.raises(PipelineError) as e:
        spec.load(f)
    assert "YAML syntax" in str(e.value)


def test_validate_with_typo_fails_fast_without_starting_ray(tmp_path: Path) -> None:
    """The CLI rejects a typo before importing Ray (so before any cluster starts or data is read)."""
    f = tmp_path / "p.yaml"
    f.write_text(textwrap.dedent("""
        name: typo
        input: {format: jsonl, paths: [/nonexistent/*.jsonl]}
        output: {path: /tmp/out}
        stages:
          - stage: length_filter_v1
            parms: {min_words: 3}
    """))
    code = (
        "import sys\nfrom dataforge.cli import main\nrc = main(['run', sys.argv[1]])\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\nsys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "stages[0].parms: unknown key; did you mean 'params'?" in r.stderr
