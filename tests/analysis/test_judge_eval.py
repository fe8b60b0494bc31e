"""Judge validation statistics against values computed by hand."""

from __future__ import annotations

import pyarrow as pa
import pytest

from analysis.judge_eval import (
    ITEM_SCHEMA,
    at_threshold,
    auroc,
    auroc_interval,
    calibration,
    intervals,
    judge_metrics,
)
from analysis.stats import wilson


def test_auroc_by_hand() -> None:
    # Positive-negative pairs: 0.9>0.4, 0.9>0.1, 0.4=0.4 (half), 0.4>0.1: 3.5 of 4.
    assert auroc([True, True, False, False], [0.9, 0.4, 0.4, 0.1]) == pytest.approx(0.875)
    assert auroc([True, True], [0.1, 0.2]) is None  # one class: undefined


def test_agreement_at_the_threshold_by_hand() -> None:
    got = at_threshold([True, True, False, False], [0.9, 0.4, 0.4, 0.1], threshold=0.4)
    # said yes to 3: tp 2, fp 1, tn 1, fn 0; chance agreement (3*2 + 1*2) / 16 = 0.5.
    assert got == {
        "threshold": 0.4,
        "accuracy": 0.75,
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "kappa": pytest.approx(0.5),
    }


def test_failed_items_are_counted_not_scored() -> None:
    items = pa.Table.from_pylist(
        [
            {"judge": "j", "id": "a", "label": True, "vote_share": 1.0, "threshold": 0.5},
            {"judge": "j", "id": "b", "label": False, "vote_share": 0.0, "threshold": 0.5},
            {"judge": "j", "id": "c", "label": True, "vote_share": None, "threshold": 0.5},
        ],
        schema=ITEM_SCHEMA,
    )
    summary, sweep = judge_metrics(items)
    (row,) = summary.to_pylist()
    assert (row["items"], row["failed"], row["auroc"], row["accuracy"]) == (3, 1, 1.0, 1.0)
    assert sweep.num_rows == 19


def test_the_auroc_interval_is_a_stratified_bootstrap() -> None:
    labels = [True] * 5 + [False] * 5
    # Perfectly separated: every resample of positives and negatives is separated too.
    assert auroc_interval(labels, [0.9] * 5 + [0.1] * 5) == (1.0, 1.0)
    # Overlapping scores: the interval holds the point value and is the same each time.
    scores = [0.9, 0.8, 0.6, 0.4, 0.2, 0.7, 0.5, 0.3, 0.1, 0.0]
    low, high = auroc_interval(labels, scores)
    assert low is not None and high is not None
    # positives beat 5, 5, 4, 3 and 2 of the 5 negatives: 19 of 25
    assert auroc(labels, scores) == pytest.approx(0.76) and low < 0.76 < high
    assert auroc_interval(labels, scores) == (low, high)
    assert auroc_interval([True, True], [0.1, 0.2]) == (None, None)


def test_intervals_rest_on_the_confusion_counts() -> None:
    got = intervals([True, True, False, False], [0.9, 0.4, 0.4, 0.1], threshold=0.4)
    assert (got["tp"], got["fp"], got["fn"], got["tn"]) == (2, 1, 0, 1)
    assert (got["accuracy_low"], got["accuracy_high"]) == wilson(3, 4)
    assert (got["precision_low"], got["precision_high"]) == wilson(2, 3)
    assert (got["recall_low"], got["recall_high"]) == wilson(2, 2)


def test_the_calibration_table_by_hand() -> None:
    shares = [0.0, 0.1, 0.3, 0.5, 0.5, 1.0, 1.0]
    labels = [False, False, True, False, True, True, True]
    items = pa.Table.from_pylist(
        [
            {"judge": "j", "id": str(i), "label": y, "vote_share": s, "threshold": 0.4}
            for i, (s, y) in enumerate(zip(shares, labels, strict=True))
        ],
        schema=ITEM_SCHEMA,
    )
    rows = calibration(items).to_pylist()
    assert [(r["vote_share"], r["items"], r["human_yes"]) for r in rows] == [
        ("[0.0, 0.2)", 2, 0),
        ("[0.2, 0.4)", 1, 1),
        ("[0.4, 0.6)", 2, 1),
        ("[0.8, 1.0]", 2, 2),  # 1.0 falls in the last, closed bin; [0.6, 0.8) is empty
    ]
    assert rows[2]["mean_vote_share"] == 0.5 and rows[2]["human_share"] == 0.5
