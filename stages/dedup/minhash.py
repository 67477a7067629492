"""MinHash signatures of documents, vectorised over the batch and equal to datasketch's."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.stage import Annotator, StageParams
from dataforge.text.shingles import CHAR_LANGUAGES, ShingleSpec, fmix64, shingle_hashes

#: datasketch's Mersenne prime 2^61 - 1 (the "legacy" scheme's modulus).
MERSENNE_PRIME = (1 << 61) - 1
#: Signature value of an empty MinHash (no shingle), per scheme: datasketch's initial hash values.
EMPTY_VALUE = {"affine32": (1 << 32) - 1, "legacy": (1 << 32) - 1, "affine64": (1 << 64) - 1}
#: Storage type of a signature value, per scheme ("legacy" values fit 32 bits; datasketch keeps them in uint64).
VALUE_TYPE = {"affine32": np.uint32, "legacy": np.uint32, "affine64": np.uint64}
Scheme = Literal["affine32", "affine64", "legacy"]
#: Shingles per permutation block: keeps the (num_perm x block) scratch matrix around 7 MB.
_BLOCK = 16384
#: Text bytes hashed at a time: large temporaries (tens of MB) would be mapped and unmapped on every batch.
_CHUNK_BYTES = 1 << 19


def permutations(num_perm: int, seed: int, scheme: Scheme = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """The permutation parameters (a, b) exactly as ``datasketch.MinHash(num_perm, seed, scheme=...)`` draws them.

    ``affine32``/``affine64`` (datasketch >= 2.0): odd ``a`` and any ``b`` below 2^w from
    ``np.random.RandomState(seed)``; ``legacy`` (datasketch < 2.0): pairs ``a`` in [1, p),
    ``b`` in [0, p) with p the Mersenne prime 2^61 - 1, drawn alternately.
    """
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        p = np.uint64(MERSENNE_PRIME)
        pairs = np.array(
            [(gen.randint(1, p, dtype=np.uint64), gen.randint(0, p, dtype=np.uint64)) for _ in range(num_perm)],
            dtype=np.uint64,
        ).reshape(num_perm, 2)
        return pairs[:, 0].copy(), pairs[:, 1].copy()
    width, dtype = (32, np.uint32) if scheme == "affine32" else (64, np.uint64)
    a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, in place on a uint32 array (datasketch's pre-mix for affine32)."""
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _premix(hashes: np.ndarray, scheme: Scheme) -> np.ndarray:
    """Shingle hashes as the scheme's permutation input (fmix pre-mix for the affine schemes)."""
    if scheme == "affine32":
        return fmix32((hashes & np.uint64(0xFFFFFFFF)).astype(np.uint32) if hashes.dtype != np.uint32 else hashes.copy())
    if scheme == "affine64":
        return fmix64(hashes.astype(np.uint64, copy=True))
    return (hashes.astype(np.uint64) & np.uint64(0xFFFFFFFF)) if hashes.dtype != np.uint32 else hashes.astype(np.uint64)


def _permute(hv: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: Scheme, out: np.ndarray) -> np.ndarray:
    """Apply every permutation to a block of pre-mixed hashes: out[k, j] = perm_k(hv[j])."""
    np.multiply(a[:, None], hv[None, :], out=out)
    np.add(out, b[:, None], out=out)
    if scheme == "legacy":
        np.remainder(out, np.uint64(MERSENNE_PRIME), out=out)
        np.bitwise_and(out, np.uint64(0xFFFFFFFF), out=out)
    return out


