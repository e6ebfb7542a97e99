"""Connected components of an undirected edge list, in numpy.

Why not ``scipy.sparse.csgraph.connected_components``: it needs a sparse matrix built and
validated per call (~0.5 ms, paid once per cover element of a Mapper fit) and importing
``scipy.sparse`` costs 0.15-0.3 s, most of a first 10,000-row Mapper fit. This vectorised
union-find is as fast as scipy's or faster (graphs of local edges: 3,000 vertices / 60,000 edges
5.2 ms vs 5.1 ms, 20,000 / 400,000 34 ms vs 42 ms, 200,000 / 3 million 0.22 s vs 0.32 s; a
100,000-vertex path in random order, its worst case here: 13 ms vs 7 ms) and gives the same
labels.

Each round hooks the larger root of every edge joining two trees to the smaller one
(``np.minimum.at``), then compresses every path completely (``parent = parent[parent]`` until
nothing changes). Roots only ever point to smaller vertices, so there are no cycles, every root
is the smallest vertex of its tree, and the loop ends when no edge joins two trees.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["connected_components", "component_roots"]


def connected_components(n: int, a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Component number of each of ``n`` vertices joined by the edges ``(a[i], b[i])``.

    Parameters
    ----------
    n : number of vertices (0 .. n - 1)
    a, b : (E,) int arrays, the edge ends (any order, repeats and loops allowed)

    Returns
    -------
    (n,) int64 labels 0 .. C - 1, numbered by each component's smallest vertex (the numbering
    of scipy's ``connected_components``).
    """
    n = int(n)
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"edge ends differ in length: {a.shape[0]} and {b.shape[0]}")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise ValueError(f"edge ends must be vertices in [0, {n})")
    return np.unique(component_roots(n, a, b), return_inverse=True)[1].astype(np.int64, copy=False)


def component_roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each vertex's component as its smallest vertex (n,), for callers that need no 0 .. C - 1
    numbering (that costs a sort); ``a``, ``b`` are trusted to be valid edge ends."""
    index = np.int32 if n < 2 ** 31 else np.int64     # half the memory traffic of int64 gathers
    a, b = a.astype(index, copy=False), b.astype(index, copy=False)
    parent = np.arange(n, dtype=index)
    ra, rb = a, b                                 # every vertex is its own root at first
    while len(a):
        joins = ra != rb                          # edges still joining two trees
        if not joins.all():
            a, b, ra, rb = a[joins], b[joins], ra[joins], rb[joins]
        if not len(a):
            break
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        ra, rb = parent[a], parent[b]
    return parent
