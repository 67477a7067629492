"""Read dataforge token shards in a PyTorch training loop: a shard-aware IterableDataset.

    from dataforge.torch_data import TokenShards
    ds = TokenShards("out/mixture/general", rank=rank, world_size=world_size)
    for sample in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=4):
        sample["tokens"]  # LongTensor of token ids

Shards listed in the folder's manifest.json are split across distributed ranks (shard i goes
to rank i mod world_size) and then across DataLoader workers, so no two readers see the
same row; each shard's sha256 can be checked before reading. Needs only pyarrow and torch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq

try:  # torch is optional: the class is a plain iterable without it
    from torch.utils.data import IterableDataset as _Base
except ImportError:  # pragma: no cover - exercised only without torch
    _Base = object  # type: ignore[assignment,misc]


class TokenShards(_Base):  # type: ignore[misc]
    """Iterate rows of a shard folder as dicts with ``tokens`` as a LongTensor (or a list without torch)."""

    def __init__(self, folder: str | Path, rank: int = 0, world_size: int = 1, verify: bool = False,
                 columns: list[str] | None = None, batch_rows: int = 1024) -> None:
        """Read ``folder/manifest.json``; this reader takes shards ``rank, rank + world_size, ...``."""
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "manifest.json").read_text())
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.rank, self.world_size = rank, world_size
        self.verify = verify
        self.columns = columns
        self.batch_rows = batch_rows

    def shards(self) -> list[Path]:
        """This rank's shard files (all of this rank's workers together)."""
        files = [s["file"] for s in self.manifest["shards"]]
        mine = files[self.rank::self.world_size]
        return [self.folder / Path(f).name for f in mine]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Rows of this rank's shards, divided between DataLoader workers."""
        files = self.shards()
        try:
            from torch.utils.data import get_worker_info

            info = get_worker_info()
        except ImportError:
            info = None
        if info is not None:
            files = files[info.id::info.num_workers]
        sha = {Path(s["file"]).name: s["sha256"] for s in self.manifest["shards"]}
        for path in files:
            if self.verify and hashlib.sha256(path.read_bytes()).hexdigest() != sha[path.name]:
                raise ValueError(f"{path}: sha256 does not match manifest.json; the shard is corrupt or was replaced")
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=self.batch_rows, columns=self.columns):
                for row in batch.to_pylist():
                    yield _tensorise(row)


def _tensorise(row: dict[str, Any]) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return row
    row["tokens"] = torch.tensor(row["tokens"], dtype=torch.long)
    return row
