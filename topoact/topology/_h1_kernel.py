"""numba kernels of :mod:`.h1_reduce`: the H1 cohomology reduction of the few columns that matter.

Everything here works in one *total* order, so ties in the distances are handled exactly:
edges by ``(length, a + b (b - 1) / 2)`` (``a < b``), triangles by ``(diameter, a + C(b, 2) +
C(c, 3))`` (``a < b < c``); Z/2 coefficients, threshold ``T`` (cofacets above it are absent).
The persistence diagram does not depend on how ties are broken, only on the values.
"""
from __future__ import annotations

import heapq

import numpy as np
from numba import njit, prange, types
from numba.typed import Dict


@njit(cache=True, nogil=True, inline="always")
def _eidx(a, b):                                  # pragma: no cover - compiled
    if a > b:
        a, b = b, a
    return np.int64(a) + np.int64(b) * (b - 1) // 2


@njit(cache=True, nogil=True, inline="always")
def _tidx(a, b, c):                               # pragma: no cover - compiled
    # sort the three vertices
    if a > b:
        a, b = b, a
    if b > c:
        b, c = c, b
    if a > b:
        a, b = b, a
    return (np.int64(a) + np.int64(b) * (b - 1) // 2
            + np.int64(c) * (c - 1) * (c - 2) // 6)


@njit(cache=True, nogil=True)
def prim_total_order(D):                          # pragma: no cover - compiled
    """MST of the dense matrix under the total edge order: (n - 1, 2) edges (parent, child)."""
    n = D.shape[0]
    in_tree = np.zeros(n, np.bool_)
    best_w = np.full(n, np.inf)
    best_k = np.full(n, np.iinfo(np.int64).max, np.int64)
    parent = np.full(n, -1, np.int64)
    out = np.empty((max(n - 1, 0), 2), np.int64)
    u = 0
    in_tree[0] = True
    for step in range(n - 1):
        for v in range(n):
            if not in_tree[v]:
                w = np.float64(D[u, v])
                k = _eidx(u, v)
                if w < best_w[v] or (w == best_w[v] and k < best_k[v]):
                    best_w[v] = w
                    best_k[v] = k
                    parent[v] = u
        nxt = -1
        for v in range(n):
            if not in_tree[v]:
                if nxt < 0 or best_w[v] < best_w[nxt] or (
                        best_w[v] == best_w[nxt] and best_k[v] < best_k[nxt]):
                    nxt = v
        in_tree[nxt] = True
        out[step, 0] = parent[nxt]
        out[step, 1] = nxt
        u = nxt
    return out


@njit(cache=True, nogil=True)
def _decode(t):                                   # pragma: no cover - compiled
    """Vertices ``a < b < c`` of the triangle with index ``t``."""
    c = np.int64((6.0 * t) ** (1.0 / 3.0)) + 2
    while c * (c - 1) * (c - 2) // 6 > t:
        c -= 1
    rest = t - c * (c - 1) * (c - 2) // 6
    b = np.int64((2.0 * rest) ** 0.5) + 2
    while b * (b - 1) // 2 > rest:
        b -= 1
    return rest - b * (b - 1) // 2, b, c


@njit(cache=True, nogil=True)
def _youngest_facet(D, a, b, c):                  # pragma: no cover - compiled
    """The last edge of triangle abc in the total order."""
    x, y = a, b
    w, k = np.float64(D[a, b]), _eidx(a, b)
    for p, q in ((a, c), (b, c)):
        wp, kp = np.float64(D[p, q]), _eidx(p, q)
        if wp > w or (wp == w and kp > k):
            x, y, w, k = p, q, wp, kp
    return x, y


@njit(cache=True, nogil=True)
def _oldest_cofacet(D, x, y, T):                  # pragma: no cover - compiled
    """(diameter, index) of the first cofacet of edge xy, (inf, -1) if none is <= T."""
    n = D.shape[0]
    r = np.float64(D[x, y])
    bd, bk = np.inf, np.int64(-1)
    for v in range(n):
        if v == x or v == y:
            continue
        d = max(r, np.float64(D[x, v]), np.float64(D[y, v]))
        if d > T:
            continue
        k = _tidx(x, y, v)
        if d < bd or (d == bd and k < bk):
            bd, bk = d, k
    return bd, bk


@njit(cache=True, nogil=True)
def _push_coboundary(heap, D, x, y, T):           # pragma: no cover - compiled
    n = D.shape[0]
    r = np.float64(D[x, y])
    for v in range(n):
        if v == x or v == y:
            continue
        d = max(r, np.float64(D[x, v]), np.float64(D[y, v]))
        if d <= T:
            heapq.heappush(heap, (d, _tidx(x, y, v)))


@njit(cache=True, nogil=True)
def _pop_pivot(heap):                             # pragma: no cover - compiled
    """Pop the smallest entry that survives Z/2 cancellation; (inf, -1, -1) if none."""
    while len(heap):
        top = heapq.heappop(heap)
        if len(heap) and heap[0][1] == top[1]:
            heapq.heappop(heap)                   # x + x = 0 over Z/2
            continue
        return top
    return (np.inf, np.int64(-1))


@njit(parallel=True, cache=True, nogil=True)
def row_tie_mask(bits):                           # pragma: no cover - compiled
    """``M[a, b]``: ``D[a, b]`` equals another entry of row ``a`` (the diagonal 0 included).

    ``bits`` is ``D.view(np.uint32)`` (equal floats <=> equal bits here: no NaN, no -0): one
    open-addressing hash table per row, O(n) per row instead of a sort.
    """
    n = bits.shape[0]
    M = np.zeros((n, n), np.bool_)
    k = 1
    while (1 << k) < 2 * n:
        k += 1
    mask = np.uint32((1 << k) - 1)
    for a in prange(n):
        table = np.full(1 << k, -1, np.int64)
        for b in range(n):
            key = bits[a, b]
            h = (np.uint32(key * np.uint32(2654435761)) >> np.uint32(32 - k)) & mask
            while True:
                c = table[h]
                if c < 0:
                    table[h] = b
                    break
                if bits[a, c] == key:
                    M[a, b] = True
                    M[a, c] = True
                    break
                h = (h + np.uint32(1)) & mask
    return M


@njit(cache=True, nogil=True)
def reduce_columns(D, ci, cj, T, in_list_keys):   # pragma: no cover - compiled
    """Reduce the coboundary columns of the listed edges (youngest first).

    Parameters
    ----------
    D : float32 (n, n)
    ci, cj : int64 (m,), the columns to reduce, sorted from youngest to oldest edge
    T : float64, threshold
    in_list_keys : int64 (m,), sorted edge indices of the listed edges

    Returns
    -------
    death : float64 (m,), the pivot diameter of each column (inf if the column vanished)
    n_additions : int64, columns added in total
    """
    m = len(ci)
    death = np.full(m, np.inf)
    pivot_of = Dict.empty(types.int64, types.int64)   # triangle index -> column position
    col_start = np.zeros(m + 1, np.int64)         # reduction columns as edge lists (CSR)
    col_edges = []
    n_add = 0
    for p in range(m):
        a, b = ci[p], cj[p]
        col_edges.append((a, b))
        # the first pivot is the oldest cofacet, found in O(n): when nobody owns it (as
        # for most columns) the column is done without building its coboundary heap
        d, t = _oldest_cofacet(D, a, b, T)
        if t >= 0:
            kind, q, x, y = _owner(D, t, T, pivot_of, in_list_keys)
            if kind == 0:
                pivot_of[t] = p
                death[p] = d
                col_start[p + 1] = len(col_edges)
                continue
        heap = [(np.float64(0.0), np.int64(0))]
        heap.pop()
        _push_coboundary(heap, D, a, b, T)
        while True:
            d, t = _pop_pivot(heap)
            if t < 0:                             # the column vanished: alive at T
                break
            kind, q, x, y = _owner(D, t, T, pivot_of, in_list_keys)
            if kind == 0:
                pivot_of[t] = p
                death[p] = d
                break
            heapq.heappush(heap, (d, t))          # cancels with the added column's copy
            if kind == 1:                         # an earlier column has this pivot
                for s in range(col_start[q], col_start[q + 1]):
                    x, y = col_edges[s]
                    _push_coboundary(heap, D, x, y, T)
                    col_edges.append((x, y))
            else:                                 # apparent pair (xy, t): xy's coboundary
                _push_coboundary(heap, D, x, y, T)
                col_edges.append((x, y))
            n_add += 1
        col_start[p + 1] = len(col_edges)
    return death, n_add


@njit(cache=True, nogil=True)
def _owner(D, t, T, pivot_of, in_list_keys):      # pragma: no cover - compiled
    """Who has triangle ``t`` as pivot: (0, -, -, -) nobody yet, (1, column, -, -) a reduced
    column, (2, -, x, y) the coned edge xy whose apparent pair it is."""
    if t in pivot_of:
        return 1, pivot_of[t], -1, -1
    aa, bb, c = _decode(t)
    x, y = _youngest_facet(D, aa, bb, c)
    k = _eidx(x, y)
    pos = np.searchsorted(in_list_keys, k)
    if pos < len(in_list_keys) and in_list_keys[pos] == k:
        return 0, -1, -1, -1                      # a listed column owns only its own pivot
    od, ok = _oldest_cofacet(D, x, y, T)
    if ok == t:
        return 2, -1, x, y
    return 0, -1, -1, -1
