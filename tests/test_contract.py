"""The contract every registered stage keeps: docs, versioned name, empty batch, pass-through, pickling."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from conftest import make_text, table
from dataforge import registry
from dataforge.stage import Annotator, DatasetStage, Filter, Transform

NAMES = registry.names()


def _instance(name: str):
    try:
        cls = registry.get(name)
    except ImportError as exc:  # an optional extra that this environment lacks
        pytest.skip(reason=f"{name} needs an optional dependency: {exc}")
    return cls, cls(cls.example)


#: How to make a column that some stages require from an earlier stage (``Stage.requires``).
REQUIRED_COLUMNS = {
    "tokens": lambda n: pa.array([[1, 2, 3 + i] for i in range(n)], pa.list_(pa.uint32())),
    "html": lambda n: pa.array([f"<html><body><p>{make_text(i)}</p></body></html>".encode() for i in range(n)],
                               pa.binary()),
}


def _batch(n: int, requires: tuple[str, ...] = ()) -> pa.Table:
    rows = [{"id": f"c{i}", "text": make_text(i), "source": "test", "url": f"https://example.org/{i}",
             "language": "en", "domain": "example.org"} for i in range(n)]
    t = table(rows) if rows else table([{"id": "x"}]).slice(0, 0)
    for col in requires:
        t = t.append_column(col, REQUIRED_COLUMNS[col](n))
    return t.append_column("zz_extra", pa.array([f"x{i}" for i in range(n)], pa.string()))


def test_registry_is_not_empty_and_names_resolve() -> None:
    assert len(NAMES) >= 6
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stage_contract(name: str) -> None:
    cls, stage = _instance(name)
    assert registry.VERSIONED.match(name), f"{name} must be snake_case ending in _vN"
    assert cls.__doc__ and cls.__doc__.strip(), f"{name} needs a docstring"
    assert issubclass(cls, (Annotator, Filter, Transform, DatasetStage))
    assert cls.kind in {"annotator", "filter", "transform", "dataset"}
    # picklable before setup (it travels to Ray workers)
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.config_hash() == stage.config_hash()
    # describe() is complete
    info = cls.describe()
    assert info["name"] == name and set(info["params"]) == set(cls.Params.model_fields)
    # an empty batch works
    for col in cls.requires:
        assert col in REQUIRED_COLUMNS, f"{name} requires {col!r}: teach the contract test how to make it"
    empty = _batch(0, cls.requires)
    res = stage(empty)
    assert res.kept.num_rows == 0
    # unknown columns pass through, and every row is accounted for
    batch = _batch(4, cls.requires)
    res = stage(batch)
    assert res.kept.num_rows - res.created + res.count(res.dropped) + res.count(res.quarantined) == 4
    if res.kept.num_rows:
        assert "zz_extra" in res.kept.column_names
    if cls.kind == "annotator":
        assert res.kept.num_rows == 4
        assert res.kept.column("id").to_pylist() == batch.column("id").to_pylist()
