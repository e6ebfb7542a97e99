"""numba kernels of :mod:`.h1_reduce`: the H1 cohomology reduction of the few columns that matter.

Everything here works in one *total* order, so ties in the distances are handled exactly:
edges by ``(length, a + b (b - 1) / 2)`` (``a < b``); a triangle by its *youngest facet* in
that order, then its third vertex (key ``(diameter, index of the youngest facet * n + third
vertex)``: the diameter is the youngest facet's length, so this refines the order by diameter).
Any refinement of the filtration order gives the same diagram, and this one makes ties
harmless: an edge ``xy`` with an apex ``v`` *in the total order* (``xv`` and ``yv`` both before
``xy``) is the youngest facet of ``xyv``, so its oldest cofacet is ``xyu`` for its smallest
apex ``u`` and the two are an apparent pair, whatever the ties (ripser's order by vertex
indices breaks that pairing when ``d(x, u) = d(x, y)``). Z/2 coefficients, threshold ``T``
(cofacets above it are absent).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.typed import Dict


@njit(cache=True, nogil=True, inline="always")
def _eidx(a, b):                                  # pragma: no cover - compiled
    if a > b:
        a, b = b, a
    return np.int64(a) + np.int64(b) * (b - 1) // 2


@njit(cache=True, nogil=True)
def prim_total_order(D):                          # pragma: no cover - compiled
    """MST of the dense matrix under the total edge order: (n - 1, 2) edges (parent, child).

    One pass per step over the vertices not yet in the tree (kept packed, with their best
    edge): the update and the choice of the next vertex in the same loop, n^2 / 2 visits."""
    n = D.shape[0]
    out = np.empty((max(n - 1, 0), 2), np.int64)
    m = n - 1
    rest = np.arange(1, n)                        # vertices outside the tree, packed
    bw = np.full(m, np.inf)                       # their best edge into the tree
    bk = np.full(m, np.iinfo(np.int64).max, np.int64)
    par = np.full(m, -1, np.int64)
    u = 0
    for step in range(n - 1):
        j = -1
        for i in range(m):
            v = rest[i]
            w = np.float64(D[u, v])
            k = _eidx(u, v)
            if w < bw[i] or (w == bw[i] and k < bk[i]):
                bw[i] = w
                bk[i] = k
                par[i] = u
            if j < 0 or bw[i] < bw[j] or (bw[i] == bw[j] and bk[i] < bk[j]):
                j = i
        u = rest[j]
        out[step, 0] = par[j]
        out[step, 1] = u
        m -= 1                                    # swap-remove
        rest[j], bw[j], bk[j], par[j] = rest[m], bw[m], bk[m], par[m]
    return out


@njit(cache=True, nogil=True, inline="always")
def _edge_of(k):                                  # pragma: no cover - compiled
    """Vertices ``a < b`` of the edge with index ``k = a + b (b - 1) / 2``."""
    b = np.int64((1.0 + (1.0 + 8.0 * k) ** 0.5) / 2.0)
    while b * (b - 1) // 2 > k:
        b -= 1
    while (b + 1) * b // 2 <= k:
        b += 1
    return k - b * (b - 1) // 2, b


@njit(cache=True, nogil=True, inline="always")
def _is_apex(D, x, y, r, kxy, v):                 # pragma: no cover - compiled
    """``xv`` and ``yv`` both come before ``xy`` (length ``r``, index ``kxy``)."""
    d = D[x, v]
    if d > r or (d == r and _eidx(x, v) > kxy):
        return False
    d = D[y, v]
    return d < r or (d == r and _eidx(y, v) < kxy)


@njit(cache=True, nogil=True, inline="always")
def _cofacet(D, x, y, v, n):                      # pragma: no cover - compiled
    """``(diameter, key)`` of triangle ``xyv``: key = index of its youngest facet * n + the
    third vertex."""
    r, k, third = D[x, y], _eidx(x, y), v
    d, kd = D[x, v], _eidx(x, v)
    if d > r or (d == r and kd > k):
        r, k, third = d, kd, y
    d, kd = D[y, v], _eidx(y, v)
    if d > r or (d == r and kd > k):
        r, k, third = d, kd, x
    return np.float64(r), k * n + third


@njit(cache=True, nogil=True)
def _next_cofacet(D, x, y, T, fd, fk):            # pragma: no cover - compiled
    """(diameter, key) of the first cofacet of edge xy after ``(fd, fk)`` with diameter <= T;
    ``(inf, -1)`` if none (``fd = -inf``: the oldest cofacet).

    The cofacets whose youngest facet is ``xy`` come before every other one and are ordered by
    their third vertex: the first of them found after ``(fd, fk)`` is the answer (early exit,
    one step for an edge with an apex)."""
    n = D.shape[0]
    kxy = _eidx(x, y)
    r = D[x, y]
    bd, bk = np.inf, np.int64(-1)
    for v0 in range(0, n, 32):                    # blocks of 32 vertices: a vectorised
        v1 = min(n, v0 + 32)                      # minimum first, the details only where
        m = np.inf                                # it can beat the best so far
        for v in range(v0, v1):
            d = max(r, D[x, v], D[y, v])
            m = min(m, d if d >= fd else np.inf)
        if m > bd or m > T:
            continue
        for v in range(v0, v1):
            d = max(r, D[x, v], D[y, v])          # the diameter: cheap filter first
            if d > bd or d > T or d < fd or v == x or v == y:
                continue
            d, k = _cofacet(D, x, y, v, n)
            if d == fd and k <= fk:
                continue
            if k // n == kxy:
                return d, k
            if d < bd or k < bk:                  # (d <= bd here)
                bd, bk = d, k
    return bd, bk


@njit(parallel=True, cache=True, nogil=True)
def _first_pivots(D, ci, cj, T, in_list_keys):    # pragma: no cover - compiled
    """Per column, in parallel: its oldest cofacet ``(d, t)`` and who would own ``t`` if no
    reduced column does (:func:`_apparent_owner`)."""
    m = len(ci)
    fd = np.full(m, np.inf)
    ft = np.full(m, -1, np.int64)
    kind = np.zeros(m, np.int64)
    ox = np.full(m, -1, np.int64)
    oy = np.full(m, -1, np.int64)
    for p in prange(m):
        d, t = _next_cofacet(D, ci[p], cj[p], T, -np.inf, np.int64(-1))
        fd[p], ft[p] = d, t
        if t >= 0:
            kind[p], ox[p], oy[p] = _apparent_owner(D, t, in_list_keys)
    return fd, ft, kind, ox, oy


@njit(cache=True, nogil=True)
def _apparent_owner(D, t, in_list_keys):          # pragma: no cover - compiled
    """(2, x, y) if triangle ``t`` is the apparent pair of the unlisted edge ``xy``, else
    (0, -1, -1)."""
    n = D.shape[0]
    k, v = t // n, t % n                          # t's youngest facet xy and third vertex v
    pos = np.searchsorted(in_list_keys, k)
    if pos < len(in_list_keys) and in_list_keys[pos] == k:
        return 0, -1, -1                          # a listed column owns only its own pivot
    # xy is not listed, so it is coned in the total order (v is an apex): its oldest cofacet
    # is xyu for its smallest apex u; t is that one unless an apex u < v exists
    x, y = _edge_of(k)
    r = D[x, y]
    for u0 in range(0, v, 32):                    # blocks: a vectorised test first (an apex
        u1 = min(v, u0 + 32)                      # is no farther than r from x and y)
        m = np.inf
        for u in range(u0, u1):
            m = min(m, max(D[x, u], D[y, u]))
        if m > r:
            continue
        for u in range(u0, u1):
            if u != x and u != y and _is_apex(D, x, y, r, k, u):
                return 0, -1, -1
    return 2, x, y


@njit(cache=True, nogil=True)
def _parity(t, n, where):                         # pragma: no cover - compiled
    """How many facets of triangle ``t`` the cochain (edge index -> slot) holds, mod 2."""
    k, v = t // n, t % n
    x, y = _edge_of(k)
    c = np.int64(k in where) + np.int64(_eidx(x, v) in where) + np.int64(_eidx(y, v) in where)
    return c % 2


@njit(cache=True, nogil=True)
def reduce_columns(D, ci, cj, T, in_list_keys):   # pragma: no cover - compiled
    """Reduce the coboundary columns of the listed edges (youngest first).

    The working column is kept as its cochain, a set of edges, each with a cursor: its first
    cofacet after the last pivot. The pivot is the smallest cursor whose triangle has an odd
    number of facets in the set (else every cursor on it moves on); adding a column toggles
    edges in the set and moves the cursors past the cancelled pivot. Pivots only grow, so each
    cursor moves forward by O(n) scans, without a heap of whole coboundaries.

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
    n = D.shape[0]
    m = len(ci)
    death = np.full(m, np.inf)
    pivot_of = Dict.empty(types.int64, types.int64)   # triangle key -> column position
    col_start = np.zeros(m + 1, np.int64)         # reduced cochains as edge lists (CSR)
    col_x, col_y = [np.int64(0)], [np.int64(0)]
    col_x.pop()
    col_y.pop()
    fd, ft, fkind, fx, fy = _first_pivots(D, ci, cj, T, in_list_keys)
    n_add = 0
    for p in range(m):
        a, b = ci[p], cj[p]
        d, t = fd[p], ft[p]
        if t >= 0 and t not in pivot_of and fkind[p] == 0:
            pivot_of[t] = p                       # most columns: the oldest cofacet is new
            death[p] = d
            col_x.append(a)
            col_y.append(b)
            col_start[p + 1] = len(col_x)
            continue
        cx, cy, cd, ck = [a], [b], [d], [t]       # the cochain and its cursors
        where = Dict.empty(types.int64, types.int64)
        where[_eidx(a, b)] = 0
        first = True
        while True:
            j = -1
            for i in range(len(cx)):              # the smallest cursor
                if ck[i] >= 0 and (j < 0 or cd[i] < cd[j] or (cd[i] == cd[j] and ck[i] < ck[j])):
                    j = i
            if j < 0:                             # the column vanished: alive at T
                break
            pd, pk = cd[j], ck[j]
            if _parity(pk, n, where) == 1:
                if pk in pivot_of:
                    kind, q, x, y = 1, pivot_of[pk], -1, -1
                elif first:
                    kind, q, x, y = fkind[p], -1, fx[p], fy[p]
                else:
                    q = -1
                    kind, x, y = _apparent_owner(D, pk, in_list_keys)
                first = False
                if kind == 0:
                    pivot_of[pk] = p
                    death[p] = pd
                    break
                n_add += 1
                if kind == 1:                     # an earlier column has this pivot
                    for s in range(col_start[q], col_start[q + 1]):
                        _toggle(D, T, col_x[s], col_y[s], pd, pk, cx, cy, cd, ck, where)
                else:                             # apparent pair (xy, pk)
                    _toggle(D, T, x, y, pd, pk, cx, cy, cd, ck, where)
            for i in range(len(cx)):              # pk is gone: cursors on it move on
                if ck[i] == pk and cd[i] == pd:
                    cd[i], ck[i] = _next_cofacet(D, cx[i], cy[i], T, pd, pk)
        for i in range(len(cx)):
            col_x.append(cx[i])
            col_y.append(cy[i])
        col_start[p + 1] = len(col_x)
    return death, n_add


@njit(cache=True, nogil=True)
def _toggle(D, T, x, y, pd, pk, cx, cy, cd, ck, where):   # pragma: no cover - compiled
    """Add edge xy to the cochain (cursor after ``(pd, pk)``) or remove it if present."""
    k = _eidx(x, y)
    if k in where:
        i = where.pop(k)
        last = len(cx) - 1
        if i != last:                             # swap-remove
            cx[i], cy[i], cd[i], ck[i] = cx[last], cy[last], cd[last], ck[last]
            where[_eidx(cx[i], cy[i])] = i
        cx.pop()
        cy.pop()
        cd.pop()
        ck.pop()
    else:
        where[k] = len(cx)
        d, t = _next_cofacet(D, x, y, T, pd, pk)
        cx.append(x)
        cy.append(y)
        cd.append(d)
        ck.append(t)


