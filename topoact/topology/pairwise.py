"""Blockwise float32 distances: rows of the distance matrix without ever holding N x N.

``euclidean`` is the usual L2 distance (points are centred first, which keeps the float32
expansion ``|x|^2 + |y|^2 - 2 x.y`` accurate); ``cosine`` is ``1 - cos`` as in scikit-learn and
ripser, computed on L2-normalised rows (zero rows raise ValueError).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ._validation import check_metric


def prepare(X: np.ndarray, metric: str, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Return (Y, sq): the transformed points (``dtype``, float32 by default) and their squared
    norms (float64)."""
    check_metric(metric)
    X = np.asarray(X, dtype=dtype)
    if metric == "cosine":
        norms = np.linalg.norm(X.astype(np.float64), axis=1)
        if (norms == 0).any():
            raise ValueError(f"cosine distance is undefined for {int((norms == 0).sum())} "
                             "all-zero vectors; use metric='euclidean' or drop them")
        Y = (X / norms[:, None]).astype(dtype)
    else:
        Y = (X - X.mean(axis=0, dtype=np.float64)).astype(dtype)
    sq = np.einsum("ij,ij->i", Y.astype(np.float64), Y.astype(np.float64))
    return Y, sq


def distances_to(Y: np.ndarray, sq: np.ndarray, rows, metric: str) -> np.ndarray:
    """Distances from ``Y[rows]`` to all points, float32 array of shape (len(rows), n)."""
    rows = np.atleast_1d(rows)
    G = Y[rows] @ Y.T
    if metric == "cosine":
        d = 1.0 - G
        np.maximum(d, 0.0, out=d)
        return d if Y.dtype == np.float64 else d.astype(np.float32, copy=False)
    d2 = sq[rows, None].astype(Y.dtype) + sq[None, :].astype(Y.dtype) - 2.0 * G
    np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2, out=d2)


def iter_blocks(Y: np.ndarray, sq: np.ndarray, metric: str,
                block: int = 1024) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, D[start:start+block])`` over all rows."""
    n = Y.shape[0]
    for start in range(0, n, block):
        yield start, distances_to(Y, sq, np.arange(start, min(n, start + block)), metric)


def enclosing_radius(Y, sq, metric: str, block: int = 1024) -> float:
    """min_i max_j d(i, j): beyond it the Rips complex is a cone (contractible)."""
    best = np.inf
    for _, D in iter_blocks(Y, sq, metric, block):
        best = min(best, float(D.max(axis=1).min()))
    return best
