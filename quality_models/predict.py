"""Load a fastText classifier and turn one batched ``predict(k=-1)`` into a label-probability matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

#: fastText's label prefix.
PREFIX = "__label__"


def load_fasttext(path: str, who: str = "fastText") -> Any:
    """Load a fastText model file (.bin or .ftz) with the full ``fasttext`` module, quietly."""
    try:
        import fasttext
    except ImportError as exc:
        raise ImportError(f"{who}: the fasttext module is missing ({exc}); `pip install fasttext-numpy2-wheel` "
                          "(or `pip install dataforge[quality]`)") from None
    if not hasattr(fasttext, "train_supervised"):
        raise ImportError(f"{who}: the installed `fasttext` module is the prediction-only one from fasttext-predict; "
                          "`pip install --force-reinstall fasttext-numpy2-wheel` restores the full module")
    if hasattr(fasttext, "FastText") and hasattr(fasttext.FastText, "eprint"):
        fasttext.FastText.eprint = lambda *args, **kwargs: None  # load_model()'s deprecation notice
    return fasttext.load_model(path)


def model_labels(model: Any) -> list[str]:
    """The model's labels without the ``__label__`` prefix, in the model's own order."""
    return [lab.removeprefix(PREFIX) for lab in model.get_labels()]


def label_probabilities(model: Any, texts: list[str], labels: list[str]) -> np.ndarray:
    """Probabilities of ``labels`` for each single-line text, as an (n, len(labels)) float32 matrix.

    One batched ``model.predict(texts, k=-1)``; fastText returns each row's labels sorted by
    probability, which is scattered back into label order with a vectorised lookup. fastText adds
    1e-5 to every probability before returning it (``std_log``), so a two-label row sums to
    1.00002; the values are kept as fastText returns them, which is what published thresholds
    (DCLM, datatrove) were set on.
    """
    n, k = len(texts), len(labels)
    out = np.zeros((n, k), dtype=np.float32)
    if n == 0 or k == 0:
        return out
    all_labels, all_probs = model.predict(texts, k=-1)
    names = np.array([PREFIX + lab for lab in labels])
    order = np.argsort(names)
    sorted_names = names[order]
    widths = {len(row) for row in all_labels}
    if len(widths) == 1:  # every row has every label (k=-1, threshold 0): fully vectorised
        lab = np.array(all_labels)
        prob = np.vstack(all_probs).astype(np.float32)
        pos = np.searchsorted(sorted_names, lab)
        pos = np.clip(pos, 0, len(sorted_names) - 1)
        hit = sorted_names[pos] == lab
        col = order[pos]
        rows = np.broadcast_to(np.arange(n)[:, None], lab.shape)
        out[rows[hit], col[hit]] = prob[hit]
        return out
    index = {name: j for j, name in enumerate(names)}
    for i, (row_l, row_p) in enumerate(zip(all_labels, all_probs)):
        for name, p in zip(row_l, row_p):
            j = index.get(name)
            if j is not None:
                out[i, j] = p
    return out
