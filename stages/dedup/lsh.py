"""Fuzzy deduplication: MinHash-LSH banding, optional verification, distributed connected components.

Runs as a dataset stage on the cluster in hash-partitioned rounds (see dataforge.shuffle):

1. ``bands`` + ``nodes`` (per shard): each document becomes a node (shard << 32 | row); each band
   of its signature is hashed to a bucket. Node records keep id, priority and signature.
2. ``edges`` (per bucket partition): documents sharing a bucket are linked to the smallest node of
   the bucket (star edges; never all pairs, so a bucket of 10,000 copies makes 9,999 edges).
3. verification: each candidate edge is joined with both documents' records (two rounds) and kept
   only when their Jaccard reaches the threshold. ``signature`` estimates it from the whole
   MinHash signature (an estimate from 112 hashes has a standard error of ~0.04 at J = 0.8, so
   pairs near the threshold fall on either side). ``exact`` (default) first decides the pairs whose
   signature estimate is more than ``signature_margin`` standard errors from the threshold
   (bucket collisions far below it, near copies far above it), sends the documents of the
   undecided pairs back to their shards (``needed``), where a second pass computes
   their shingle sets (``sets``: whole sets, or bottom-k sketches of ``max_shingles`` for longer
   documents, see :mod:`dataforge.stages.dedup.jaccard`), and then compares the sets of each
   undecided pair (two more rounds). Only documents in a pair near the threshold are shingled twice.
4. connected components by alternating Large-Star / Small-Star rounds (Kiveris et al., 2014,
   "Connected Components in MapReduce and Beyond"): every round is one shuffle of edges by node,
   no round gathers the edge set on one node, and it converges in O(log² n) rounds. Convergence
   is detected with an order-independent checksum of the edge set.
5. ``members`` and ``decisions``: every node learns its component (the smallest node); each
   component keeps one document (highest ``priority`` column, then smallest id, as
   exact_dedup_v1) and drops the rest with reason ``near_duplicate`` and the kept id as detail.
   With ``confirm`` a member is removed only if it is itself similar to the kept document (same
   measure as verification), so a chain A~B~C with A !~ C does not remove C.
   Kept documents get ``cluster_id`` (the kept id) and ``cluster_size`` columns.

Incremental use: ``reference`` names the stage folders of earlier runs; their stored node
signatures join the bands and the clustering (nothing is re-shingled), and a new document that
falls in a cluster with an earlier document is removed, the earlier one named as kept.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.schema import with_columns
from dataforge.shuffle import PART_COLUMN, UNIT_COLUMN, route_to_units_by_column
from dataforge.stage import DatasetStage, StageParams
from dataforge.stages.dedup.jaccard import bottom_k_sets, paired_jaccard

M1 = np.uint64(0x9E3779B97F4A7C15)
M2 = np.uint64(0xBF58476D1CE4E5B9)
M3 = np.uint64(0x94D049BB133111EB)

#: Node ids of documents from reference runs carry this bit, so they never collide with this run's nodes.
REFERENCE_FLAG = np.int64(1) << np.int64(62)

#: Band layouts of published pipelines: (bands, rows), number of hashes = bands * rows.
PRESETS = {"fineweb": (14, 8), "nemo": (20, 13)}


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 -> uint64)."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= M2
        x ^= x >> np.uint64(27)
        x *= M3
        x ^= x >> np.uint64(31)
    return x


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 bucket keys: a 64-bit hash of each band's values and the band number."""
    n = sig.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(n, np.uint64(b + 1) * M1, dtype=np.uint64)
            for r in range(rows):
                h = _mix(h ^ sig[:, b * rows + r].astype(np.uint64))
            out[:, b] = h
    return out


def edge_checksum(u: np.ndarray, v: np.ndarray) -> tuple[int, int]:
    """Order-independent fingerprint of a set of (u, v) edges: (count, sum of hashes mod 2^64)."""
    if len(u) == 0:
        return 0, 0
    with np.errstate(over="ignore"):
        h = _mix(_mix(u.astype(np.uint64)) ^ (v.astype(np.uint64) * M1))
        return int(len(u)), int(np.add.reduce(h, dtype=np.uint64))


def _unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(u) == 0:
        return u, v
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[keep], v[keep]


