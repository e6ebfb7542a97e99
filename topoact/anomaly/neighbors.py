"""k nearest neighbours by cosine similarity, in blocks (torch matmul + topk).

Vectors are centred (minus the column mean) and scaled to unit length, so the cosine similarity
is a dot product; the deep k-NN distance of Sun et al. (2022), the Euclidean distance between
unit vectors, is a monotone function of it (``sqrt(2 - 2 cos)``). Exact search: on 64-D
activations the cost is the top-k selection over ``N x N`` similarities: 4.7 s of CPU for
20,000 images, so two minutes for 100,000. Above ``exact_max`` images the neighbours are
therefore searched among a seeded random *reference sample* of ``exact_max`` images (``N x
exact_max`` work): label shares and k-NN distances are then estimates from that sample.
Near-duplicates need the true nearest image, so for them :func:`projection_neighbours` gives
candidates from sorted random projections (sorted-neighbourhood blocking): near-identical unit
vectors have near-identical projections, so an exact copy is always next to its original in at
least one order.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..progress import CancelFn, check_cancelled

__all__ = ["unit_rows", "knn", "projection_neighbours"]


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


def knn(U: np.ndarray, k: int, *, reference: np.ndarray | None = None, block: int = 2048,
        should_cancel: CancelFn | None = None, scheduler: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar other rows of each row of ``U``.

    Parameters
    ----------
    U : (N, D) unit rows (:func:`unit_rows`)
    k : neighbours per row, 1 <= k < N (and < len(reference))
    reference : optional sorted (M,) rows to search among (default: all rows)
    scheduler : str or distributed.Client, optional
        Search spans of rows (whole ``block`` s) as Dask tasks: the reference rows are sent to
        each worker once, a task gets its span's rows; the same products and top-k, so the same
        result. None: the block's :func:`topoact.distributed.use_scheduler`, else in-process.

    Returns
    -------
    similarity : (N, k) float32, descending per row
    index : (N, k) int64 row numbers (never the row itself)
    """
    from ..distributed.tasks import resolve_scheduler

    n = len(U)
    ref = np.arange(n) if reference is None else np.asarray(reference, np.int64)
    if not 1 <= k < len(ref):
        raise ValueError(f"k={k} neighbours need at least k+1 images; this run has N={len(ref)}")
    U = np.ascontiguousarray(U, np.float32)
    R = np.ascontiguousarray(U[ref])
    position = np.full(n, -1, np.int64)
    position[ref] = np.arange(len(ref))
    scheduler = resolve_scheduler(scheduler)
    if scheduler is None:
        return _knn_span(R, ref, k, block, (U, position), should_cancel)
    from ..distributed.tasks import LazyItems, map_tasks

    span = block * max(1, -(-n // (block * 16)))   # about 16 tasks, each a whole number of blocks
    starts = list(range(0, n, span))
    items = LazyItems(len(starts), lambda i: (U[starts[i]:starts[i] + span], position[starts[i]:starts[i] + span]))
    sims = np.empty((n, k), np.float32)
    index = np.empty((n, k), np.int64)
    for i, (s, j) in map_tasks(scheduler, _knn_span, items, shared=(R, ref, k, block),
                               should_cancel=should_cancel, what="neighbour search", window=4):
        sims[starts[i]:starts[i] + len(s)], index[starts[i]:starts[i] + len(s)] = s, j
    return sims, index


def _knn_span(R: np.ndarray, ref: np.ndarray, k: int, block: int, item: tuple,
              should_cancel: CancelFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of the query rows ``item = (Q (n, D), own (n,))`` among the reference rows ``R``
    (M, D) (``own``: each query row's position in ``R``, -1 if none), block by block."""
    import torch

    Q, own_all = item
    n = len(Q)
    T = torch.from_numpy(Q)
    Rt = torch.from_numpy(R)
    sims = np.empty((n, k), np.float32)
    index = np.empty((n, k), np.int64)
    with torch.inference_mode():
        for start in range(0, n, block):
            check_cancelled(should_cancel, "neighbour search")
            stop = min(start + block, n)
            S = T[start:stop] @ Rt.T
            own = own_all[start:stop]
            mine = np.flatnonzero(own >= 0)
            S[torch.from_numpy(mine), torch.from_numpy(own[mine])] = -float("inf")
            values, idx = torch.topk(S, k, dim=1)
            sims[start:stop] = values.numpy()
            index[start:stop] = ref[idx.numpy()]
    return sims, index


def projection_neighbours(U: np.ndarray, *, n_projections: int = 4, window: int = 4, seed: int = 0,
                          chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Candidate nearest neighbours from sorted random projections, with their cosine similarity.

    Parameters
    ----------
    U : (N, D) unit rows
    n_projections : random directions; each orders the rows by projection
    window : rows on each side of a row in each order that become its candidates

    Returns
    -------
    similarity : (N, m) float32 descending, m = 2 * window * n_projections (duplicates kept)
    index : (N, m) int64 candidate rows (never the row itself; -inf similarity pads)
    """
    n = len(U)
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((U.shape[1], n_projections)).astype(np.float32)
    candidates = []
    for p in range(n_projections):
        order = np.argsort(U @ directions[:, p], kind="stable")
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        for shift in range(1, window + 1):
            for sign in (-1, 1):
                candidates.append(order[np.clip(rank + sign * shift, 0, n - 1)])
    index = np.stack(candidates, axis=1)
    sims = np.empty(index.shape, np.float32)
    for start in range(0, n, chunk):
        block = U[start:start + chunk]
        sims[start:start + chunk] = np.einsum("id,ijd->ij", block, U[index[start:start + chunk]])
    sims[index == np.arange(n)[:, None]] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")
    return np.take_along_axis(sims, order, 1), np.take_along_axis(index, order, 1)
