"""Object-store input: a pipeline reads s3:// URIs through pyarrow's S3 filesystem (moto server on loopback)."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import docs

pytest.importorskip("moto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, stopped after the module."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip("moto server did not start")
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_jsonl_gz_from_s3_to_s3(tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.fs as pafs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fs = pafs.S3FileSystem(endpoint_override=s3_endpoint, scheme="http", region="us-east-1",
                           access_key="test", secret_key="test", allow_bucket_creation=True)
    fs.create_dir("corpus")
    data = gzip.compress(("\n".join(json.dumps(r) for r in docs(40)) + "\n").encode())
    with fs.open_output_stream("corpus/crawl/part-0.jsonl.gz", compression=None) as fh:
        fh.write(data)
    from dataforge import spec as spec_mod
    from dataforge.executor import LocalExecutor
    from dataforge.runner import make_plan, run

    uri = f"s3://corpus/crawl/part-0.jsonl.gz?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    p = spec_mod.from_dict({
        "name": "s3", "input": {"format": "jsonl", "paths": [uri], "id_field": "id"},
        "output": {"path": f"s3://corpus/out?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"},
        "stages": [{"stage": "length_filter_v1", "params": {"min_words": 10}}],
    })
    res = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    assert res.summary["totals"]["input"] == 40, (res.summary["totals"], res.summary["quarantined"])
    assert res.summary["totals"]["kept"] == 40, res.summary
    import pyarrow.parquet as pq

    assert pq.read_table("corpus/out/part-00000.parquet", filesystem=fs).num_rows == 40
