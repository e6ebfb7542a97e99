"""The one Prim loop (topoact.mst) against scipy: persistence H0 and Mapper single linkage."""
import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform

from topoact.mst import prim_mst


def _same_partition(a, b):
    """True when two label vectors split the rows the same way (label names aside)."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(a)) == len(set(b))


def test_prim_weights_equal_scipy_including_duplicate_points():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    X[10] = X[11]                                       # a duplicate point: a zero-length edge
    D = squareform(pdist(X))
    edges, w = prim_mst(len(X), D.__getitem__)
    # scipy reads 0 as "no edge": shift every distance by one, then back
    ref = np.sort(minimum_spanning_tree(D + 1.0 - np.eye(len(X))).data - 1.0)
    assert np.allclose(np.sort(w), ref, rtol=0, atol=1e-12) and w.min() == 0.0
    assert np.array_equal(w, D[edges[:, 0], edges[:, 1]])
    assert len({int(v) for v in edges[:, 1]}) == len(X) - 1 and 0 not in set(edges[:, 1].tolist())


def test_prim_trivial_sizes():
    for n in (0, 1):
        edges, w = prim_mst(n, lambda v: np.zeros(n))
        assert edges.shape == (0, 2) and w.shape == (0,)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_single_linkage_equals_scipy_single_linkage(metric):
    from topoact.mapper.cluster import SingleLinkage
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(size=(60, 5)) * 0.2 + 1, rng.normal(size=(50, 5)) * 0.2 - 1,
              rng.normal(size=(40, 5)) * 0.2 + [1, -1, 1, -1, 1]].astype(np.float32)
    Z = linkage(X.astype(np.float64), method="single", metric=metric)
    for cut in np.quantile(Z[:, 2], [0.5, 0.9, 0.99]):
        cut = float(cut) * (1 + 1e-9)                 # between merge heights, never on one
        ours = SingleLinkage(threshold=cut, metric=metric).prepare(X).labels(X, np.arange(len(X)))
        ref = fcluster(Z, cut, criterion="distance")
        assert _same_partition(ours, ref)
