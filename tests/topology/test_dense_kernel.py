"""The dense-matrix kernels: the same values as the numpy computations they replace."""
from __future__ import annotations

import numpy as np
import pytest

from topoact.topology._dense_kernel import count_at_most, edges_at_most, knn_rows
from topoact.topology.certificate import dense_distances
from topoact.topology.pairwise import distances_to, prepare


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("n", [301, 64])                 # several blocks / tiles, odd and even
def test_dense_distances_are_the_float64_rows_rounded_once(metric, n):
    X = np.abs(np.random.default_rng(2).normal(size=(n, 20))).astype(np.float32)
    X[5] = X[3]                                           # a zero distance off the diagonal
    D = dense_distances(X, metric, block=64)
    Y, sq = prepare(np.asarray(X, np.float64), metric, dtype=np.float64)
    ref = distances_to(Y, sq, np.arange(n), metric).astype(np.float32)
    iu = np.triu_indices(n, 1)
    assert np.array_equal(D[iu], ref[iu])                 # the values of the numpy rows
    assert np.array_equal(D, D.T) and not D.diagonal().any()
    assert D[3, 5] == 0


def test_knn_rows_and_edges_at_most_equal_numpy():
    rng = np.random.default_rng(4)
    X = np.round(rng.normal(size=(157, 3)) * 2)           # integer grid: many ties
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1)).astype(np.float32)
    for k in (1, 5, 156):
        nn = knn_rows(D, k)
        off = D + np.diag(np.full(157, np.inf, np.float32))
        want = np.sort(off, axis=1)[:, :k]
        assert np.array_equal(np.take_along_axis(D, nn, axis=1), want)   # nearest first
        assert not (nn == np.arange(157)[:, None]).any()                 # never the row itself
    for T in (0.0, 2.0, float(np.median(D)), np.inf):
        assert count_at_most(D, T) == int(np.count_nonzero(np.triu(D <= T, 1)))
        i, j = edges_at_most(D, T)
        assert all(np.array_equal(x, y) for x, y in zip((i, j), np.nonzero(np.triu(D <= T, 1))))


def test_prim_total_order_is_kruskal_under_the_total_edge_order():
    from topoact.topology._h1_kernel import prim_total_order
    X = np.unique(np.random.default_rng(1).integers(0, 4, size=(120, 3)), axis=0)   # ties
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1)).astype(np.float32)
    n = len(D)
    a, b = np.triu_indices(n, 1)
    order = np.lexsort((a + b * (b - 1) // 2, D[a, b]))  # (length, edge index)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    want = set()
    for e in order:
        ra, rb = find(a[e]), find(b[e])
        if ra != rb:
            parent[ra] = rb
            want.add((int(a[e]), int(b[e])))
    got = prim_total_order(D)
    assert {(int(min(e)), int(max(e))) for e in got} == want and len(got) == n - 1
