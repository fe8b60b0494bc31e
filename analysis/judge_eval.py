"""How well a judge agrees with human labels: AUROC of its vote share with a bootstrap
interval, accuracy, precision, recall (Wilson intervals) and Cohen's kappa at its threshold,
a sweep of thresholds, and a calibration table (how often humans said yes at each level of
the judge's vote share).

The AUROC interval is a stratified percentile bootstrap (positives and negatives resampled
apart, 2,000 times, seed 0): with a hundred labelled items and vote shares that take few
values, it needs no normal approximation and is the same on every run.

Reads the per-item Parquet file that `mode=judge_eval` writes
(runs/<sweep>/judge_eval/<judge>.parquet: id, label, vote_share, votes, invalid_votes);
an item whose judge call failed has no vote share and is counted apart, never as a "no".
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.stats import wilson

ITEM_SCHEMA = pa.schema(
    [
        ("judge", pa.string()),
        ("id", pa.string()),
        ("label", pa.bool_()),
        ("vote_share", pa.float64()),
        ("votes", pa.int32()),
        ("invalid_votes", pa.int32()),
        ("threshold", pa.float64()),
    ]
)
SWEEP = [round(0.05 * i, 2) for i in range(1, 20)]
# The calibration table's bins of vote share: [low, high), the last one closed.
BINS = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0)]
RESAMPLES = 2000


def auroc(labels: list[bool], scores: list[float]) -> float | None:
    """The probability that a random positive scores above a random negative (ties half):
    the Mann-Whitney form of the area under the ROC curve. None without both classes."""
    return _auroc(*_by_label(labels, scores))


def _by_label(labels: list[bool], scores: list[float]) -> tuple[list[float], list[float]]:
    """(the positives' scores, the negatives' scores)."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    return positives, negatives


def _auroc(positives: list[float], negatives: list[float]) -> float | None:
    if not positives or not negatives:
        return None
    # By distinct score (vote shares take few values): negatives below and equal to each.
    below: Counter[float] = Counter(negatives)
    wins = 0.0
    for score, count in Counter(positives).items():
        lower = sum(n for value, n in below.items() if value < score)
        wins += count * (lower + 0.5 * below.get(score, 0))
    return wins / (len(positives) * len(negatives))


def auroc_interval(
    labels: list[bool], scores: list[float], resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float | None, float | None]:
    """The 95% stratified percentile bootstrap interval of the AUROC."""
    positives, negatives = _by_label(labels, scores)
    if not positives or not negatives:
        return None, None
    rng = random.Random(seed)
    values = sorted(
        _auroc(rng.choices(positives, k=len(positives)), rng.choices(negatives, k=len(negatives)))
        or 0.0
        for _ in range(resamples)
    )
    return values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]


def intervals(labels: list[bool], scores: list[float], threshold: float) -> dict[str, Any]:
    """Wilson intervals of accuracy, precision and recall at `threshold`, with the counts
    they rest on, and the AUROC's bootstrap interval."""
    tp, fp, fn, tn = confusion(labels, scores, threshold)
    out: dict[str, Any] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    for name, hits, n in (
        ("accuracy", tp + tn, len(labels)),
        ("precision", tp, tp + fp),
        ("recall", tp, tp + fn),
    ):
        out[f"{name}_low"], out[f"{name}_high"] = wilson(hits, n) if n else (None, None)
    out["auroc_low"], out["auroc_high"] = auroc_interval(labels, scores)
    return out


