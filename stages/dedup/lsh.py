"""Fuzzy deduplication: MinHash-LSH banding, optional verification, distributed connected components.

Runs as a dataset stage on the cluster in hash-partitioned rounds (see dataforge.shuffle):

1. ``bands`` + ``nodes`` (per shard): each document becomes a node (shard << 32 | row); each band
   of its signature is hashed to a bucket. Node records keep id, priority and signature.
2. ``edges`` (per bucket partition): documents sharing a bucket are linked to the smallest node of
   the bucket (star edges; never all pairs, so a bucket of 10,000 copies makes 9,999 edges).
3. optional verification: each candidate edge is joined with both signatures (two rounds) and kept
   only when the estimated Jaccard over the whole signature reaches the threshold.
4. connected components by alternating Large-Star / Small-Star rounds (Kiveris et al., 2014,
   "Connected Components in MapReduce and Beyond"): every round is one shuffle of edges by node,
   no round gathers the edge set on one node, and it converges in O(log² n) rounds. Convergence
   is detected with an order-independent checksum of the edge set.
5. ``members`` and ``decisions``: every node learns its component (the smallest node); each
   component keeps one document (highest ``priority`` column, then smallest id, as
   exact_dedup_v1) and drops the rest with reason ``near_duplicate`` and the kept id as detail.
   Kept documents get ``cluster_id`` (the kept id) and ``cluster_size`` columns.

Incremental use: ``reference`` names the stage folders of earlier runs; their stored node
signatures join the bands and the clustering (nothing is re-shingled), and a new document that
falls in a cluster with an earlier document is removed, the earlier one named as kept.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.schema import with_columns
from dataforge.shuffle import PART_COLUMN, UNIT_COLUMN, route_to_units_by_column
from dataforge.stage import DatasetStage, StageParams

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


class LshParams(StageParams):
    """LSH layout, verification, survivor rule, and the signatures to use or compute."""

    threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity that makes two documents duplicates")
    preset: Literal["fineweb", "nemo", "auto"] = Field(
        "fineweb", description="fineweb: 14 bands x 8 rows (112 hashes); nemo: 20 x 13 (260); auto: datasketch optimal_param")
    bands: int | None = Field(None, gt=0, description="override the preset's bands")
    rows: int | None = Field(None, gt=0, description="override the preset's rows per band")
    verify: Literal["none", "signature"] = Field(
        "signature", description="keep a candidate pair only if its estimated Jaccard over the full signature >= threshold")
    priority: str | None = Field(None, description="numeric column; the document with the highest value survives")
    signature_column: str = Field("minhash", description="signatures from minhash_v1; computed here when absent")
    ngram: int = Field(5, gt=0, description="shingle size when signatures are computed here")
    seed: int = Field(1, description="MinHash seed when signatures are computed here")
    max_rounds: int = Field(60, gt=1, description="safety bound on connected-components rounds")
    confirm: bool = Field(
        True, description="remove a cluster member only if its signature agrees with the kept document's at "
                          "`threshold` (chains A~B~C with A !~ C keep C)")
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
    verified on the whole signature at ``threshold`` (0.8) to remove false positives. Clusters
    are connected components, so A~B and B~C removes two of the three. Removed rows carry
    ``near_duplicate`` and the id of the kept document; kept rows get ``cluster_id`` and
    ``cluster_size``. Documents with no shingles (empty text) are never linked.
    """

    name = "minhash_dedup_v1"
    Params = LshParams
    batch_size = 4096

    def setup(self) -> None:
        """Prepare the signature annotator used when the input has no signature column."""
        p: LshParams = self.params  # type: ignore[assignment]
        bands, rows = p.layout()
        self._bands, self._rows = bands, rows
        self._signer = None

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

    # -- the rounds ----------------------------------------------------------------------------
    def run_dataset(self, ctx: Any) -> None:
        """Bands -> edges -> (verify) -> connected components -> decisions."""
        p: LshParams = self.params  # type: ignore[assignment]
        ctx.map_shards(["bands", "nodes"], "shard_bands")
        band_inputs, node_inputs = ["bands"], ["nodes"]
        if p.reference:
            ctx.map_partitions(["refbands", "refnodes"], "partition_reference", inputs=[])
            band_inputs, node_inputs = ["bands", "refbands"], ["nodes", "refnodes"]
        ctx.map_partitions("candidates", "partition_edges", inputs=band_inputs)
        current = "candidates"
        if p.verify == "signature":
            ctx.map_partitions("verify1", "partition_verify_first", inputs=["candidates", *node_inputs])
            ctx.map_partitions("verified", "partition_verify_second", inputs=["verify1", *node_inputs])
            current = "verified"
        history: list[tuple[int, int]] = []
        for r in range(p.max_rounds):
            method = "partition_large_star" if r % 2 == 0 else "partition_small_star"
            out = f"cc{r + 1:02d}"
            results = ctx.map_partitions(out, method, inputs=[current])
            count = sum(x["in_count"] for x in results)
            total = sum(x["in_sum"] for x in results) % (1 << 64)
            history.append((count, total))  # the edge set that went INTO this round
            current = out
            if len(history) >= 3 and history[-1] == history[-2] == history[-3]:
                break
        else:
            raise RuntimeError(f"{self.name}: connected components did not converge in {p.max_rounds} rounds")
        ctx.map_partitions("members", "partition_labels", inputs=[current, *node_inputs])
        ctx.map_partitions(["decisions", "annotations"], "partition_decide_clusters", inputs=["members"])

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
            node_parts.append(pa.table({
                "node": pa.array(nodes), "id": batch.column("id").combine_chunks(), "priority": prio,
                "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.astype(np.uint64).ravel()), sig.shape[1]),
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
            nodes.append(pa.table({
                "node": pa.array(ref_nodes), "id": t.column("id"), "priority": t.column("priority"), "sig": col,
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

    def _sig_lookup(self, nodes_t: pa.Table | None, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if nodes_t is None:
            return np.zeros(len(wanted), dtype=bool), np.zeros((len(wanted), 0), dtype=np.uint64)
        where = pc.index_in(pa.array(wanted, pa.int64()), value_set=nodes_t.column("node").combine_chunks())
        found = np.asarray(pc.is_valid(where).to_numpy(zero_copy_only=False))
        sig_col = nodes_t.column("sig").combine_chunks()
        width = sig_col.type.list_size
        sigs = sig_col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
        idx = np.asarray(pc.fill_null(where, 0).to_numpy(zero_copy_only=False))
        return found, sigs[idx]

    def partition_verify_first(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Attach the signature of each candidate edge's first node; route by the second node."""
        e = tables["candidates"]
        if e is None or e.num_rows == 0:
            return None, {}
        u = e.column("u").to_numpy()
        v = e.column("v").to_numpy()
        found, sig = self._sig_lookup(self._merged(tables, ("nodes", "refnodes")), u)
        u, v, sig = u[found], v[found], sig[found]
        return pa.table({
            "u": pa.array(u, pa.int64()), "v": pa.array(v, pa.int64()),
            "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel(), pa.uint64()), sig.shape[1]),
            PART_COLUMN: pa.array((v.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32)),
        }), {}

    def partition_verify_second(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Keep candidate edges whose signatures agree on at least ``threshold`` of their hashes."""
        p: LshParams = self.params  # type: ignore[assignment]
        e = tables["verify1"]
        if e is None or e.num_rows == 0:
            return None, {"kept": 0, "rejected": 0}
        u = e.column("u").to_numpy()
        v = e.column("v").to_numpy()
        col = e.column("sig").combine_chunks()
        sig_u = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size)
        found, sig_v = self._sig_lookup(self._merged(tables, ("nodes", "refnodes")), v)
        sim = (sig_u == sig_v).mean(axis=1) if sig_u.shape[1] else np.zeros(len(u))
        ok = found & (sim >= p.threshold)
        return _edges_table(u[ok], v[ok], self.partitions), {"kept": int(ok.sum()), "rejected": int((~ok).sum())}

    def _star(self, tables: dict[str, pa.Table | None], large: bool) -> tuple[pa.Table | None, dict[str, Any]]:
        (t,) = tables.values()
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
        edges_name = next(k for k in tables if k not in ("nodes", "refnodes"))
        e, nodes_t = tables[edges_name], self._merged(tables, ("nodes", "refnodes"))
        if e is None or e.num_rows == 0 or nodes_t is None:
            return None, {}
        u, v = _unique_edges(e.column("u").to_numpy(), e.column("v").to_numpy())
        _, node, m = _group_min(u, v)
        where = pc.index_in(pa.array(node, pa.int64()), value_set=nodes_t.column("node").combine_chunks())
        info = nodes_t.select(["id", "priority", "sig", UNIT_COLUMN]).take(where)
        return pa.table({
            "label": pa.array(m, pa.int64()), "node": pa.array(node, pa.int64()),
            "id": info.column("id"), "priority": info.column("priority"), "sig": info.column("sig"),
            UNIT_COLUMN: info.column(UNIT_COLUMN),
            PART_COLUMN: pa.array((m.astype(np.uint64) % np.uint64(self.partitions)).astype(np.int32)),
        }), {}

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
            col = t.column("sig").combine_chunks()
            sig = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size)
            close = (sig == sig[group_start]).mean(axis=1) >= p.threshold
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
