"""The anomaly table in the column names cleanlab and FiftyOne users know.

cleanlab (``Datalab.get_issues()``): its scores are *quality* scores (low = likely issue), ours
are suspicion scores (high = likely issue), so each score is ``1 - ours``:

=====================  ==============================  ===================================
cleanlab column        topoact column                  note
=====================  ==============================  ===================================
given_label            label
predicted_label        prediction
is_label_issue         is_label_issue
label_score            1 - label_issue
is_outlier_issue       is_outlier
outlier_score          1 - outlier
is_near_duplicate_issue  is_duplicate
near_duplicate_score   1 - duplicate
near_duplicate_sets    rows of the same duplicate group  list of row numbers
=====================  ==============================  ===================================

FiftyOne (``fiftyone.brain`` fields on samples): ``filepath`` = path, ``ground_truth`` = label,
``prediction`` = prediction, ``mistakenness`` = label_issue (both high = likely wrong),
``uniqueness`` = outlier (both high = unusual), plus ``duplicate_of`` and ``anomaly_reason``.
Load with ``fiftyone.Dataset.from_dict`` / ``add_samples`` keyed by ``filepath``.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["to_cleanlab", "to_fiftyone", "FORMATS"]


def _sets(df: pd.DataFrame) -> list[list[int]]:
    groups = {}
    if "duplicate_group" in df:
        for row, group in zip(df["row"], df["duplicate_group"]):
            if group >= 0:
                groups.setdefault(int(group), []).append(int(row))
    out = []
    for row, group in zip(df["row"], df.get("duplicate_group", [-1] * len(df))):
        out.append(sorted(r for r in groups.get(int(group), []) if r != row) if group >= 0 else [])
    return out


def to_cleanlab(df: pd.DataFrame) -> pd.DataFrame:
    """The table with Datalab's ``get_issues()`` column names and score direction (row order kept)."""
    return pd.DataFrame({
        "row": df["row"], "id": df["id"], "path": df["path"],
        "given_label": df["label"], "predicted_label": df["prediction"],
        "is_label_issue": df["is_label_issue"], "label_score": 1.0 - df["label_issue"],
        "is_outlier_issue": df["is_outlier"], "outlier_score": 1.0 - df["outlier"],
        "is_near_duplicate_issue": df["is_duplicate"], "near_duplicate_score": 1.0 - df["duplicate"],
        "near_duplicate_sets": _sets(df),
    })


def to_fiftyone(df: pd.DataFrame) -> pd.DataFrame:
    """The table with FiftyOne Brain's field names (row order kept)."""
    return pd.DataFrame({
        "filepath": df["path"], "id": df["id"], "row": df["row"],
        "ground_truth": df["label"], "prediction": df["prediction"],
        "mistakenness": df["label_issue"], "uniqueness": df["outlier"],
        "duplicate_of": df["duplicate_of"], "anomaly_reason": df["reason"],
    })


FORMATS = {"topoact": lambda df: df, "cleanlab": to_cleanlab, "fiftyone": to_fiftyone}
