"""Base classes shared by the rule families: a signals annotator and a threshold filter over its columns.

Each family is two stages. ``<family>_signals_v1`` (a :class:`SignalAnnotator`) writes one column
per signal; ``<family>_filter_v1`` (a :class:`ThresholdFilter`) compares those columns with its
thresholds, first failing rule wins, one drop reason per rule. When the columns are missing
the filter computes them itself (``Filter.annotate``), so a pipeline may use the filter alone;
when they are present (from an earlier signals stage or a previous run) it only re-thresholds.
A threshold set to ``null`` turns its rule off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.schema import with_columns
from dataforge.stage import Annotator, Filter, StageParams

from .words import UNSEGMENTED_LANGUAGES, normalize_language


class LanguageParams(StageParams):
    """How a family learns each document's language (for languages written without spaces)."""

    language_column: str | None = Field(
        "language", description="column with the document language; null or absent: every document is split "
        "like English (datatrove's default)")
    unsegmented_languages: list[str] = Field(
        default_factory=lambda: list(UNSEGMENTED_LANGUAGES),
        description="languages written without spaces: their CJK/Thai-script characters count as one word each")


class SignalAnnotator(Annotator):
    """Base of the ``<family>_signals_v1`` stages: compute the family's signals as columns."""

    Params: ClassVar[type[LanguageParams]] = LanguageParams
    batch_size = 1000
    #: The filter stage this annotator works for, if any (named in error messages).
    owner: str | None = None

    def columns(self) -> dict[str, pa.DataType]:
        """Signal column names and types this stage writes (may depend on parameters)."""
        raise NotImplementedError

    def compute(self, batch: pa.Table) -> dict[str, Any]:
        """One array (or NumPy array, or list) per signal column, for a non-empty batch."""
        raise NotImplementedError

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Add (or replace) the signal columns."""
        types = self.columns()
        if batch.num_rows == 0 or "text" not in batch.column_names:
            values: dict[str, Any] = {name: pa.nulls(batch.num_rows, t) for name, t in types.items()}
        else:
            values = self.compute(batch)
        for name, typ in types.items():
            col = values[name]
            arr = col if isinstance(col, (pa.Array, pa.ChunkedArray)) else pa.array(col, typ)
            if arr.type != typ:
                arr = arr.cast(typ)
            batch = with_columns(batch, {name: arr})
        return batch

    def text(self, batch: pa.Table) -> pa.ChunkedArray:
        """The text column with nulls read as empty strings."""
        return pc.fill_null(batch.column("text"), "")

    def unsegmented(self, batch: pa.Table) -> np.ndarray | None:
        """Per row, whether the document's language is written without spaces (None: no row is)."""
        p: LanguageParams = self.params  # type: ignore[assignment]
        if not p.language_column or p.language_column not in batch.column_names or not p.unsegmented_languages:
            return None
        langs = set(p.unsegmented_languages)
        col = batch.column(p.language_column).to_pylist()
        mask = np.fromiter((normalize_language(x) in langs for x in col), dtype=bool, count=len(col))
        return mask if mask.any() else None


@dataclass(frozen=True)
class Rule:
    """One threshold rule: drop with ``reason`` when ``column`` is ``op`` the threshold.

    The threshold is the filter parameter ``param`` (null turns the rule off) or, without a
    parameter, the constant ``value``.
    """

    reason: str
    column: str
    op: Literal["lt", "gt"]
    param: str | None = None
    value: float | None = None


class ThresholdFilter(Filter):
    """Base of the ``<family>_filter_v1`` stages: thresholds over a signals annotator's columns."""

    #: The family's signals stage; the filter's Params must include all of its parameters.
    Signals: ClassVar[type[SignalAnnotator]]
    batch_size = 1000

    def rules(self) -> list[Rule]:
        """The rules in the order they are checked (the first failing one names the drop reason)."""
        raise NotImplementedError

    def signal_params(self) -> dict[str, Any]:
        """Parameters of the signals stage: those of this filter's parameters it has."""
        fields = self.Signals.Params.model_fields
        return {k: v for k, v in self.params.model_dump().items() if k in fields}

    def setup(self) -> None:
        """Build the signals stage with this filter's signal parameters."""
        self._signals = self.Signals(self.signal_params())
        self._signals.owner = self.name
        self._signals.ensure_setup()

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Compute the signal columns unless they are all present already (or ``recompute`` is set)."""
        if not hasattr(self, "_signals"):
            self.setup()
        needed = self._signals.columns()
        if getattr(self.params, "recompute", False) or not all(c in batch.column_names for c in needed):
            return self._signals.annotate(batch)
        return batch

    def rule_mask(self, rule: Rule, values: pa.ChunkedArray, threshold: float) -> pa.ChunkedArray:
        """Rows the rule drops; subclasses refine a rule here (e.g. an exemption)."""
        return pc.less(values, threshold) if rule.op == "lt" else pc.greater(values, threshold)

    def reasons(self, batch: pa.Table) -> tuple[pa.Array, list[str | None]]:
        """First failing rule per row, and a detail naming the signal value and the threshold."""
        n = batch.num_rows
        reason = pa.nulls(n, pa.string())
        if n == 0:
            return reason, []
        which = np.full(n, -1, dtype=np.int64)
        active = []
        for rule in self.rules():
            threshold = getattr(self.params, rule.param) if rule.param else rule.value
            if threshold is not None:
                active.append((rule, threshold))
        for k in range(len(active) - 1, -1, -1):  # the first rule in the list wins
            rule, threshold = active[k]
            mask = pc.fill_null(self.rule_mask(rule, batch.column(rule.column), threshold), False)
            m = mask.to_numpy(zero_copy_only=False)
            which[m] = k
        dropped = np.flatnonzero(which >= 0)
        if len(dropped) == 0:
            return reason, [None] * n
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        for i in dropped.tolist():
            rule, threshold = active[which[i]]
            value = batch.column(rule.column)[i].as_py()
            reasons[i] = rule.reason
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            details[i] = f"{rule.column}={shown} {'<' if rule.op == 'lt' else '>'} {threshold:g}"
        return pa.array(reasons, pa.string()), details
