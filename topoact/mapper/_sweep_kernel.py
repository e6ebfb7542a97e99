"""numba kernel of :func:`~topoact.mapper.sweep.sweep`: sklearn's DBSCAN clusters of every cover
element of one cover, from the pair lists of the sweep's band pass.

Its numpy twin (:func:`~topoact.mapper.sweep.cover_clusters_numpy`) runs some 15 array passes
over an element's pairs per eps (neighbour counts, a vectorised union-find, the border
assignment) and holds the GIL between them; the numpy path before it took 15.9 thread-seconds
for the 480 elements of a 100,000 x 512 sweep. Here one loop does three passes over the pairs
(counts, core-core unions, border points) with the GIL released, so the sweep's groups run
side by side.

sklearn's numbering is kept: DBSCAN on an element's rows (ascending row index) starts its
clusters at core points in index order, so a cluster's number is its smallest core row's rank,
and a border point joins the first cluster, in that order, that reaches it: the smallest-
numbered cluster among its core neighbours.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["cover_clusters"]


@njit(cache=True, nogil=True)
def _root(parent, i):                             # pragma: no cover - compiled
    while parent[i] != i:
        parent[i] = parent[parent[i]]             # path halving
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def _heapsort(x):                                 # pragma: no cover - compiled
    """Sort ``x`` in place (with np.sort's compiled code the first compile took 15 s, not 5)."""
    n = len(x)
    for start in range(n // 2 - 1, -1, -1):
        _sift_down(x, start, n)
    for end in range(n - 1, 0, -1):
        x[0], x[end] = x[end], x[0]
        _sift_down(x, 0, end)


@njit(cache=True, nogil=True)
def _sift_down(x, root, end):                     # pragma: no cover - compiled
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and x[child + 1] > x[child]:
            child += 1
        if x[root] >= x[child]:
            return
        x[root], x[child] = x[child], x[root]
        root = child


@njit(cache=True, nogil=True)
def cover_clusters(indptr, nbr, level, order, self_ok, starts, stops, j, min_samples):  # pragma: no cover - compiled
    """DBSCAN clusters of the elements ``[starts[e], stops[e])`` (sorted positions).

    Parameters
    ----------
    indptr (N + 1,) int64, nbr (P,) int32, level (P,) uint8 : position ``a``'s partners
        ``nbr[indptr[a]:indptr[a + 1]]``, ascending and all ``> a``, each with the index of the
        smallest eps it is within; a pair is a neighbour pair at eps index ``j`` if ``level <= j``
    order (N,) int64 : the row at each sorted position
    self_ok (N,) bool : whether the point at a position counts as its own neighbour
    starts, stops (E,) int64 : the elements; those with fewer than ``min_samples`` points are skipped

    Returns
    -------
    rows (M,) int64 : the clusters' rows, cluster after cluster, each ascending
    sizes (C,) int64 : the clusters' sizes; element (C,) int64 : each cluster's element index
    """
    total = 0
    widest = 0
    for e in range(len(starts)):
        n = stops[e] - starts[e]
        if n >= min_samples:
            total += n
            widest = max(widest, n)
    rows = np.empty(total, np.int64)
    sizes = np.empty(total, np.int64)
    element = np.empty(total, np.int64)
    counts = np.empty(widest, np.int64)
    parent = np.empty(widest, np.int64)
    first = np.empty(widest, np.int64)            # smallest core row of a component (at its root)
    label = np.empty(widest, np.int64)
    cluster_of_root = np.empty(widest, np.int64)
    fill = np.empty(widest + 1, np.int64)
    n_rows = 0
    n_clusters = 0
    big = np.iinfo(np.int64).max
    for e in range(len(starts)):
        p0, p1 = starts[e], stops[e]
        n = p1 - p0
        if n < min_samples:
            continue
        for i in range(n):
            counts[i] = 1 if self_ok[p0 + i] else 0
            parent[i] = i
            first[i] = big
        for a in range(p0, p1):                   # neighbour counts
            for k in range(indptr[a], indptr[a + 1]):
                b = nbr[k]
                if b >= p1:
                    break
                if level[k] <= j:
                    counts[a - p0] += 1
                    counts[b - p0] += 1
        for a in range(p0, p1):                   # components of the core points
            if counts[a - p0] < min_samples:
                continue
            for k in range(indptr[a], indptr[a + 1]):
                b = nbr[k]
                if b >= p1:
                    break
                if level[k] <= j and counts[b - p0] >= min_samples:
                    ra, rb = _root(parent, a - p0), _root(parent, b - p0)
                    if ra != rb:
                        if ra < rb:
                            parent[rb] = ra
                        else:
                            parent[ra] = rb
        n_core_roots = 0
        for i in range(n):
            if counts[i] >= min_samples:
                r = _root(parent, i)
                if first[r] == big:
                    n_core_roots += 1
                first[r] = min(first[r], order[p0 + i])
        if n_core_roots == 0:
            continue
        keys = np.empty(n_core_roots, np.int64)   # the components' smallest core rows, sorted
        c = 0
        for i in range(n):
            if first[i] != big:
                keys[c] = first[i]
                c += 1
        _heapsort(keys)
        for i in range(n):                        # a root's cluster: its key's rank (keys differ)
            if first[i] != big:
                lo, hi = 0, n_core_roots - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if keys[mid] < first[i]:
                        lo = mid + 1
                    else:
                        hi = mid
                cluster_of_root[i] = lo
        for i in range(n):
            label[i] = cluster_of_root[_root(parent, i)] if counts[i] >= min_samples else big
        for a in range(p0, p1):                   # border points: smallest neighbouring cluster
            core_a = counts[a - p0] >= min_samples
            for k in range(indptr[a], indptr[a + 1]):
                b = nbr[k]
                if b >= p1:
                    break
                if level[k] > j:
                    continue
                core_b = counts[b - p0] >= min_samples
                if core_a and not core_b:
                    label[b - p0] = min(label[b - p0], cluster_of_root[_root(parent, a - p0)])
                elif core_b and not core_a:
                    label[a - p0] = min(label[a - p0], cluster_of_root[_root(parent, b - p0)])
        for c in range(n_core_roots + 1):
            fill[c] = 0
        for i in range(n):                        # bucket the rows by cluster, then sort each
            if label[i] != big:
                fill[label[i] + 1] += 1
        for c in range(n_core_roots):
            sizes[n_clusters + c] = fill[c + 1]
            element[n_clusters + c] = e
            fill[c + 1] += fill[c]
        for i in range(n):
            if label[i] != big:
                rows[n_rows + fill[label[i]]] = order[p0 + i]
                fill[label[i]] += 1
        start = n_rows
        for c in range(n_core_roots):
            stop = start + sizes[n_clusters + c]
            _heapsort(rows[start:stop])
            start = stop
        n_rows = start
        n_clusters += n_core_roots
    return rows[:n_rows], sizes[:n_clusters], element[:n_clusters]
