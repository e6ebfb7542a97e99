"""numba kernel of :func:`~topoact.topology.certificate.cone_free_edges` (one fused pass).

The numpy version builds, per row block, the float32 bound ``U[a, b] = min_c max(D[a, c],
D[c, b])`` over the ``k`` nearest neighbours ``c`` of ``a`` with ``2 k`` full-width
temporaries, and a whole (n, n) bool matrix. Here each row ``a`` streams the ``k`` rows
``D[c, a+1:]``, four at a time, into one buffer (the same minimum, same float32 values), the few edges it
leaves are tried against the neighbours of ``b`` and then every vertex, all in the same loop
over rows run on the numba thread pool. The result is the same edge set (tested against the
numpy version and brute force).

Measured at 8,000 ReLU-like points (k = 16, best of 3, 2 threads): 0.84 s with one row per
step (the thread with the long rows ``a`` near 0 finished last), 0.57 s with rows ``h`` and
``n - 1 - h`` in one step, 0.39 s with two neighbour rows per pass over ``U`` and 0.26 s with
four (the buffer is read and written a quarter as often).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


#: cone-free partners kept per row by the parallel pass; rows with more are redone alone
WIDTH = 16


@njit(cache=True, nogil=True, fastmath={"nnan", "nsz"})
def _row_mask(D, nn, T, a, U, out):               # pragma: no cover - compiled
    """Row ``a``: its cone-free partners ``b > a``, the first ``len(out)`` into ``out``;
    returns how many there are."""
    n = D.shape[0]
    k = nn.shape[1]
    U[a + 1:] = np.inf
    t = 0
    while t + 4 <= k:                             # four apexes per pass over U
        c0, c1, c2, c3 = nn[a, t], nn[a, t + 1], nn[a, t + 2], nn[a, t + 3]
        d0, d1, d2, d3 = D[a, c0], D[a, c1], D[a, c2], D[a, c3]
        for b in range(a + 1, n):                 # branch-free, vectorised (no NaN: min / max
            U[b] = min(U[b], min(min(max(d0, D[c0, b]), max(d1, D[c1, b])),   # are exact;
                                 min(max(d2, D[c2, b]), max(d3, D[c3, b]))))  # inf is kept)
        t += 4
    for t in range(t, k):
        c = nn[a, t]
        dac = D[a, c]
        for b in range(a + 1, n):
            U[b] = min(U[b], max(dac, D[c, b]))
    m = 0
    for b in range(a + 1, n):
        r = D[a, b]
        if r <= T or U[b] < r:
            continue
        coned = False
        for t in range(k):                        # b's neighbours as apex
            c = nn[b, t]
            if max(D[b, c], D[a, c]) < r:
                coned = True
                break
        if not coned:
            for c in range(n):                    # every vertex (strict <: ties stay free)
                if c != a and c != b and max(D[a, c], D[b, c]) < r:
                    coned = True
                    break
        if not coned:
            if m < len(out):
                out[m] = b
            m += 1
    return m


@njit(parallel=True, cache=True, nogil=True)
def _cone_free_mask(D, nn, T):                     # pragma: no cover - compiled
    n = D.shape[0]
    count = np.zeros(n, np.int64)
    hits = np.zeros((n, WIDTH), np.int64)          # first few per row; rare rows redo below
    for h in prange((n + 1) // 2):                 # rows h and n - 1 - h together: row a
        U = np.empty(n, np.float32)                # costs n - a, so every step costs the same
        count[h] = _row_mask(D, nn, T, h, U, hits[h])
        if n - 1 - h != h:
            count[n - 1 - h] = _row_mask(D, nn, T, n - 1 - h, U, hits[n - 1 - h])
    return count, hits


@njit(cache=True, nogil=True)
def _row_cone_free(D, nn, T, a):                   # pragma: no cover - compiled
    """All cone-free partners ``b > a`` of one row (rows with more than ``WIDTH``)."""
    n = D.shape[0]
    out = np.empty(n, np.int64)
    m = _row_mask(D, nn, T, a, np.empty(n, np.float32), out)
    return out[:m]


def cone_free_pairs(D: np.ndarray, nn: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``a < b`` with ``D[a, b] > T`` and no apex (before removing MST edges).

    Parameters
    ----------
    D : float32 array (n, n), symmetric
    nn : int array (n, k), candidate apexes of each row tried first (nearest neighbours)
    T : float

    Returns
    -------
    i, j : int64 arrays (m,), i < j, in row order
    """
    D = np.ascontiguousarray(D, np.float32)
    nn = np.ascontiguousarray(nn, np.int64)
    count, hits = _cone_free_mask(D, nn, np.float32(T))
    fits = count <= WIDTH
    I = [np.repeat(np.flatnonzero(fits), count[fits])]
    J = [hits[fits][np.arange(WIDTH) < count[fits][:, None]]]   # row-major, as I
    for a in np.flatnonzero(~fits):
        js = _row_cone_free(D, nn, np.float32(T), a)
        I.append(np.full(len(js), a, np.int64))
        J.append(js)
    I, J = np.concatenate(I), np.concatenate(J)
    order = np.lexsort((J, I))
    return I[order], J[order]
