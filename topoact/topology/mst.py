"""Exact H0 persistence from a minimum spanning tree, without building any complex.

For a Vietoris-Rips (or any flag) filtration, the finite H0 deaths are exactly the MST edge
weights (Kruskal's algorithm *is* the H0 persistence algorithm). We take the minimum spanning
forest of the thresholded sparse edge list (scipy), which equals the restriction of the full
MST to edges <= threshold, and then join the remaining components exactly with Borůvka rounds:
each round is one blockwise pass that finds, for every component, its shortest edge to another
component (float32 blocks, no N x N matrix). Usually the threshold graph is connected or nearly
so and no round is needed.

On a dense matrix (the certified engines have one) :func:`dense_mst` runs the compiled Prim
loop of the H1 reduction (:func:`._h1_kernel.prim_total_order`).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from .pairwise import distances_to

__all__ = ["mst_edges", "h0_diagram", "dense_mst"]


def _find(parent, a):
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:
        parent[a], a = root, parent[a]
    return root


def mst_edges(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, Y: np.ndarray | None = None,
              sq: np.ndarray | None = None, metric: str = "euclidean",
              block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Minimum spanning tree of the complete graph, given the sparse edges below a threshold.

    Parameters
    ----------
    n : int
        Number of points.
    i, j, w : arrays of shape (m,)
        An edge list containing *all* edges with weight <= some threshold (a prefix of the
        sorted complete edge list).
    Y, sq : arrays (n, d) and (n,), optional
        Prepared points (see :func:`pairwise.prepare`), needed only when the threshold graph
        is disconnected.
    metric : {'euclidean', 'cosine'}
        Point metric of ``Y``.
    block : int
        Rows per distance block of a Borůvka pass.

    Returns
    -------
    edges : int64 (n - 1, 2) and weights : float64 (n - 1,)
        Sorted by weight.
    """
    # zero-length edges (duplicate points) must survive scipy's "0 means no edge" convention
    eps = np.finfo(np.float64).tiny
    g = coo_matrix((np.asarray(w, np.float64) + eps, (i, j)), shape=(n, n)).tocsr()
    t = minimum_spanning_tree(g).tocoo()
    ei, ej, ew = list(t.row), list(t.col), list(t.data - eps)
    ncomp, labels = connected_components(t, directed=False)
    while ncomp > 1:
        if Y is None:
            raise ValueError("threshold graph is disconnected and no points were given")
        best_w = np.full(ncomp, np.inf)
        best_e = np.zeros((ncomp, 2), dtype=np.int64)
        for s in range(0, n, block):
            rows = np.arange(s, min(n, s + block))
            D = distances_to(Y, sq, rows, metric)
            D[labels[rows][:, None] == labels[None, :]] = np.inf
            jmin = D.argmin(axis=1)
            dmin = D[np.arange(len(rows)), jmin]
            for r, jj, dd in zip(rows, jmin, dmin):
                c = labels[r]
                if dd < best_w[c]:
                    best_w[c], best_e[c] = dd, (r, jj)
        parent = list(range(ncomp))
        for c in np.argsort(best_w, kind="stable"):
            a, b = best_e[c]
            ra, rb = _find(parent, labels[a]), _find(parent, labels[b])
            if ra != rb:
                parent[ra] = rb
                ei.append(a), ej.append(b), ew.append(best_w[c])
        roots = np.array([_find(parent, c) for c in range(ncomp)])
        _, labels = np.unique(roots[labels], return_inverse=True)
        ncomp = labels.max() + 1
    order = np.argsort(ew, kind="stable")
    edges = np.c_[np.asarray(ei, np.int64), np.asarray(ej, np.int64)][order]
    return edges, np.asarray(ew, np.float64)[order]


def h0_diagram(weights: np.ndarray) -> np.ndarray:
    """H0 diagram from MST weights: births 0, deaths the weights, plus one [0, inf].

    Parameters
    ----------
    weights : array of shape (n - 1,)
        MST edge lengths.

    Returns
    -------
    ndarray of shape (k, 2)
        Zero-length bars (duplicate points) are dropped, as ripser and gudhi do.
    """
    w = np.asarray(weights, np.float64)
    w = np.sort(w[w > 0])
    dgm = np.zeros((len(w) + 1, 2))
    dgm[:-1, 1] = w
    dgm[-1, 1] = np.inf
    return dgm


def dense_mst(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MST of a dense (n, n) distance matrix: the compiled Prim loop of the H1 reduction
    (:func:`._h1_kernel.prim_total_order`, O(n^2) time, no copy of ``D``), whose tree under the
    total edge order (length, then index) is also the one the reduction clears, so every
    engine on a dense matrix shares one MST (why not scipy: see :mod:`topoact.mst`).

    Parameters
    ----------
    D : ndarray of shape (n, n)
        Symmetric distances (float32 or float64).

    Returns
    -------
    edges : int64 (n - 1, 2) and weights : float64 (n - 1,)
        Sorted by weight, as :func:`mst_edges` returns them.
    """
    from ._h1_kernel import prim_total_order

    edges = prim_total_order(np.ascontiguousarray(D))
    weights = D[edges[:, 0], edges[:, 1]].astype(np.float64)
    order = np.argsort(weights, kind="stable")
    return edges[order], weights[order]

