"""Input checks shared by the topology modules: finite 2-D float arrays, known metrics.

``Cancelled`` is :class:`topoact.progress.Cancelled` (the one cancel exception of the library),
re-exported here under its old import path.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..progress import Cancelled, CancelFn, check_cancelled

__all__ = ["METRICS", "Cancelled", "check_points", "check_metric", "check_cancel"]

METRICS = ("euclidean", "cosine")


def check_points(X: np.ndarray, *, name: str = "X", min_points: int = 2,
                 chunk: int = 65536) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 array of shape (n, d) or raise ValueError.

    Rejects non-2-D input, fewer than ``min_points`` rows, NaN / inf values (naming how many
    rows contain them) and point clouds whose points are all identical. A float32 C-contiguous
    input (a memory-mapped layer) is returned without a copy and checked in row chunks of
    ``chunk`` rows, so no full-size temporary is made.

    Parameters
    ----------
    X : array-like of shape (n, d)
    name : str
        Name used in the error messages.
    min_points : int
        Fewest rows accepted.
    chunk : int
        Rows per finiteness check.

    Returns
    -------
    ndarray of float32, shape (n, d)
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_points, n_features), got shape {X.shape}")
    if X.shape[0] < min_points:
        raise ValueError(f"{name} has {X.shape[0]} points; at least {min_points} are needed")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {X.shape})")
    X = np.ascontiguousarray(X, dtype=np.float32)
    bad_rows = n_nan = n_inf = 0
    for start in range(0, X.shape[0], chunk):
        block = X[start:start + chunk]
        finite = np.isfinite(block)
        if not finite.all():
            bad_rows += int((~finite).any(axis=1).sum())
            nan = int(np.isnan(block).sum())
            n_nan += nan
            n_inf += int((~finite).sum()) - nan
    if bad_rows:
        raise ValueError(
            f"{name} contains non-finite values: {n_nan} NaN and {n_inf} "
            f"inf entries in {bad_rows} of {X.shape[0]} rows; drop or impute them first"
        )
    if np.ptp(X, axis=0).max() == 0:
        raise ValueError(f"{name} is constant: all {X.shape[0]} points are identical, "
                         "so it has no topology to measure")
    return X


def check_metric(metric: str) -> str:
    """Return ``metric`` when it is a point metric topology supports, else raise ValueError."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    return metric


def check_cancel(should_cancel: Optional[CancelFn]) -> None:
    """Raise :class:`~topoact.progress.Cancelled` when ``should_cancel()`` answers True."""
    check_cancelled(should_cancel, "persistence computation")
