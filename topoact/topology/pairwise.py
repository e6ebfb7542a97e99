"""Blockwise float32 distances: rows of the distance matrix without ever holding N x N.

``euclidean`` is the usual L2 distance (points are centred first, which keeps the float32
expansion ``|x|^2 + |y|^2 - 2 x.y`` accurate); ``cosine`` is ``1 - cos`` as in scikit-learn and
ripser, computed on L2-normalised rows (zero rows raise ValueError).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._validation import check_metric


def prepare(X: np.ndarray, metric: str, dtype: DTypeLike = np.float32,
            chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The transformed points and their squared norms, built in row chunks.

    Parameters
    ----------
    X : array of shape (n, d)
        Points (a memory map is read chunk by chunk).
    metric : {'euclidean', 'cosine'}
        Euclidean points are centred (the float64 column mean, subtracted in float64, then
        rounded once to ``dtype``); cosine points are divided by their float64 norms.
    dtype : numpy dtype
        Of the returned points (float32 by default).
    chunk : int, optional
        Rows per step (default: 2^22 values, 32 MB of float64, per step): the only temporaries
        are float64 blocks of ``chunk`` rows; the result equals the one-shot computation
        element for element.

    Returns
    -------
    Y : ndarray of ``dtype``, shape (n, d)
    sq : ndarray of float64, shape (n,)
        Squared norms of the rows of ``Y`` (computed in float64).
    """
    check_metric(metric)
    X = np.asarray(X)
    n = X.shape[0]
    if chunk is None:
        chunk = max(1, (1 << 22) // max(int(np.prod(X.shape[1:])), 1))
    Y = np.empty(X.shape, dtype=dtype)
    sq = np.empty(n, np.float64)
    if metric == "euclidean":                       # the mean of the points as ``dtype`` rounds them
        mean = (X if X.dtype == dtype else X.astype(dtype)).mean(axis=0, dtype=np.float64)
    for s in range(0, n, chunk):
        block = np.asarray(X[s:s + chunk], dtype=dtype)
        if metric == "cosine":
            norms = np.linalg.norm(block.astype(np.float64), axis=1)
            if (norms == 0).any():
                zero = int((np.linalg.norm(np.asarray(X, np.float64), axis=1) == 0).sum())
                raise ValueError(f"cosine distance is undefined for {zero} all-zero vectors; "
                                 "use metric='euclidean' or drop them")
            Y[s:s + chunk] = block / norms[:, None]
        else:
            Y[s:s + chunk] = block - mean
        Y64 = Y[s:s + chunk].astype(np.float64)
        sq[s:s + chunk] = np.einsum("ij,ij->i", Y64, Y64)
    return Y, sq


def distances_to(Y: np.ndarray, sq: np.ndarray, rows: ArrayLike, metric: str) -> np.ndarray:
    """Distances from some points to all points.

    Parameters
    ----------
    Y : ndarray (n, d) and sq : ndarray (n,)
        Points and squared norms from :func:`prepare`.
    rows : array-like of int, shape (r,)
        The points whose distances are wanted.
    metric : {'euclidean', 'cosine'}

    Returns
    -------
    ndarray of shape (r, n)
        float32 (float64 when ``Y`` is float64).
    """
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
    """Row blocks of the distance matrix, never the whole matrix.

    Parameters
    ----------
    Y : ndarray (n, d) and sq : ndarray (n,)
        Points and squared norms from :func:`prepare`.
    metric : {'euclidean', 'cosine'}
    block : int
        Rows per block.

    Yields
    ------
    (int, ndarray of shape (b, n))
        ``(start, D[start:start + block])``.
    """
    n = Y.shape[0]
    for start in range(0, n, block):
        yield start, distances_to(Y, sq, np.arange(start, min(n, start + block)), metric)


def enclosing_radius(Y: np.ndarray, sq: np.ndarray, metric: str, block: int = 1024) -> float:
    """The enclosing radius ``min_i max_j d(i, j)``: beyond it the Rips complex is a cone.

    Parameters
    ----------
    Y : ndarray (n, d) and sq : ndarray (n,)
        Points and squared norms from :func:`prepare`.
    metric : {'euclidean', 'cosine'}
    block : int
        Rows per block.

    Returns
    -------
    float
    """
    best = np.inf
    for _, D in iter_blocks(Y, sq, metric, block):
        best = min(best, float(D.max(axis=1).min()))
    return best