def _group_min(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For edges sorted by u: group starts, the group's node, and min(neighbours ∪ node)."""
    starts = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    node = u[starts]
    m = np.minimum(np.minimum.reduceat(v, starts), node)
    return starts, node, m


def _edges_table(a: np.ndarray, b: np.ndarray, partitions: int, both: bool = True) -> pa.Table:
    if both:
        a, b = np.concatenate((a, b)), np.concatenate((b, a))
    part = (a.astype(np.uint64) % np.uint64(partitions)).astype(np.int32)
    return pa.table({"u": pa.array(a, pa.int64()), "v": pa.array(b, pa.int64()), PART_COLUMN: pa.array(part)})


def _round_record(name: str | list[str], method: str, results: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """One line of ``rounds.json``: the round, its tasks, wall seconds, summed task CPU seconds and rows written."""
    rows = 0
    for r in results:
        written = r.get("rows")
        rows += sum(written.values()) if isinstance(written, dict) else int(written or 0)
    return {"output": name if isinstance(name, str) else "+".join(name), "method": method, "tasks": len(results),
            "wall_s": round(wall, 3), "task_cpu_s": round(sum(r.get("cpu_s", 0.0) for r in results), 3), "rows": rows}


class LshParams(StageParams):
    """LSH layout, verification, survivor rule, and the signatures to use or compute."""

    threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity that makes two documents duplicates")
    preset: Literal["fineweb", "nemo", "auto"] = Field(
        "fineweb", description="fineweb: 14 bands x 8 rows (112 hashes); nemo: 20 x 13 (260); auto: datasketch optimal_param")
    bands: int | None = Field(None, gt=0, description="override the preset's bands")
    rows: int | None = Field(None, gt=0, description="override the preset's rows per band")
    verify: Literal["none", "signature", "exact"] = Field(
        "exact", description="keep a candidate pair only if its Jaccard >= threshold: exact (shingle sets of the "
                             "documents in pairs near the threshold, computed in a second pass), signature (estimated "
                             "from the whole signature: cheaper, less accurate near the threshold) or none (every LSH "
                             "candidate links)")
    signature_margin: float = Field(
        4.5, ge=0, description="exact verification: a pair whose signature estimate is this many standard errors "
                               "(sqrt(t(1-t)/hashes), 0.038 at t=0.8 with 112 hashes) above or below the threshold "
                               "is decided by the signature alone (wrong with probability ~3e-6); only pairs in "
                               "between are shingled and compared exactly. Raise it to check more pairs exactly")
    max_shingles: int = Field(
        2048, ge=16, description="exact verification: shingle hashes stored per document; longer documents keep their "
                                 "bottom-k and are compared by the bottom-k Jaccard estimate")
    priority: str | None = Field(None, description="numeric column; the document with the highest value survives")
    signature_column: str = Field("minhash", description="signatures from minhash_v1; computed here when absent")
    ngram: int = Field(5, gt=0, description="shingle size when signatures are computed here")
    seed: int = Field(1, description="MinHash seed when signatures are computed here")
    max_rounds: int = Field(60, gt=1, description="safety bound on connected-components rounds")
    confirm: bool = Field(
        True, description="remove a cluster member only if it is similar to the kept document at `threshold` "
                          "(exact Jaccard where both have shingle sets, else the signature estimate; chains A~B~C "
                          "with A !~ C keep C)")
    reference: list[str] = Field(
        default_factory=list,
        description="stage folders of earlier minhash_dedup_v1 runs (RUN/stages/NN-minhash_dedup_v1): new documents "
                    "that duplicate their documents are removed, using the stored signatures (nothing recomputed)")

    @model_validator(mode="after")
    def _layout(self) -> "LshParams":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        return self

    def layout(self) -> tuple[int, int]:
        """(bands, rows) from overrides, preset or the threshold."""
        if self.bands and self.rows:
            return self.bands, self.rows
        if self.preset == "auto":
            from datasketch.lsh import _optimal_param

            return _optimal_param(self.threshold, 128, 0.5, 0.5)
        return PRESETS[self.preset]


class MinHashDedup(DatasetStage):
    """Near-duplicate removal with MinHash-LSH and distributed connected components (FineWeb preset by default).

    Defaults follow FineWeb: 5-gram word shingles, 112 hashes as 14 bands of 8 rows, which puts
    the 50% candidate probability near Jaccard 0.75 and ~92% at 0.8; candidate pairs are then
    verified at ``threshold`` (0.8) by the exact Jaccard of their shingle sets (``verify: exact``:
    pairs whose signature estimate is within ``signature_margin`` standard errors of the threshold
    are shingled again, sets of up to ``max_shingles`` 32-bit hashes, about 4 bytes per word,
    shuffled through the verification rounds; the others are decided by the estimate) or, cheaper and
    less accurate, by the signature estimate (``verify: signature``). Documents of ``reference``
    runs have no text here: pairs with them are verified by signature. Clusters are connected
    components, so A~B and B~C removes two of the three. Removed rows carry
    ``near_duplicate`` and the id of the kept document; kept rows get ``cluster_id`` and
    ``cluster_size``. Documents with no shingles (empty text) are never linked.
    """

    name = "minhash_dedup_v1"
    Params = LshParams
    batch_size = 4096

    #: Hash partitions per engine partition (the engine gives two per shard, see DatasetStage.partitions_for).
    #: Every round reads one row group of every file of the previous round, and each file's footer lists
    #: every partition: the per-round cost grows with partitions³. A quarter (one partition per two
    #: shards, ~55k documents of 64 MB shards) keeps partition tasks small and that term 64× smaller;
    #: at the engine's cap (512, >= 256 shards) the engine's count is kept.
    partition_share: float = 0.25

    def setup(self) -> None:
        """Prepare the signature annotator used when the input has no signature column; set the partition count.

        The partition count is derived here from the engine's (set from the number of shards, never from the
        workers), so every copy of the stage (driver, round tasks, apply tasks, a resumed run) agrees.
        """
        p: LshParams = self.params  # type: ignore[assignment]
        bands, rows = p.layout()
        self._bands, self._rows = bands, rows
        self._signer = None
        if self.partitions < 512:
            self.partitions = max(4, int(self.partitions * self.partition_share))

    def _signatures(self, batch: pa.Table) -> np.ndarray:
        p: LshParams = self.params  # type: ignore[assignment]
        num_perm = self._bands * self._rows
        if p.signature_column in batch.column_names:
            col = batch.column(p.signature_column).combine_chunks()
        else:
            if self._signer is None:
                from dataforge.stages.dedup.minhash import MinHashSignatures

                self._signer = MinHashSignatures({"num_perm": num_perm, "ngram": p.ngram, "seed": p.seed})
                self._signer.ensure_setup()
            signed = self._signer.annotate(batch)
            col = signed.column("minhash").combine_chunks()
            self._last_shingles = signed.column("minhash_shingles")
        flat = col.flatten().to_numpy(zero_copy_only=False)
        if len(col) and flat.size != len(col) * num_perm:
            raise ValueError(f"{self.name}: signatures have {flat.size // max(len(col), 1)} hashes, the layout "
                             f"{self._bands}x{self._rows} needs {num_perm}; compute them with num_perm={num_perm}")
        return flat.reshape(len(col), num_perm) if len(col) else np.zeros((0, num_perm), dtype=np.uint64)

    def _shingle_spec(self, batch: pa.Table) -> Any:
        """Shingling of the signatures (from the signature column's metadata, else this stage's ``ngram``)."""
        import json

        from dataforge.text.shingles import ShingleSpec

        p: LshParams = self.params  # type: ignore[assignment]
        meta: dict[str, Any] = {}
        if p.signature_column in batch.column_names:
            raw = (batch.schema.field(p.signature_column).metadata or {}).get(b"dataforge")
            if raw:
                meta = json.loads(raw)
        return ShingleSpec(ngram=int(meta.get("ngram", p.ngram)), char_ngram=int(meta.get("char_ngram", 5)))

    def _shingle_sets(self, batch: pa.Table, linkable: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """Per row: its bottom-``max_shingles`` shingle set (null where not linkable) and whether it was truncated."""
        from dataforge.stages.dedup.minhash import _chunks
        from dataforge.text.shingles import shingle_hashes

        p: LshParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        rows = np.flatnonzero(linkable)
        sub = batch.take(pa.array(rows, pa.int64())) if len(rows) < n else batch
        text = sub.column("text") if "text" in sub.column_names else pa.nulls(len(rows), pa.string())
        language = sub.column("language") if "language" in sub.column_names else None
        spec = self._shingle_spec(batch)
        vals, sizes, trunc = [], [], []
        for lo, hi in _chunks(text):
            sh = shingle_hashes(text.slice(lo, hi - lo), None if language is None else language.slice(lo, hi - lo), spec)
            v, o, t = bottom_k_sets(sh.hashes, sh.offsets, p.max_shingles)
            vals.append(v)
            sizes.append(np.diff(o))
            trunc.append(t)
        size = np.zeros(n, dtype=np.int64)
        truncated = np.zeros(n, dtype=bool)
        if sizes:
            size[rows] = np.concatenate(sizes)
            truncated[rows] = np.concatenate(trunc)
        offsets = np.concatenate(([0], np.cumsum(size))).astype(np.int64)
        values = np.concatenate(vals) if vals else np.zeros(0, np.uint32)
        sets = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values, pa.uint32()),
                                             mask=pa.array(~linkable))
        return sets, pa.array(truncated)

    def _similarity(self, sig_u: np.ndarray, sig_v: np.ndarray, sets_u: tuple | None, sets_v: tuple | None) -> np.ndarray:
        """Jaccard of row pairs: exact (shingle sets) where both have a set, else estimated from the signatures."""
        sim = (sig_u == sig_v).mean(axis=1) if sig_u.shape[1] else np.zeros(len(sig_u))
        if sets_u is not None and sets_v is not None and len(sim):
            both = sets_u[3] & sets_v[3]
            if both.any():
                exact = paired_jaccard(*sets_u[:3], *sets_v[:3])
                sim = np.where(both, exact, sim)
        return sim

    # -- the rounds ----------------------------------------------------------------------------
    def run_dataset(self, ctx: Any) -> None:
        """Bands -> edges -> (verify) -> connected components -> decisions; per-round timings in ``rounds.json``."""
        p: LshParams = self.params  # type: ignore[assignment]
        log: list[dict[str, Any]] = []

        def shards(name: str | list[str], method: str, inputs: list[str] | None = None) -> list[dict[str, Any]]:
            t0 = time.perf_counter()
            res = ctx.map_shards(name, "shard_timed", inputs=inputs, inner=method)
            log.append(_round_record(name, method, res, time.perf_counter() - t0))
            return res

        def partitions(name: str | list[str], method: str, inputs: list[str], **kw: Any) -> list[dict[str, Any]]:
            t0 = time.perf_counter()
            res = ctx.map_partitions(name, "partition_timed", inputs=inputs, inner=method, **kw)
            log.append(_round_record(name, method, res, time.perf_counter() - t0))
            return res

        shards(["bands", "nodes"], "shard_bands")
        band_inputs, node_inputs = ["bands"], ["nodes"]
        if p.reference:
            partitions(["refbands", "refnodes"], "partition_reference", inputs=[])
            band_inputs, node_inputs = ["bands", "refbands"], ["nodes", "refnodes"]
        partitions("candidates", "partition_edges", inputs=band_inputs)
        current = "candidates"
        if p.verify == "signature":
            partitions("verify1", "partition_verify_first", inputs=["candidates", *node_inputs], edges="candidates")
            partitions("verified", "partition_verify_second", inputs=["verify1", *node_inputs])
            current = "verified"
        elif p.verify == "exact":
            # 1. decide pairs whose signature estimate is far from the threshold (either side);
            # 2. shingle sets only for the documents of undecided pairs (a second pass over their shards);
            # 3. exact Jaccard of the undecided pairs.
            partitions("verify1", "partition_verify_first", inputs=["candidates", *node_inputs], edges="candidates")
            partitions(["sure", "likely", "needed"], "partition_prefilter", inputs=["verify1", *node_inputs])
            shards("sets", "shard_sets", inputs=["needed"])
            node_inputs = [*node_inputs, "sets"]
            partitions("verify2", "partition_verify_first", inputs=["likely", *node_inputs], edges="likely")
            partitions("verified", "partition_verify_second", inputs=["verify2", *node_inputs], edges="verify2")
            current = ["verified", "sure"]
        history: list[tuple[int, int]] = []
        for r in range(p.max_rounds):
            method = "partition_large_star" if r % 2 == 0 else "partition_small_star"
            out = f"cc{r + 1:02d}"
            results = partitions(out, method, inputs=current if isinstance(current, list) else [current])
            count = sum(x["in_count"] for x in results)
            total = sum(x["in_sum"] for x in results) % (1 << 64)
            history.append((count, total))  # the edge set that went INTO this round
            current = out
            if len(history) >= 3 and history[-1] == history[-2] == history[-3]:
                break
        else:
            raise RuntimeError(f"{self.name}: connected components did not converge in {p.max_rounds} rounds")
        partitions("members", "partition_labels", inputs=[*(current if isinstance(current, list) else [current]),
                                                          *node_inputs])
        partitions(["decisions", "annotations"], "partition_decide_clusters", inputs=["members"])
        folder = Path(ctx.folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rounds.json").write_text(json.dumps({"partitions": ctx.partitions, "rounds": log}, indent=1))

    def shard_timed(self, unit: int, batches: Iterator[pa.Table], inner: str, **kw: Any) -> tuple[Any, dict[str, Any]]:
        """Run the shard method ``inner`` and report the task's CPU seconds."""
        c0 = time.process_time()
        out = getattr(self, inner)(unit, batches, **kw)
        info: dict[str, Any] = {}
        if isinstance(out, tuple):
            out, info = out
        return out, {**(info or {}), "cpu_s": time.process_time() - c0}

    def partition_timed(self, part: int, tables: dict[str, pa.Table | None], inner: str,
                        **kw: Any) -> tuple[Any, dict[str, Any]]:
        """Run the partition method ``inner`` and report the task's CPU seconds (reading its inputs happened before)."""
        c0 = time.process_time()
        out, info = getattr(self, inner)(part, tables, **kw)
        return out, {**(info or {}), "cpu_s": time.process_time() - c0}

    def shard_bands(self, unit: int, batches: Iterator[pa.Table]) -> dict[str, pa.Table]:
        """Band buckets and node records of one shard."""
        p: LshParams = self.params  # type: ignore[assignment]
        band_parts, node_parts = [], []
        row = 0
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            sig = self._signatures(batch)
            nodes = (np.int64(unit) << np.int64(32)) + np.arange(row, row + n, dtype=np.int64)
            row += n
            shingles = batch.column("minhash_shingles") if "minhash_shingles" in batch.column_names else \
                getattr(self, "_last_shingles", None) if p.signature_column not in batch.column_names else None
            if shingles is not None:  # documents without a shingle have a blank signature: never link them
                linkable = np.asarray(pc.fill_null(pc.greater(shingles, 0), False).to_numpy(zero_copy_only=False))
            else:
                text = pc.fill_null(batch.column("text"), "")
                linkable = np.asarray(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(zero_copy_only=False))
            prio = (pc.cast(pc.fill_null(batch.column(p.priority), float("-inf")), pa.float64())
                    if p.priority else pa.nulls(n, pa.float64()))
            cols = {
                "node": pa.array(nodes), "id": batch.column("id").combine_chunks(), "priority": prio,
                "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.astype(np.uint64).ravel()), sig.shape[1]),
            }
            node_parts.append(pa.table({
                **cols,
                UNIT_COLUMN: pa.array(np.full(n, unit, dtype=np.int32)),
                PART_COLUMN: pa.array((nodes.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32)),
            }))
            if linkable.any():
                bh = band_hashes(sig[linkable], self._bands, self._rows)
                keys = bh.ravel()
                owners = np.repeat(nodes[linkable], self._bands)
                band_parts.append(pa.table({
                    "bucket": pa.array(keys, pa.uint64()), "node": pa.array(owners, pa.int64()),
                    PART_COLUMN: pa.array((keys % np.uint64(self.partitions)).astype(np.int32)),
                }))
        out = {}
        if band_parts:
            out["bands"] = pa.concat_tables(band_parts)
        if node_parts:
            out["nodes"] = pa.concat_tables(node_parts)
        return out

    def shard_sets(self, unit: int, batches: Iterator[pa.Table], tables: dict[str, pa.Table | None]) -> pa.Table | None:
        """Shingle sets of this shard's documents that are still in a candidate pair, routed by node."""
        needed_t = tables.get("needed")
        if needed_t is None or needed_t.num_rows == 0:
            return None
        rows = np.unique(needed_t.column("node").to_numpy() & np.int64(0xFFFFFFFF))
        parts, row = [], 0
        for batch in batches:
            n = batch.num_rows
            lo, hi = np.searchsorted(rows, [row, row + n])
            if hi > lo:
                local = rows[lo:hi] - row
                sub = batch.take(pa.array(local, pa.int64()))
                sets, trunc = self._shingle_sets(sub, np.ones(len(local), dtype=bool))
                nodes = (np.int64(unit) << np.int64(32)) + rows[lo:hi]
                parts.append(pa.table({
                    "node": pa.array(nodes, pa.int64()), "shingles": sets, "truncated": trunc,
                    PART_COLUMN: pa.array((nodes.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32)),
                }))
            row += n
        return pa.concat_tables(parts) if parts else None

    def partition_reference(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        """Band buckets and node records of earlier runs' documents, from their stored signatures."""
        from pathlib import Path

        import pyarrow.parquet as pq

        p: LshParams = self.params  # type: ignore[assignment]
        bands, nodes = [], []
        # Task ``part`` takes every P-th node file of the references (their partition count may differ
        # from this run's) and re-routes the rows by this run's partitions.
        files = [f for ref in p.reference for f in sorted((Path(ref) / "nodes").glob("part-*.parquet"))]
        if p.reference and not files:
            raise FileNotFoundError(f"{self.name}: no node signatures under {p.reference}; give the folder of a "
                                    "finished minhash_dedup_v1 stage, e.g. runs/NAME/stages/03-minhash_dedup_v1")
        for f in files[part::self.partitions]:
            t = pq.read_table(f)
            if t.num_rows == 0:
                continue
            ref = str(f.parent.parent)
            col = t.column("sig").combine_chunks()
            if col.type.list_size != self._bands * self._rows:
                raise ValueError(f"{self.name}: reference {ref} has {col.type.list_size}-hash signatures; "
                                 f"this layout needs {self._bands * self._rows}")
            sig = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size)
            ref_nodes = t.column("node").to_numpy() | REFERENCE_FLAG
            ref_cols = {"node": pa.array(ref_nodes), "id": t.column("id"), "priority": t.column("priority"), "sig": col}
            nodes.append(pa.table({
                **ref_cols,
                UNIT_COLUMN: pa.array(np.full(len(ref_nodes), -1, dtype=np.int32)),
                PART_COLUMN: pa.array((ref_nodes.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32)),
            }))
            keys = band_hashes(sig, self._bands, self._rows).ravel()
            bands.append(pa.table({
                "bucket": pa.array(keys, pa.uint64()), "node": pa.array(np.repeat(ref_nodes, self._bands), pa.int64()),
                PART_COLUMN: pa.array((keys % np.uint64(self.partitions)).astype(np.int32)),
            }))
        out = {}
        if bands:
            out["refbands"] = pa.concat_tables(bands)
            out["refnodes"] = pa.concat_tables(nodes)
        return out, {"reference_nodes": sum(n.num_rows for n in nodes)}

    @staticmethod
    def _merged(tables: dict[str, pa.Table | None], names: tuple[str, ...]) -> pa.Table | None:
        parts = [tables[n] for n in names if tables.get(n) is not None and tables[n].num_rows]
        return pa.concat_tables(parts, promote_options="permissive") if parts else None

    def partition_edges(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Star edges (node -> smallest node) for every bucket with two or more documents."""
        t = self._merged(tables, ("bands", "refbands"))
        if t is None or t.num_rows == 0:
            return None, {"edges": 0}
        bucket = t.column("bucket").to_numpy()
        node = t.column("node").to_numpy()
        order = np.lexsort((node, bucket))
        bucket, node = bucket[order], node[order]
        first = np.concatenate(([True], bucket[1:] != bucket[:-1]))
        starts = np.flatnonzero(first)
        center = node[np.repeat(starts, np.diff(np.concatenate((starts, [len(node)]))))]
        mask = node != center
        a, b = _unique_edges(node[mask], center[mask])
        # one direction only, routed by the non-centre end (verification joins it, or CC doubles it)
        p: LshParams = self.params  # type: ignore[assignment]
        table = _edges_table(a, b, self.partitions, both=p.verify == "none")
        return table, {"edges": len(a)}

    @staticmethod
    def _sigs(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """A fixed-size-list signature column as an (n, width) array."""
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size)

    @staticmethod
    def _sets(t: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(values, offsets, truncated, present) of a table's ``shingles`` column; None without one."""
        if "shingles" not in t.column_names:
            return None
        col = t.column("shingles").combine_chunks()
        if col.type != pa.large_list(pa.uint32()):
            col = col.cast(pa.large_list(pa.uint32()))
        present = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        offs = col.offsets.to_numpy().astype(np.int64)
        vals = col.values.to_numpy(zero_copy_only=False)
        trunc = np.asarray(pc.fill_null(t.column("truncated"), False).to_numpy(zero_copy_only=False), dtype=bool) \
            if "truncated" in t.column_names else np.zeros(t.num_rows, dtype=bool)
        return vals, offs, trunc, present

    def _lookup(self, tables: dict[str, pa.Table | None], wanted: np.ndarray,
                extra: tuple[str, ...] = ()) -> tuple[np.ndarray, pa.Table | None]:
        """Whether each wanted node has a record, and its ``sig`` (+ ``extra`` columns), with its shingle set
        (null where the ``sets`` input has none), one row per wanted node."""
        nodes_t = self._merged(tables, ("nodes", "refnodes"))
        if nodes_t is None:
            return np.zeros(len(wanted), dtype=bool), None
        key = pa.array(wanted, pa.int64())
        where = pc.index_in(key, value_set=nodes_t.column("node").combine_chunks())
        found = np.asarray(pc.is_valid(where).to_numpy(zero_copy_only=False))
        rec = nodes_t.select([*extra, "sig"]).take(pc.fill_null(where, 0))
        sets_t = tables.get("sets")
        if sets_t is not None and sets_t.num_rows:
            at = pc.index_in(key, value_set=sets_t.column("node").combine_chunks())
            rec = rec.append_column("shingles", pc.take(sets_t.column("shingles"), at))
            rec = rec.append_column("truncated", pc.take(sets_t.column("truncated"), at))
        return found, rec

    def partition_verify_first(self, part: int, tables: dict[str, pa.Table | None],
                               edges: str = "candidates") -> tuple[pa.Table | None, dict[str, Any]]:
        """Attach the signature (and shingle set) of each candidate edge's first node; route by the second node."""
        e = tables[edges]
        if e is None or e.num_rows == 0:
            return None, {}
        u = e.column("u").to_numpy()
        v = e.column("v").to_numpy()
        found, rec = self._lookup(tables, u)
        if rec is None or not found.any():
            return None, {}
        keep = pa.array(found)
        rec = rec.filter(keep)
        u, v = u[found], v[found]
        out = pa.table({"u": pa.array(u, pa.int64()), "v": pa.array(v, pa.int64())})
        for name in rec.column_names:
            out = out.append_column(name, rec.column(name))
        return out.append_column(PART_COLUMN, pa.array((v.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32))), {}

    def _pair_similarity(self, tables: dict[str, pa.Table | None], edges: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, Jaccard) of edges that carry u's record, looked up against v's record (-1 where v has none)."""
        e = tables[edges]
        if e is None or e.num_rows == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z, np.zeros(0)
        u = e.column("u").to_numpy()
        v = e.column("v").to_numpy()
        found, rec = self._lookup(tables, v)
        if rec is None:
            return u, v, np.full(len(u), -1.0)
        sim = self._similarity(self._sigs(e.column("sig")), self._sigs(rec.column("sig")), self._sets(e), self._sets(rec))
        return u, v, np.where(found, sim, -1.0)

    def partition_verify_second(self, part: int, tables: dict[str, pa.Table | None],
                                edges: str = "verify1") -> tuple[pa.Table | None, dict[str, Any]]:
        """Keep candidate edges whose documents' Jaccard (exact, or estimated from signatures) reaches ``threshold``."""
        p: LshParams = self.params  # type: ignore[assignment]
        u, v, sim = self._pair_similarity(tables, edges)
        if len(u) == 0:
            return None, {"kept": 0, "rejected": 0}
        ok = sim >= p.threshold
        return _edges_table(u[ok], v[ok], self.partitions), {"kept": int(ok.sum()), "rejected": int((~ok).sum())}

    def partition_prefilter(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        """Decide candidate edges whose signature estimate is ``signature_margin`` standard errors from the
        threshold (``sure`` edges go to clustering, far ones are dropped); the rest (``likely``) and their
        documents (``needed``, routed to their shards) go on to the exact check."""
        p: LshParams = self.params  # type: ignore[assignment]
        u, v, sim = self._pair_similarity(tables, "verify1")
        if len(u) == 0:
            return {}, {"sure": 0, "likely": 0, "unlikely": 0}
        margin = p.signature_margin * float(np.sqrt(p.threshold * (1 - p.threshold) / (self._bands * self._rows)))
        sure = sim >= p.threshold + margin
        ok = (sim >= p.threshold - margin) & ~sure
        out = {"sure": _edges_table(u[sure], v[sure], self.partitions)}
        info = {"sure": int(sure.sum()), "likely": int(ok.sum()), "unlikely": int((~ok & ~sure).sum())}
        u, v = u[ok], v[ok]
        nodes = np.unique(np.concatenate((u, v)))
        nodes = nodes[(nodes & REFERENCE_FLAG) == 0]  # earlier runs' documents have no text here: signature only
        unit = (nodes >> np.int64(32)).astype(np.int32)
        needed = route_to_units_by_column(pa.table({"node": pa.array(nodes, pa.int64()), UNIT_COLUMN: pa.array(unit)}),
                                          self.partitions)
        return {**out, "likely": _edges_table(u, v, self.partitions, both=False), "needed": needed}, info

    def _star(self, tables: dict[str, pa.Table | None], large: bool) -> tuple[pa.Table | None, dict[str, Any]]:
        t = self._merged(tables, tuple(tables))
        if t is None or t.num_rows == 0:
            return None, {"in_count": 0, "in_sum": 0}
        u, v = _unique_edges(t.column("u").to_numpy(), t.column("v").to_numpy())
        count, total = edge_checksum(u, v)
        if large:
            starts, node, m = _group_min(u, v)
            mg = np.repeat(m, np.diff(np.concatenate((starts, [len(u)]))))
            keep = (v > u) & (v != mg)
            a, b = v[keep], mg[keep]
        else:
            low = v < u
            ul, vl = u[low], v[low]
            if len(ul):
                starts, node, m = _group_min(ul, vl)
                mg = np.repeat(m, np.diff(np.concatenate((starts, [len(ul)]))))
                a = np.concatenate((vl, node))
                b = np.concatenate((mg, m))
                keep = a != b
                a, b = a[keep], b[keep]
            else:
                a = b = np.zeros(0, dtype=np.int64)
        a, b = _unique_edges(a, b)
        return _edges_table(a, b, self.partitions), {"in_count": count, "in_sum": total}

    def partition_large_star(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Large-Star: link every larger neighbour to the smallest node of the neighbourhood."""
        return self._star(tables, large=True)

    def partition_small_star(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Small-Star: link the node and its smaller neighbours to the smallest of them."""
        return self._star(tables, large=False)

    def partition_labels(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Each linked node's component label (smallest node), joined with its id and priority, routed by label."""
        e = self._merged(tables, tuple(k for k in tables if k not in ("nodes", "refnodes", "sets")))
        nodes_t = self._merged(tables, ("nodes", "refnodes"))
        if e is None or e.num_rows == 0 or nodes_t is None:
            return None, {}
        u, v = _unique_edges(e.column("u").to_numpy(), e.column("v").to_numpy())
        _, node, m = _group_min(u, v)
        _, info = self._lookup(tables, node, extra=("id", "priority", UNIT_COLUMN))
        out = pa.table({"label": pa.array(m, pa.int64()), "node": pa.array(node, pa.int64())})
        for name in info.column_names:  # type: ignore[union-attr]
            out = out.append_column(name, info.column(name))  # type: ignore[union-attr]
        return out.append_column(PART_COLUMN, pa.array((m.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32))), {}

    def partition_decide_clusters(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        """Per component keep the best document; drops and cluster annotations go to their shards."""
        t = tables["members"]
        if t is None or t.num_rows == 0:
            return {}, {"clusters": 0, "removed": 0}
        prio = pc.fill_null(t.column("priority"), float("-inf"))
        # documents of reference runs are already published: they always survive
        is_ref = pc.less(t.column(UNIT_COLUMN), 0)
        prio = pc.if_else(is_ref, float("inf"), prio)
        t = t.set_column(t.column_names.index("priority"), "priority", prio)
        t = t.sort_by([("label", "ascending"), ("priority", "descending"), ("id", "ascending")])
        label = t.column("label").to_numpy()
        first = np.concatenate(([True], label[1:] != label[:-1]))
        starts = np.flatnonzero(first)
        sizes = np.diff(np.concatenate((starts, [len(label)])))
        group_start = np.repeat(starts, sizes)
        p: LshParams = self.params  # type: ignore[assignment]
        if p.confirm and t.num_rows:
            sig = self._sigs(t.column("sig"))
            sets = self._sets(t)
            kept_sets = None if sets is None else self._sets(t.select(["shingles", "truncated"]).take(pa.array(group_start)))
            close = self._similarity(sig, sig[group_start], sets, kept_sets) >= p.threshold
            # members not close to their kept document leave the cluster and stand alone
            alone = ~close & ~first
            if alone.any():
                label = np.where(alone, -1 - np.arange(len(label)), label)
                t = t.set_column(t.column_names.index("label"), "label", pa.array(label))
                t = t.sort_by([("label", "ascending"), ("priority", "descending"), ("id", "ascending")])
                label = t.column("label").to_numpy()
                first = np.concatenate(([True], label[1:] != label[:-1]))
                starts = np.flatnonzero(first)
                sizes = np.diff(np.concatenate((starts, [len(label)])))
                group_start = np.repeat(starts, sizes)
        ids = t.column("id")
        kept_id = pc.take(ids, pa.array(group_start))
        drop = pa.array(~first)
        drops = pa.table({"id": pc.filter(ids, drop), "reason": pa.array(["near_duplicate"] * int((~first).sum()), pa.string()),
                          "detail": pc.filter(kept_id, drop), UNIT_COLUMN: pc.filter(t.column(UNIT_COLUMN), drop)})
        keep = pa.array(first & (np.repeat(sizes, sizes) > 1))
        ann = pa.table({"id": pc.filter(ids, keep), "cluster_id": pc.filter(kept_id, keep),
                        "cluster_size": pa.array(sizes[sizes > 1], pa.int64()),
                        UNIT_COLUMN: pc.filter(t.column(UNIT_COLUMN), keep)})
        ann = ann.filter(pc.greater_equal(ann.column(UNIT_COLUMN), 0))  # reference documents are not in this run
        return ({"decisions": route_to_units_by_column(drops, self.partitions),
                 "annotations": route_to_units_by_column(ann, self.partitions)},
                {"clusters": int((sizes > 1).sum()), "removed": int((~first).sum())})

    def annotate_kept(self, batch: pa.Table, annotations: pa.Table | None) -> pa.Table:
        """``cluster_id`` (kept id; own id for singletons) and ``cluster_size`` (1 for singletons)."""
        ids = batch.column("id")
        cid, size = ids, pa.array(np.ones(batch.num_rows, dtype=np.int64))
        if annotations is not None and annotations.num_rows and batch.num_rows:
            where = pc.index_in(ids, value_set=annotations.column("id").combine_chunks())
            cid = pc.coalesce(pc.take(annotations.column("cluster_id"), where), ids)
            size = pc.coalesce(pc.take(annotations.column("cluster_size"), where), size)
        return with_columns(batch, {"cluster_id": cid, "cluster_size": size})
