"""numba kernels on the dense (n, n) float32 distance matrix of the certified engines.

At 20,000 points the matrix is 1.6 GB, and every numpy pass over it (a temporary of the same
size, an (n, n) bool mask, an argpartition index array) costs seconds and gigabytes. These
kernels fill, mirror, count and search it in place, one row per numba thread:

* :func:`fill_rows` turns a float64 Gram block into float32 distances with exactly the
  arithmetic of :func:`.pairwise.distances_to` (``(|x|^2 + |y|^2) - 2 x.y``, clipped at 0,
  square root, rounded once), so the values do not change;
* :func:`mirror_upper` copies the upper triangle onto the lower one (tiled transpose): only
  the upper blocks are computed, half the BLAS work, and the matrix is exactly symmetric;
* :func:`knn_rows` finds each row's ``k`` smallest entries by insertion (the candidate apexes
  of :mod:`.certificate`), with no (n, n) temporary;
* :func:`count_at_most` counts the edges up to a threshold and :func:`edges_at_most` lists
  them (no (n, n) mask).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["fill_rows", "mirror_upper", "knn_rows", "count_at_most", "edges_at_most"]


@njit(parallel=True, cache=True, nogil=True)
def _fill_rows(D, G, sq, s, cosine):              # pragma: no cover - compiled
    b, m = G.shape
    for r in prange(b):
        i = s + r
        for c in range(m):
            j = s + c
            if cosine:
                d = 1.0 - G[r, c]
                D[i, j] = max(d, 0.0)
            else:
                d2 = (sq[i] + sq[j]) - 2.0 * G[r, c]
                D[i, j] = np.sqrt(max(d2, 0.0))


def fill_rows(D: np.ndarray, G: np.ndarray, sq: np.ndarray, start: int, metric: str) -> None:
    """Write ``D[start + r, start + c]`` from the Gram block ``G[r, c]`` (rows ``start..``,
    columns ``start..n``), in place.

    Parameters
    ----------
    D : float32 array (n, n)
    G : float64 array (b, n - start)
        ``Y[start:start + b] @ Y[start:].T`` of the prepared points.
    sq : float64 array (n,)
        Squared norms of the prepared points (unused for cosine).
    start : int
    metric : {'euclidean', 'cosine'}
    """
    _fill_rows(D, np.ascontiguousarray(G), sq, int(start), metric == "cosine")


@njit(cache=True, nogil=True)
def _mirror_tile_row(D, bi, tile):                # pragma: no cover - compiled
    n = D.shape[0]
    i0 = bi * tile
    i1 = min(n, i0 + tile)
    for bj in range(bi + 1):
        j0 = bj * tile
        j1 = min(n, j0 + tile)
        for i in range(i0, i1):
            for j in range(j0, min(j1, i)):
                D[i, j] = D[j, i]
    for i in range(i0, i1):
        D[i, i] = 0.0


@njit(parallel=True, cache=True, nogil=True)
def mirror_upper(D, tile=64):                     # pragma: no cover - compiled
    """``D[j, i] = D[i, j]`` for ``i < j`` and ``D[i, i] = 0``, in place, tile by tile.

    Parameters
    ----------
    D : float32 array (n, n), the upper triangle filled
    tile : int
    """
    nt = (D.shape[0] + tile - 1) // tile
    for h in prange((nt + 1) // 2):               # tile rows h and nt - 1 - h together:
        _mirror_tile_row(D, h, tile)              # every step costs the same
        if nt - 1 - h != h:
            _mirror_tile_row(D, nt - 1 - h, tile)


@njit(parallel=True, cache=True, nogil=True)
def knn_rows(D, k):                               # pragma: no cover - compiled
    """Indices (n, k) of the ``k`` smallest entries of each row of ``D`` off the diagonal,
    nearest first (ties in any order).

    Parameters
    ----------
    D : float32 array (n, n)
    k : int, 1 <= k <= n - 1
    """
    n = D.shape[0]
    out = np.empty((n, k), np.int64)
    for a in prange(n):
        val = np.full(k, np.inf, np.float32)
        idx = np.zeros(k, np.int64)
        worst = np.float32(np.inf)
        filled = 0
        for b in range(n):
            x = D[a, b]
            if b == a or (x >= worst and filled == k):
                continue
            p = min(filled, k - 1)                # insertion into the sorted buffer
            while p > 0 and val[p - 1] > x:
                val[p] = val[p - 1]
                idx[p] = idx[p - 1]
                p -= 1
            val[p] = x
            idx[p] = b
            filled = min(filled + 1, k)
            worst = val[k - 1]
        out[a] = idx
    return out


@njit(cache=True, nogil=True)
def _count_row(D, T, a, c):                       # pragma: no cover - compiled
    m = 0
    for b in range(a + 1, D.shape[0]):
        if D[a, b] <= T:
            m += 1
    c[a] = m


@njit(parallel=True, cache=True, nogil=True)
def _count_rows(D, T):                            # pragma: no cover - compiled
    n = D.shape[0]
    c = np.zeros(n, np.int64)
    for h in prange((n + 1) // 2):                # rows h and n - 1 - h: the same cost
        _count_row(D, T, h, c)
        if n - 1 - h != h:
            _count_row(D, T, n - 1 - h, c)
    return c


def count_at_most(D: np.ndarray, T: float) -> int:
    """Number of edges ``i < j`` with ``D[i, j] <= T``.

    Parameters
    ----------
    D : float32 array (n, n), symmetric
    T : float
    """
    return int(_count_rows(D, np.float64(T)).sum())


@njit(parallel=True, cache=True, nogil=True)
def _fill_edges(D, T, start, I, J):               # pragma: no cover - compiled
    n = D.shape[0]
    for a in prange(n):
        p = start[a]
        for b in range(a + 1, n):
            if D[a, b] <= T:
                I[p] = a
                J[p] = b
                p += 1


def edges_at_most(D: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``i < j`` with ``D[i, j] <= T``, in row-major order (as
    ``np.nonzero(np.triu(D <= T, 1))``, without its two (n, n) masks).

    Parameters
    ----------
    D : float32 array (n, n), symmetric
    T : float

    Returns
    -------
    i, j : int32 arrays (m,)
    """
    T = np.float64(T)
    start = np.zeros(D.shape[0] + 1, np.int64)
    np.cumsum(_count_rows(D, T), out=start[1:])
    I = np.empty(start[-1], np.int32)
    J = np.empty(start[-1], np.int32)
    _fill_edges(D, T, start, I, J)
    return I, J
