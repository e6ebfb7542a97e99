"""The numba certificate kernel: the same cone-free edges as the numpy version, incl. ties."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from topoact.topology import _cone_kernel
from topoact.topology.certificate import cone_free_edges
from topoact.topology.mst import dense_mst


def brute_force(D, T, mst):
    n = len(D)
    in_mst = {tuple(sorted(map(int, e))) for e in mst}
    out = set()
    for a in range(n):
        for b in range(a + 1, n):
            if D[a, b] <= T or (a, b) in in_mst:
                continue
            apex = np.maximum(D[a], D[b])
            apex[[a, b]] = np.inf
            if apex.min() >= D[a, b]:                  # strict: a tie is no apex
                out.add((a, b))
    return out


@pytest.mark.parametrize("case", ["lattice", "outliers", "simplex"])
def test_numba_kernel_equals_numpy_and_brute_force(case):
    rng = np.random.default_rng(7)
    if case == "lattice":                               # many equal distances
        X = np.unique(rng.integers(0, 3, size=(90, 4)), axis=0).astype(np.float64)
    elif case == "outliers":                            # far points: long cone-free edges
        X = np.r_[rng.normal(size=(80, 5)), 12 * rng.normal(size=(12, 5))]
    else:                                               # all edges tie and are cone-free:
        X = np.r_[np.eye(24), 5 + rng.normal(scale=0.01, size=(3, 24))]  # rows with more
        assert _cone_kernel.WIDTH < 24                  # partners than the parallel pass keeps
    D = squareform(pdist(X)).astype(np.float32)
    mst, _ = dense_mst(D)
    for T in (0.0, float(np.median(D))):
        want = brute_force(D, T, mst)
        a = cone_free_edges(D, T, mst, k=3, kernel="numba")
        b = cone_free_edges(D, T, mst, k=3, kernel="numpy")
        assert set(zip(a[0].tolist(), a[1].tolist())) == want
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
    with pytest.raises(ValueError, match="kernel must be"):
        cone_free_edges(D, 0.0, mst, kernel="cuda")
