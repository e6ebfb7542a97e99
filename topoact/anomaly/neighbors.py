"""Exact k nearest neighbours by cosine similarity, in blocks (torch matmul + topk).

Vectors are centred (minus the column mean) and scaled to unit length, so the cosine similarity
is a dot product; the deep k-NN distance of Sun et al. (2022), the Euclidean distance between
unit vectors, is a monotone function of it (``sqrt(2 - 2 cos)``). Exact search: on 64-D
activations of 100,000 images it takes a few seconds per layer on two cores, and it needs no
index library; memory is one block of ``block x N`` similarities.
"""
from __future__ import annotations

import numpy as np

from ..progress import CancelFn, check_cancelled

__all__ = ["unit_rows", "knn"]


def unit_rows(X: np.ndarray, *, center: bool = True, chunk: int = 65536) -> np.ndarray:
    """Rows centred by the column mean and scaled to unit length.

    Parameters
    ----------
    X : (N, D) array (a memory map is read chunk by chunk)

    Returns
    -------
    (N, D) float32; all-zero rows stay zero
    """
    X = np.asarray(X)
    mean = np.zeros(X.shape[1], np.float64)
    if center:
        for start in range(0, len(X), chunk):
            mean += np.asarray(X[start:start + chunk], np.float64).sum(axis=0)
        mean /= max(len(X), 1)
    out = np.empty(X.shape, np.float32)
    for start in range(0, len(X), chunk):
        block = np.asarray(X[start:start + chunk], np.float32) - mean.astype(np.float32)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + chunk] = block / np.where(norms > 0, norms, 1.0)
    return out


def knn(U: np.ndarray, k: int, *, block: int = 2048,
        should_cancel: CancelFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar other rows of each row of ``U``.

    Parameters
    ----------
    U : (N, D) unit rows (:func:`unit_rows`)
    k : neighbours per row, 1 <= k < N

    Returns
    -------
    similarity : (N, k) float32, descending per row
    index : (N, k) int64 row numbers (never the row itself)
    """
    import torch

    n = len(U)
    if not 1 <= k < n:
        raise ValueError(f"k={k} neighbours need at least k+1 images; this run has N={n}")
    T = torch.from_numpy(np.ascontiguousarray(U, np.float32))
    sims = np.empty((n, k), np.float32)
    index = np.empty((n, k), np.int64)
    with torch.inference_mode():
        for start in range(0, n, block):
            check_cancelled(should_cancel, "neighbour search")
            stop = min(start + block, n)
            S = T[start:stop] @ T.T
            S[torch.arange(stop - start), torch.arange(start, stop)] = -float("inf")
            values, idx = torch.topk(S, k, dim=1)
            sims[start:stop] = values.numpy()
            index[start:stop] = idx.numpy()
    return sims, index
