"""Combine the per-kind scores into one table: flags from thresholds, one reason per image.

Input is the column dict the finder computes and caches (:mod:`.finder`); output is the pandas
DataFrame :func:`topoact.anomalies` returns, one row per image, sorted by ``label_issue``
descending. Thresholds are applied here (not cached), so changing one is instant.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .outliers import rank01
from .params import resolve_thresholds

__all__ = ["build_table", "outlier_reasons", "duplicate_reasons", "FRONT_COLUMNS"]

#: the CLI contract: these columns first, in this order
FRONT_COLUMNS = ["row", "id", "path", "label", "prediction", "label_issue", "outlier", "duplicate_of",
                 "reason"]


def outlier_reasons(per_layer: Mapping[str, np.ndarray], score: np.ndarray, logit_score: np.ndarray,
                    logit_name: str) -> list[str]:
    """Why an image is unusual, for every row.

    ``per_layer`` maps layer -> (N,) Mahalanobis percentile ranks; the most unusual layer is
    named ("less typical of its class in layer1 than 99% of the run"), or the logit score when
    that ranks higher ("the model recognises no class: energy higher than 98% of the run").
    """
    names = list(per_layer)
    logit_rank = rank01(np.asarray(logit_score, np.float64))
    out = []
    ranks = np.vstack([per_layer[name] for name in names]) if names else np.zeros((0, len(score)))
    for i in range(len(score)):
        best = int(np.nanargmax(ranks[:, i])) if names else -1
        layer_rank = ranks[best, i] if names else -1.0
        if np.isfinite(logit_rank[i]) and logit_rank[i] > layer_rank:
            out.append(f"the model recognises no class well: {logit_name} higher than {logit_rank[i]:.0%} of the run")
        elif names:
            out.append(f"less typical of any class in {names[best]} than {layer_rank:.0%} of the run "
                       "(Mahalanobis distance)")
        else:
            out.append(f"more unusual than {score[i]:.0%} of the run")
    return out


def duplicate_reasons(duplicate_of: np.ndarray, exact: np.ndarray, score: np.ndarray,
                      layer: str) -> list[str]:
    """"exact copy of row 12 (same pixels)" / "near-duplicate of row 12 (cosine 0.998 in layer3)"."""
    out = []
    for of, ex, s in zip(duplicate_of, exact, score):
        if of < 0:
            out.append("")
        elif ex:
            out.append(f"exact copy of row {int(of)} (same pixels)")
        else:
            out.append(f"near-duplicate of row {int(of)} (cosine {s:.3f} in {layer})")
    return out


def build_table(columns: Mapping[str, Sequence], class_names: Sequence[str] | Mapping[str, Sequence[str]],
                thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The anomaly table from the cached column dict.

    Parameters
    ----------
    columns : {name: (N,) sequence} with at least ``row, id, path, label_index,
        prediction_index, label_issue, outlier, duplicate, duplicate_of`` and the per-kind
        reasons ``reason_label, reason_outlier, reason_duplicate, reason_topology``
    class_names : names of the class indices, or ``{"label": names, "prediction": names}`` when
        labels and predictions index different classes (a data set not matched onto the model)
    thresholds : per-kind overrides of :data:`~topoact.anomaly.params.DEFAULT_THRESHOLDS`

    Returns
    -------
    DataFrame sorted by ``label_issue`` descending (ties by row), :data:`FRONT_COLUMNS` first,
    then the flags ``is_label_issue, is_outlier, is_duplicate`` and the detail scores
    """
    limits = resolve_thresholds(thresholds)
    df = pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})

    names = class_names if isinstance(class_names, Mapping) else {"label": class_names, "prediction": class_names}

    def name(c, which):
        return names[which][c] if 0 <= c < len(names[which]) else (str(c) if c >= 0 else "")

    df["label"] = [name(int(c), "label") for c in df["label_index"]]
    df["prediction"] = [name(int(c), "prediction") for c in df["prediction_index"]]
    df["duplicate_of"] = pd.array(np.where(df["duplicate_of"] >= 0, df["duplicate_of"], 0), dtype="Int64")
    df.loc[np.asarray(columns["duplicate_of"]) < 0, "duplicate_of"] = pd.NA
    df["is_label_issue"] = df["label_issue"] >= limits["label_issue"]
    df["is_outlier"] = df["outlier"] >= limits["outlier"]
    df["is_duplicate"] = df["duplicate"] >= limits["duplicate"]
    reasons = []
    for lab, out, dup, topo, f_lab, f_out, f_dup in zip(
            df["reason_label"], df["reason_outlier"], df["reason_duplicate"], df["reason_topology"],
            df["is_label_issue"], df["is_outlier"], df["is_duplicate"]):
        parts = [text for text, flag in ((lab, f_lab), (out, f_out), (dup, f_dup)) if flag and text]
        if not parts:
            parts = ["no issue above the thresholds" + (f": {lab}" if lab else "")]
        if topo:
            parts.append(topo)
        reasons.append("; ".join(parts))
    df["reason"] = reasons
    rest = [c for c in df.columns if c not in FRONT_COLUMNS and not c.startswith("reason_")]
    df = df[FRONT_COLUMNS + rest]
    order = np.lexsort((df["row"].to_numpy(), -df["label_issue"].to_numpy()))
    return df.iloc[order].reset_index(drop=True)