def signatures(
    hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: Scheme = "affine32"
) -> np.ndarray:
    """MinHash signatures (n x num_perm) of documents whose shingle hashes lie at offsets (n + 1).

    A document without shingles gets the empty signature (every value the scheme's maximum),
    as a fresh ``datasketch.MinHash`` has.
    """
    n, num_perm = len(offsets) - 1, len(a)
    work = np.uint64 if scheme != "affine32" else np.uint32
    sig = np.full((num_perm, n), EMPTY_VALUE[scheme], dtype=work)
    counts = np.diff(offsets)
    docs = np.flatnonzero(counts > 0)
    if len(docs) == 0:
        return np.ascontiguousarray(sig.T).astype(VALUE_TYPE[scheme], copy=False)
    hv = _premix(hashes, scheme)
    starts, ends = offsets[docs], offsets[docs + 1]
    block = _BLOCK if work is np.uint32 else _BLOCK // 2
    scratch = np.empty((num_perm, block), dtype=work)
    total = int(offsets[-1])
    for c0 in range(0, total, block):
        c1 = min(c0 + block, total)
        lo = int(np.searchsorted(ends, c0, side="right"))
        hi = int(np.searchsorted(starts, c1, side="left"))
        m = _permute(hv[c0:c1], a, b, scheme, scratch[:, : c1 - c0])
        part = np.minimum.reduceat(m, np.maximum(starts[lo:hi], c0) - c0, axis=1)
        cols = docs[lo:hi]
        if starts[lo] < c0 or ends[hi - 1] > c1:  # a document spans blocks: merge with what it has
            part = np.minimum(part, sig[:, cols])
        sig[:, cols] = part
    return np.ascontiguousarray(sig.T).astype(VALUE_TYPE[scheme], copy=False)


def _chunks(text: pa.Array | pa.ChunkedArray, target: int = _CHUNK_BYTES) -> list[tuple[int, int]]:
    """Row ranges of about ``target`` bytes of text (a longer document alone): small temporaries, no page-fault churn."""
    n = len(text)
    if n == 0:
        return []
    size = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    ends = np.cumsum(size)
    chunk = (ends - size) // target  # chunk of each row's first byte: non-decreasing
    cuts = np.flatnonzero(np.diff(chunk)) + 1
    bounds = [0, *cuts.tolist(), n]
    return list(zip(bounds[:-1], bounds[1:]))


class MinHashParams(StageParams):
    """Shingling, shingle hash and permutation scheme of the signatures."""

    num_perm: int = Field(112, ge=1, le=4096, description="permutations; FineWeb: 14 bands x 8 rows = 112")
    ngram: int = Field(5, ge=1, description="words per shingle (FineWeb: 5-grams)")
    char_ngram: int = Field(5, ge=1, description="characters per shingle for text written without spaces")
    seed: int = Field(1, ge=0, lt=2**32, description="permutation seed (datasketch's and FineWeb's default: 1)")
    hash: Literal["xxh3", "sha1"] = Field(
        "xxh3", description="shingle hash: xxh3 (vectorised, see dataforge.text.shingles) or sha1 (datasketch's default)"
    )
    scheme: Scheme = Field(
        "affine32", description="datasketch permutation scheme: affine32 (datasketch 2.x default), affine64, legacy (<2.0)"
    )
    lowercase: bool = Field(True, description="lowercase before shingling")
    unicode_form: Literal["NFKC", "NFC", "none"] = Field("NFKC", description="Unicode normalisation before shingling")
    strip_punctuation: bool = Field(True, description="fold punctuation and symbols into word separators")
    segment: Literal["auto", "words", "chars"] = Field(
        "auto", description="auto: characters for languages/scripts written without spaces, words otherwise"
    )
    char_languages: list[str] = Field(
        default_factory=lambda: list(CHAR_LANGUAGES), description="language codes shingled by characters (auto)"
    )
    char_script_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="share of Han/kana/Thai/... characters that makes a document shingle by characters"
    )


