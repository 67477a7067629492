"""Runs under faults: a full disk or unwritable output, and corrupt inputs mixed into good ones.

Worker processes killed mid-run and a SIGKILLed driver are covered in test_runner.py
(``test_worker_killed_midway_is_retried``, ``test_driver_killed_resumes_from_completed_shards``);
a worker node removed from a cluster in test_cluster.py.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest import REPO, docs, write_jsonl
from dataforge import rundir
from dataforge import spec as spec_mod
from dataforge.executor import LocalExecutor
from dataforge.rundir import OutputError
from dataforge.runner import make_plan, run

sys.path.append(str(Path(__file__).resolve().parents[1] / "fixtures" / "pdf"))


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every Parquet file under a folder, by relative path."""
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def jsonl_pipeline(data: Path, out: Path) -> spec_mod.PipelineSpec:
    """A small JSONL pipeline cut into many shards, so a fault can hit the middle of a run."""
    return spec_mod.from_dict({
        "name": "faults", "output": {"path": str(out)},
        "input": {"format": "jsonl", "paths": [str(data)], "id_field": "id", "split_bytes": 20_000},
        "stages": [{"stage": "length_filter_v1", "params": {"min_words": 20}}, {"stage": "exact_dedup_v1"}],
    })


def leftovers(run_dir: Path) -> list[Path]:
    """Temporary files a run left behind."""
    return list(run_dir.rglob(".*.tmp"))


class _FullDisk:
    """Stands in for pyarrow's ParquetWriter: the first ``ok`` tables are written, then ENOSPC."""

    real = pq.ParquetWriter
    writes = 0
    ok = 0

    def __init__(self, where: Any, *args: Any, **kwargs: Any) -> None:
        self._w = self.real(where, *args, **kwargs)

    def write_table(self, table: Any, *args: Any, **kwargs: Any) -> None:
        type(self).writes += 1
        if type(self).writes > type(self).ok:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._w.write_table(table, *args, **kwargs)

    def close(self) -> None:
        self._w.close()


def test_disk_full_midway_fails_clearly_and_a_rerun_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC half-way: an OutputError naming the file and the fix, no temp files, no summary; a rerun completes."""
    data = write_jsonl(tmp_path / "d.jsonl", docs(600))
    p = jsonl_pipeline(data, tmp_path / "out")
    monkeypatch.setattr(rundir.pq, "ParquetWriter", _FullDisk)
    _FullDisk.ok = 12
    with pytest.raises(OutputError) as info:
        run(make_plan(p, tmp_path / "run"), LocalExecutor())
    msg = str(info.value)
    assert str(tmp_path / "run") in msg and "part-" in msg
    assert "No space left on device" in msg and "Fix: free space" in msg and "rerun the same command" in msg
    assert not (tmp_path / "run/summary.json").exists()
    assert not leftovers(tmp_path / "run")
    assert not (tmp_path / "out/_dataforge.json").exists()
    shards = len(make_plan(p, tmp_path / "run").units)
    done = len(list((tmp_path / "run/stages/01-length_filter_v1/stats").glob("*.json")))
    assert 0 < done < shards  # some shards finished before the disk filled, the rest did not claim to
    for f in (tmp_path / "run/stages/01-length_filter_v1/stats").glob("*.json"):
        n = json.loads(f.read_text())["unit"]
        assert (tmp_path / f"run/stages/01-length_filter_v1/data/part-{n:05d}.parquet").exists()

    monkeypatch.setattr(rundir.pq, "ParquetWriter", _FullDisk.real)  # space freed
    res = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    assert res.summary["totals"]["balanced"] and res.summary["totals"]["input"] == 600
    assert res.executed_units[1] == shards - done
    clean = run(make_plan(jsonl_pipeline(data, tmp_path / "clean-out"), tmp_path / "clean"), LocalExecutor())
    assert clean.summary["totals"] == res.summary["totals"]
    assert digest(tmp_path / "out") == digest(tmp_path / "clean-out") and digest(tmp_path / "out")


def test_cli_file_size_limit_is_a_clear_error(tmp_path: Path) -> None:
    """The CLI under RLIMIT_FSIZE (writes fail with EFBIG): exit 1 and one line naming the path and the fix."""
    import hashlib

    rows = [{"id": f"r{i}", "text": " ".join(hashlib.sha256(f"{i}-{k}".encode()).hexdigest() for k in range(40))}
            for i in range(400)]  # incompressible: ~1 MB of output, five times the limit
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    pfile = tmp_path / "p.yaml"
    pfile.write_text(f"""
name: fsize
input: {{format: jsonl, paths: ["{data}"], id_field: id}}
output: {{path: "{tmp_path / 'out'}"}}
stages:
  - stage: length_filter_v1
    params: {{min_words: 20}}
