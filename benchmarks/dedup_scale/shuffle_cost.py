"""Cost of one shuffle round's reads against the partition count: the same rows re-written as P files x P row groups.

Every partition task of a round reads row group ``p`` of every file the previous round wrote
(one file per task), and each Parquet footer lists all P row groups, so a round parses about
P³ row-group entries. This script takes the rows of one round of a finished run (e.g. the
1M-document benchmark's ``cc01``), re-writes them with each partition count, and times
``read_partition`` for every partition in one process (CPU seconds: what a round's tasks spend
before their own work starts).

    python benchmarks/dedup_scale/shuffle_cost.py --round .bench/dedup_scale/run-1000000/stages/02-minhash_dedup_v1/cc01 --partitions 72 18
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dataforge.shuffle import PART_COLUMN, read_partition, write_partitioned  # noqa: E402


def rewrite(rows: pa.Table, partitions: int, folder: Path) -> None:
    """Write ``rows`` as ``partitions`` files (one per writer task), each with one row group per partition."""
    u = rows.column("u").to_numpy()
    v = rows.column("v").to_numpy()
    writer = (v.astype(np.uint64) % np.uint64(partitions)).astype(np.int64)  # rows a previous-round task held
    part = pa.array((u.astype(np.uint64) % np.uint64(partitions)).astype(np.int32))
    t = rows.drop_columns([PART_COLUMN]).append_column(PART_COLUMN, part) if PART_COLUMN in rows.column_names \
        else rows.append_column(PART_COLUMN, part)
    for w in range(partitions):
        write_partitioned(folder / f"part-{w:05d}.parquet", t.filter(pa.array(writer == w)), partitions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--round", required=True, help="folder of one round of a finished run (u, v edge rows)")
    ap.add_argument("--partitions", type=int, nargs="+", default=[72, 18])
    args = ap.parse_args()
    rows = pa.concat_tables(pq.read_table(f) for f in sorted(Path(args.round).glob("part-*.parquet")))
    rows = rows.select(["u", "v"])
    print(f"| partitions | files x row groups | rows | read CPU s, all partitions of one round |")
    print("|---|---|---|---|")
    for p in args.partitions:
        tmp = Path(tempfile.mkdtemp(prefix="shuffle-cost-"))
        try:
            rewrite(rows, p, tmp)
            c0 = time.process_time()
            n = 0
            for part in range(p):
                t = read_partition(tmp, part)
                n += 0 if t is None else t.num_rows
            cpu = time.process_time() - c0
            assert n == rows.num_rows, (n, rows.num_rows)
            print(f"| {p} | {p} x {p} | {n:,} | {cpu:.2f} |", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
