"""Render a quality model's card (the dict ``train`` writes as card.json) as markdown."""

from __future__ import annotations

from typing import Any

from dataforge.quality_models.metrics import REPORT_PERCENTILES

#: Limits every card states, whatever the data: what held-out figures can and cannot say.
GENERIC_LIMITS = (
    "- Held-out documents come from the same sources as the training documents, so the figures say how well "
    "the model separates *these* sources, not how well it judges quality in general.\n"
    "- Held-out classes are balanced: precision at the threshold assumes as many negatives as positives. On a "
    "crawl where most documents are negative, precision is lower; choose thresholds from the score "
    "distribution of your own data (`dataforge stats RUN --signals`).\n"
    "- fastText sees a bag of words and word bigrams: it judges vocabulary and style, not facts, coherence or "
    "safety.\n"
)


def _f(x: Any, digits: int = 4) -> str:
    """A number for a table cell."""
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def render_card(card: dict[str, Any]) -> str:
    """The markdown card of a trained model."""
    ref = f"{card['name']}@{card['version']}"
    pos, neg = card["labels"]["positive"], card["labels"]["negative"]
    m = card["heldout_metrics"]["model"]
    t = m["at_threshold"]
    lines = [f"# Quality model `{ref}`", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    lines += [
        "| file | sha256 | bytes | fastText |",
        "| --- | --- | ---: | --- |",
        f"| `{card['file']}` | `{card['sha256']}` | {card['bytes']:,} | {card['fasttext']} |",
        "",
        "## Labels and input",
        "",
        f"`__label__{pos}` = keep (positive), `__label__{neg}` = negative. `fasttext_classify_v1` writes "
        f"`quality_{pos}` and `quality_{neg}` (probabilities; fastText adds 1e-5 to each).",
        f"Text is scored as one line: line breaks become spaces (DCLM's `' '.join(text.splitlines())`), "
        f"lowercase: {card['preprocess']['lowercase']}, "
        + (f"first {card['preprocess']['max_chars']:,} characters." if card["preprocess"]["max_chars"] else "whole text."),
        "",
        "## Held-out evaluation",
        "",
        f"{m['documents']['positive']:,} positive and {m['documents']['negative']:,} negative held-out documents "
        f"(`{m['file']}`).",
        "",
        "| metric | value |",
        "| --- | ---: |",
        f"| ROC AUC | {_f(m['auc'])} |",
        f"| threshold on `quality_{pos}` | {_f(t['threshold'], 3)} |",
        f"| precision at threshold | {_f(t['precision'])} |",
        f"| recall at threshold | {_f(t['recall'])} |",
        f"| F1 at threshold | {_f(t['f1'])} |",
        f"| accuracy at threshold | {_f(t['accuracy'])} |",
        f"| threshold's percentile (held-out documents scoring below it) | {_f(m['threshold_percentile'], 1)}% |",
    ]
    best = m.get("best_f1")
    if best:
        lines.append(f"| best F1 on held-out (threshold {_f(best['threshold'], 3)}) | {_f(best['f1'])} |")
    unq = card["heldout_metrics"].get("unquantized")
    if unq:
        lines += ["", f"Before quantization (`{unq['file']}`): AUC {_f(unq['auc'])}, F1 at threshold "
                      f"{_f(unq['at_threshold']['f1'])}."]
    lines += ["", f"### Distribution of `quality_{pos}` on held-out documents", "",
              "| | " + " | ".join(f"p{p}" for p in REPORT_PERCENTILES) + " |",
              "| --- |" + " ---: |" * len(REPORT_PERCENTILES)]
    for label, key in (("all", "score_percentiles"), ("positive", "score_percentiles_positive"),
                       ("negative", "score_percentiles_negative")):
        q = m.get(key) or {}
        lines.append(f"| {label} | " + " | ".join(_f(q.get(f"p{p}"), 3) for p in REPORT_PERCENTILES) + " |")
    lines += ["", "## Data", "", "| class | source | format | files | documents | unreadable | other reasons skipped |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for cls in ("positive", "negative"):
        for r in card["sources"][cls]:
            lines.append(f"| {cls} | `{r['path']}` | {r['format']} | {r['files']:,} | {r['documents']:,} | "
                         f"{r['quarantined']:,} | {r['skipped_by_reason']:,} |")
    d = card["data"]
    lines += [
        "",
        "| step | positive | negative |",
        "| --- | ---: | ---: |",
        f"| read | {d['read']['positive']:,} | {d['read']['negative']:,} |",
        f"| too short after preprocessing | {d['too_short']['positive']:,} | {d['too_short']['negative']:,} |",
        f"| exact duplicates within the class | {d['duplicates_positive']:,} | {d['duplicates_negative']:,} |",
        f"| text in both classes (dropped from both) | {d['in_both_classes']:,} | {d['in_both_classes']:,} |",
        f"| train before balancing | {d['before_balance']['train']['positive']:,} | "
        f"{d['before_balance']['train']['negative']:,} |",
        f"| **train** | {d['train']['positive']:,} | {d['train']['negative']:,} |",
        f"| held-out before balancing | {d['before_balance']['heldout']['positive']:,} | "
        f"{d['before_balance']['heldout']['negative']:,} |",
        f"| **held-out** | {d['heldout']['positive']:,} | {d['heldout']['negative']:,} |",
        "",
        f"Split: {card['split']['rule']} (held-out share {card['split']['heldout']}, seed {card['split']['seed']}).",
    ]
    training = "fastText supervised: " + ", ".join(f"`{k}={v}`" for k, v in card["hyperparameters"].items())
    if card.get("quantization"):
        training += "; quantized: " + ", ".join(f"`{k}={v}`" for k, v in card["quantization"].items())
    lines += ["", "## Training", "", training + "."]
    lines += ["", "## Limits of held-out figures", "", GENERIC_LIMITS.rstrip()]
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"].strip()]
    lines += [
        "",
        "## Use",
        "",
        "```yaml",
        "- stage: fasttext_classify_v1",
        f"  params: {{model: \"{ref}\"" + (f", manifest: {card['manifest']}" if card.get("manifest") else "") + "}",
        "- stage: score_filter_v1",
        f"  params: {{column: quality_{pos}, threshold: {card['threshold']}}}",
        "```",
    ]
    if card.get("command"):
        lines += ["", "## Reproduce", "", "```", card["command"], "```"]
    return "\n".join(lines) + "\n"