""")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    r = subprocess.run([sys.executable, "-m", "dataforge", "run", str(pfile), "--local", "--quiet",
                        "--run-dir", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True,
                       timeout=300, preexec_fn=limit, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot write ") and str(tmp_path / "run") in line and "Fix:" in line
    assert not (tmp_path / "run/summary.json").exists() and not leftovers(tmp_path / "run")


def test_output_path_that_is_a_file_fails_before_any_work(tmp_path: Path) -> None:
    """An output path below a regular file: the error names it before a single shard runs."""
    data = write_jsonl(tmp_path / "d.jsonl", docs(50))
    (tmp_path / "blocker").write_text("a file, not a folder")
    p = jsonl_pipeline(data, tmp_path / "blocker" / "out")
    with pytest.raises(OutputError) as info:
        run(make_plan(p, tmp_path / "run"), LocalExecutor())
    assert str(tmp_path / "blocker") in str(info.value) and "Fix:" in str(info.value)
    assert not (tmp_path / "run/stages").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions, so a read-only folder cannot be simulated")
def test_read_only_run_dir(tmp_path: Path) -> None:
    """A read-only run directory: a permission error that names it and says how to fix it."""
    data = write_jsonl(tmp_path / "d.jsonl", docs(50))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError) as info:
            run(make_plan(jsonl_pipeline(data, tmp_path / "out"), ro / "run"), LocalExecutor())
        assert str(ro) in str(info.value) and "make the folder writable" in str(info.value)
    finally:
        ro.chmod(0o755)


def test_output_error_survives_pickling() -> None:
    """OutputError crosses process boundaries (Ray workers) with its path, problem and fix intact."""
    import pickle

    err = OutputError("/data/run/x.parquet", "No space left on device", errno.ENOSPC)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.path == err.path and "free space" in str(back)


# -- corrupt inputs mixed into good ones ------------------------------------------------------


def make_mixed_inputs(root: Path) -> dict[str, Any]:
    """Good and broken WARCs, PDFs and JSONL under root; returns a multi-input pipeline dict (22 input records)."""
    pytest.importorskip("warcio")
    pytest.importorskip("pymupdf")
    from make_pdfs import text_pdf

    sys.path.append(str(Path(__file__).resolve().parents[1] / "readers"))
    from test_warc import write_warc

    for d in ("web", "pdf", "jsonl"):
        (root / d).mkdir(parents=True, exist_ok=True)
    write_warc(root / "web/good.warc.gz", 8, extras=False, words=120)  # 8 HTML responses
    (root / "web/junk.warc").write_bytes(b"this is not a web archive\n" * 20)  # 1 bad file
    (root / "web/empty.warc.gz").write_bytes(b"")  # 1 empty file
    para = "The river flows through the valley and feeds the farms that line its banks in spring. " * 3
    for i in range(2):
        (root / f"pdf/good{i}.pdf").write_bytes(text_pdf([[f"Report {i}. " + para]]))
    good = text_pdf([[para]])
    (root / "pdf/truncated.pdf").write_bytes(good[: len(good) // 2])
    (root / "pdf/garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    write_jsonl(root / "jsonl/a.jsonl", docs(5), raw_lines=[
        b'{"id": "bad1", "text": "caf\xe9 au lait"}', b'{"id": "bad2", "text": "\xff\xfe"}', b"{not json"])
    return {
        "name": "mixed",
        "inputs": [
            {"format": "warc", "paths": [str(root / "web")], "source": "web", "stages": [{"stage": "html_extract_v1"}]},
            {"format": "pdf", "paths": [str(root / "pdf")], "source": "pdf", "stages": [{"stage": "pdf_extract_v1"}]},
            {"format": "jsonl", "paths": [str(root / "jsonl")], "source": "jsonl", "id_field": "id"},
        ],
        "output": {"path": str(root / "out")},
        "stages": [{"stage": "length_filter_v1", "params": {"min_words": 5}}, {"stage": "exact_dedup_v1"}],
    }


def test_corrupt_inputs_are_quarantined_and_the_books_add_up(tmp_path: Path) -> None:
    """Broken WARCs, damaged PDFs and invalid UTF-8 JSONL among good files: each accounted for, with a reason."""
    pytest.importorskip("trafilatura")
    p = spec_mod.from_dict(make_mixed_inputs(tmp_path))
    res = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    s = res.summary
    assert s["totals"]["input"] == 8 + 2 + 4 + 8  # WARC responses + bad WARC files + PDFs + JSONL lines
    t = s["totals"]
    assert t["balanced"] and t["input"] == t["kept"] + t["dropped"] + t["quarantined"]
    assert s["quarantined"] == {"pdf_extract_v1.damaged_pdf": 1, "read.empty_file": 1, "read.invalid_utf8": 2,
                                "read.malformed_json": 1, "read.not_a_warc_file": 1}
    assert all(st["balanced"] for st in s["stages"])
    by_stage = {st["stage"]: st for st in s["stages"]}
    assert by_stage["html_extract_v1"]["rows_in"] == 8 and by_stage["pdf_extract_v1"]["rows_in"] == 4
    q = pq.read_table(tmp_path / "run/stages/00-read/quarantine").to_pylist()
    assert all(r["reason"] and r["detail"] for r in q)
    kept = pq.read_table(tmp_path / "out")
    assert kept.num_rows == t["kept"] and set(kept.column("source").to_pylist()) == {"web", "pdf", "jsonl"}