class MinHashSignatures(Annotator):
    """Add MinHash signatures of word 5-gram shingles: ``minhash`` (num_perm values) and ``minhash_shingles``.

    Defaults follow FineWeb's MinHash deduplication (word 5-grams, 112 permutations = 14 bands
    of 8 rows, seed 1). Text is normalised (NFKC, lowercase, punctuation and whitespace
    folded) and shingled by words, or by characters (5-grams) for text written without spaces:
    when the ``language`` column says zh/ja/th/lo/km/my/bo/..., or when at least half of a
    document's characters are Han, kana, Thai, Lao, Khmer, Myanmar or Tibetan letters. Rules
    in ``dataforge.text.shingles``; normalisation, shingling and hashing are vectorised over
    the whole batch (no Python loop over documents or words).

    The signature equals ``datasketch.MinHash(num_perm, seed, scheme=scheme, hashfunc=H)``
    updated with the document's shingle texts (``dataforge.text.shingles.document_shingles``),
    where H is ``datasketch.hashfunc.sha1_hash32`` (``hash="sha1"``; ``sha1_hash64`` with
    ``scheme="affine64"``) or ``dataforge.text.shingles.fast_shingle_hash`` (``hash="xxh3"``,
    the default, masked to 32 bits for the 32-bit schemes). ``scheme`` is datasketch's
    permutation scheme: ``affine32`` (datasketch 2.x default), ``affine64``, or ``legacy``
    (datasketch < 2.0, modulo the Mersenne prime 2^61 - 1). Values are uint32 (uint64 for
    ``affine64``); the column's field metadata records num_perm, seed, scheme, hash and ngram.

    Empty documents (null text, or nothing left after normalisation, e.g. only punctuation)
    get ``minhash_shingles`` 0 and the empty signature (every value the maximum, as a fresh
    datasketch MinHash): LSH should skip rows with ``minhash_shingles == 0``. A document with
    fewer words than ``ngram`` gets one shingle of all its words. Huge documents work; memory
    is about 20 bytes per byte of text in the batch at the peak.
    """

    name = "minhash_v1"
    Params = MinHashParams
    batch_size = 1024

    def _spec(self) -> ShingleSpec:
        """The shingling part of the parameters."""
        p: MinHashParams = self.params  # type: ignore[assignment]
        return ShingleSpec(
            ngram=p.ngram, char_ngram=p.char_ngram, lowercase=p.lowercase, form=p.unicode_form,
            strip_punctuation=p.strip_punctuation, segment=p.segment, char_languages=tuple(p.char_languages),
            char_script_fraction=p.char_script_fraction,
        )

    def setup(self) -> None:
        """Draw the permutation parameters and build the normalisation tables, once per worker."""
        from dataforge.text.normalize import tables

        p: MinHashParams = self.params  # type: ignore[assignment]
        self._spec_cache = self._spec()
        self._a, self._b = permutations(p.num_perm, p.seed, p.scheme)
        tables(p.unicode_form, p.lowercase, p.strip_punctuation)

    def field(self) -> pa.Field:
        """The ``minhash`` column's field, with the parameters that made it as metadata."""
        p: MinHashParams = self.params  # type: ignore[assignment]
        value = pa.uint64() if p.scheme == "affine64" else pa.uint32()
        meta = {k: getattr(p, k) for k in ("num_perm", "seed", "scheme", "hash", "ngram", "char_ngram")}
        return pa.field("minhash", pa.list_(value, p.num_perm), metadata={"dataforge": json.dumps(meta)})

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Compute the signatures of the ``text`` column."""
        self.ensure_setup()
        p: MinHashParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        text = batch.column("text") if "text" in batch.column_names else pa.nulls(n, pa.string())
        language = batch.column("language") if "language" in batch.column_names else None
        bits = 64 if p.scheme == "affine64" else 32
        sigs, counts = [], []
        for lo, hi in _chunks(text):
            sh = shingle_hashes(text.slice(lo, hi - lo), None if language is None else language.slice(lo, hi - lo),
                                self._spec_cache, hash=p.hash, bits=bits)
            sigs.append(signatures(sh.hashes, sh.offsets, self._a, self._b, p.scheme))
            counts.append(sh.counts)
        sig = np.concatenate(sigs) if sigs else np.zeros((0, p.num_perm), dtype=VALUE_TYPE[p.scheme])
        field = self.field()
        values = pa.array(sig.reshape(-1), type=field.type.value_type)
        minhash = pa.FixedSizeListArray.from_arrays(values, p.num_perm)
        shingles = pa.array(np.concatenate(counts).astype(np.int32) if counts else np.zeros(0, np.int32), pa.int32())
        for col_field, col in ((field, minhash), (pa.field("minhash_shingles", pa.int32()), shingles)):
            if col_field.name in batch.column_names:
                batch = batch.set_column(batch.column_names.index(col_field.name), col_field, col)
            else:
                batch = batch.append_column(col_field, col)
        return batch
