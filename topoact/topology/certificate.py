"""Exactness certificate for H1 of a Rips filtration computed below a threshold ``T``.

Claim. Let ``VR(r)`` be the Rips complex at scale ``r``. Call an edge ``e = (a, b)`` of length
``r`` *coned* if some vertex ``c`` has ``max(d(a, c), d(b, c)) < r``: the triangle ``abc``
enters together with ``e``, so every cycle through ``e`` is homologous to one without it.
Adding a coned edge, or an MST edge (it joins two components), therefore maps
``H1(VR(r-))`` *onto* ``H1(VR(r))``. Hence if

1. no H1 bar of the filtration truncated at ``T`` is alive at ``T`` (``H1(VR(T)) = 0``), and
2. every edge longer than ``T`` is coned or an MST edge,

then ``H1(VR(r)) = 0`` for every ``r >= T``: no class is born above ``T`` and the truncated
diagram *is* the full H1 diagram (equal to ripser's at the enclosing radius). The *cone-free*
non-MST edges are the only possible H1 births; the longest of them, ``B``, is the smallest
threshold condition 2 allows (measured on 512-D ReLU data: the cone-free non-MST edges are
exactly the H1 births, so ``B`` is the largest birth). Strict ``<`` keeps ties conservative.

Cost. The check needs the dense (n, n) float32 distance matrix (n = 5,000: 100 MB). Each edge
is first tried against the ``k`` nearest neighbours of both ends as apex (``O(k n^2)``
vectorised); the few edges left are checked against all ``n`` vertices.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..masks import nonzero_2d
from ..progress import CancelFn
from ._validation import check_cancel
from .pairwise import prepare

__all__ = ["EdgeList", "dense_distances", "cone_free_edges"]

#: an edge list ``(i, j, w)``: int arrays (m,) and float64 lengths (m,)
EdgeList = tuple[np.ndarray, np.ndarray, np.ndarray]


def dense_distances(X: np.ndarray, metric: str, block: int = 1024,
                    should_cancel: Optional[CancelFn] = None) -> np.ndarray:
    """The full distance matrix, computed in float64 row blocks and rounded once to float32,
    as ripser does (so the diagrams agree to float32 rounding).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    metric : {'euclidean', 'cosine'}
    block : int
        Rows per block.
    should_cancel : callable, optional
        Polled per block.

    Returns
    -------
    ndarray of float32, shape (n, n)
        Exactly symmetric (only the blocks ``j >= i`` are computed, then mirrored: half the
        BLAS work), zero diagonal.
    """
    from ._dense_kernel import fill_rows, mirror_upper
    Y, sq = prepare(np.asarray(X, np.float64), metric, dtype=np.float64)
    n = Y.shape[0]
    D = np.empty((n, n), np.float32)
    for s in range(0, n, block):
        check_cancel(should_cancel)
        fill_rows(D, Y[s:s + block] @ Y[s:].T, sq, s, metric)
    mirror_upper(D)
    return D


def cone_free_edges(D: np.ndarray, T: float, mst: Optional[np.ndarray] = None, *, k: int = 16,
                    block: int = 64, should_cancel: Optional[CancelFn] = None,
                    kernel: str = "numba") -> EdgeList:
    """Edges longer than ``T`` that have no apex (see the module docstring).

    Parameters
    ----------
    D : float32 array (n, n), symmetric distance matrix
    T : float, only edges with ``D[a, b] > T`` are examined
    mst : int array (n - 1, 2) or None, MST edges (excluded from the result)
    k : number of nearest neighbours of each end tried as apex first
    kernel : 'numba' (one fused parallel pass, :mod:`._cone_kernel`; 5-10x faster) or
        'numpy' (row blocks); the same edges

    Returns
    -------
    i, j : int64 arrays (m,) with i < j, and w : float64 (m,), sorted by w — the cone-free
    non-MST edges longer than ``T`` (empty when the certificate holds at ``T``).
    """
    n = D.shape[0]
    k = int(min(k, n - 1))
    if kernel not in ("numba", "numpy"):
        raise ValueError(f"kernel must be 'numba' or 'numpy', got {kernel!r}")
    from ._dense_kernel import knn_rows
    nn = knn_rows(np.ascontiguousarray(D, np.float32), k) if k > 0 else np.empty((n, 0), np.int64)
    if kernel == "numba":
        from ._cone_kernel import cone_free_pairs
        check_cancel(should_cancel)
        i, j = cone_free_pairs(D, nn, T)
        return _drop_mst_and_sort(D, i, j, mst)
    unc = np.empty((n, n), bool)                        # not certified from row a's side
    for s in range(0, n, block):
        check_cancel(should_cancel)
        rows = np.arange(s, min(n, s + block))
        Drow = D[rows]
        U = np.full(Drow.shape, np.inf, np.float32)
        for t in range(nn.shape[1]):
            c = nn[rows, t]
            np.minimum(U, np.maximum(D[rows, c][:, None], D[c]), out=U)
        unc[rows] = (U >= Drow) & (Drow > T)
    unc &= unc.T
    i, j = nonzero_2d(np.triu(unc, 1))
    if mst is not None and len(i):                     # (the exact check is cheaper without them)
        key = np.minimum(mst[:, 0], mst[:, 1]) * n + np.maximum(mst[:, 0], mst[:, 1])
        keep = ~np.isin(i.astype(np.int64) * n + j, key)
        i, j = i[keep], j[keep]
    # exact check of the remaining edges against every vertex
    bad = np.zeros(len(i), bool)
    for s in range(0, len(i), 256):
        check_cancel(should_cancel)
        a, b = i[s:s + 256], j[s:s + 256]
        apex = np.maximum(D[a], D[b])
        apex[np.arange(len(a)), a] = np.inf
        apex[np.arange(len(a)), b] = np.inf
        bad[s:s + 256] = apex.min(axis=1) >= D[a, b]
    return _drop_mst_and_sort(D, i[bad].astype(np.int64), j[bad].astype(np.int64), mst)


def _drop_mst_and_sort(D, i, j, mst):
    """The edges (i < j) that are not MST edges, with their lengths, sorted by length."""
    n = D.shape[0]
    if mst is not None and len(i):
        key = np.minimum(mst[:, 0], mst[:, 1]).astype(np.int64) * n + np.maximum(mst[:, 0], mst[:, 1])
        keep = ~np.isin(i.astype(np.int64) * n + j, key)
        i, j = i[keep], j[keep]
    w = D[i, j].astype(np.float64)
    order = np.argsort(w, kind="stable")
    return i[order], j[order], w[order]