def calibration(items: pa.Table) -> pa.Table:
    """Per judge and bin of vote share: items, how many humans labelled yes, that share with
    its Wilson interval, and the judge's mean vote share in the bin. A calibrated judge's
    human share rises with its vote share."""
    out = []
    every = items.to_pylist()
    for judge in sorted({r["judge"] for r in every}):
        rows = [r for r in every if r["judge"] == judge and r["vote_share"] is not None]
        for low, high in BINS:
            inside = [
                r
                for r in rows
                if low <= r["vote_share"] < high or (high == 1.0 and r["vote_share"] == 1.0)
            ]
            if not inside:
                continue
            yes = sum(bool(r["label"]) for r in inside)
            share_low, share_high = wilson(yes, len(inside))
            out.append(
                {
                    "judge": judge,
                    "vote_share": f"[{low:.1f}, {high:.1f}{']' if high == 1.0 else ')'}",
                    "items": len(inside),
                    "human_yes": yes,
                    "human_share": yes / len(inside),
                    "human_low": share_low,
                    "human_high": share_high,
                    "mean_vote_share": sum(r["vote_share"] for r in inside) / len(inside),
                }
            )
    return pa.Table.from_pylist(out)


def confusion(
    labels: list[bool], scores: list[float], threshold: float
) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, true negatives) of
    `score >= threshold` against the labels."""
    said = [s >= threshold for s in scores]
    tp = sum(a and y for a, y in zip(said, labels, strict=True))
    tn = sum(not a and not y for a, y in zip(said, labels, strict=True))
    return tp, sum(said) - tp, len(labels) - sum(said) - tn, tn


def at_threshold(labels: list[bool], scores: list[float], threshold: float) -> dict[str, Any]:
    """Accuracy, precision, recall and Cohen's kappa of `score >= threshold` against labels."""
    tp, fp, fn, tn = confusion(labels, scores, threshold)
    n = len(labels)
    accuracy = (tp + tn) / n if n else None
    # Kappa: agreement beyond what the two label rates would give by chance.
    chance = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n) if n else 0.0
    kappa = (accuracy - chance) / (1 - chance) if accuracy is not None and chance < 1 else None
    return {
        "threshold": threshold,
        "accuracy": accuracy,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "kappa": kappa,
    }


def judge_metrics(items: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(one summary row per judge, the threshold sweep per judge)."""
    summary, sweep = [], []
    every = items.to_pylist()
    for judge in sorted({r["judge"] for r in every}):
        rows = [r for r in every if r["judge"] == judge]
        scored = [r for r in rows if r["vote_share"] is not None]
        labels = [bool(r["label"]) for r in scored]
        scores = [float(r["vote_share"]) for r in scored]
        threshold = rows[0]["threshold"]
        summary.append(
            {
                "judge": judge,
                "items": len(rows),
                "positives": sum(labels),
                "failed": len(rows) - len(scored),
                "invalid_votes": sum(r["invalid_votes"] or 0 for r in rows),
                "auroc": auroc(labels, scores),
                **at_threshold(labels, scores, threshold),
                **intervals(labels, scores, threshold),
            }
        )
        sweep += [{"judge": judge, **at_threshold(labels, scores, t)} for t in SWEEP]
    return pa.Table.from_pylist(summary), pa.Table.from_pylist(sweep)


def printed(summary: pa.Table) -> pa.Table:
    """The summary as printed: each value with its 95% interval beside it."""

    def ci(row: dict[str, Any], name: str) -> str:
        low, high = row.get(f"{name}_low"), row.get(f"{name}_high")
        return "-" if low is None or high is None else f"[{low:.2f},{high:.2f}]"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return pa.Table.from_pylist(
        [
            {
                "judge": r["judge"],
                "items": r["items"],
                "positives": r["positives"],
                "failed": r["failed"],
                "auroc": num(r["auroc"]),
                "auroc_95ci": ci(r, "auroc"),
                "threshold": r["threshold"],
                "accuracy": num(r["accuracy"]),
                "accuracy_95ci": ci(r, "accuracy"),
                "precision": num(r["precision"]),
                "precision_95ci": ci(r, "precision"),
                "recall": num(r["recall"]),
                "recall_95ci": ci(r, "recall"),
                "kappa": num(r["kappa"]),
            }
            for r in summary.to_pylist()
        ]
    )


def read_items(folder: Path) -> pa.Table | None:
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f, schema=ITEM_SCHEMA) for f in files])
