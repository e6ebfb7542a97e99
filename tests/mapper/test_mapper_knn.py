"""k-th neighbour distances (auto eps, KNN lens) against a dense float64 reference."""
import numpy as np
import pytest
from sklearn.metrics import pairwise_distances

from topoact.mapper import KNNDistance
from topoact.mapper.cluster import kdistance_sample, kth_neighbor_distance


def _reference(Q, R, k, metric, q_index=None):
    D = pairwise_distances(np.asarray(Q, np.float64), np.asarray(R, np.float64), metric=metric)
    if metric == "cosine":             # sklearn: zero rows at distance 1 from everything
        zq = ~np.any(Q, axis=1)
        zr = ~np.any(R, axis=1)
        D[zq] = 1.0
        D[:, zr] = 1.0
    if q_index is not None:
        hit = q_index >= 0
        D[np.flatnonzero(hit), q_index[hit]] = np.inf
    return np.sort(D, axis=1)[:, k - 1]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_kth_distance_matches_dense_reference(metric):
    rng = np.random.default_rng(3)
    X = np.maximum(rng.normal(size=(700, 16)), 0).astype(np.float32)
    X[:20] = 0.0                                       # dead (all-zero) ReLU rows
    X[30:60] = X[60:90]                                # duplicates
    for k in (1, 2, 5):
        got = kth_neighbor_distance(X, X, k, metric, exclude_self=True, ref_chunk=256)
        np.testing.assert_allclose(got, _reference(X, X, k, metric, np.arange(len(X))),
                                   rtol=1e-5, atol=1e-6)
        Q = X[::7] + 0.01
        np.testing.assert_allclose(kth_neighbor_distance(Q, X, k, metric, ref_chunk=300),
                                   _reference(Q, X, k, metric), rtol=1e-5, atol=1e-6)
    idx = np.sort(np.random.default_rng(0).choice(len(X), 100, replace=False))   # its sample
    kd = kdistance_sample(X, 3, metric, sample_size=100, seed=0)
    np.testing.assert_allclose(np.sort(kd), np.sort(_reference(X[idx], X, 2, metric, idx)),
                               rtol=1e-5, atol=1e-6)


def test_knn_lens_on_a_sample_and_deprecated_random_state():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 8)).astype(np.float32)
    lens = KNNDistance(4, max_exact=200, seed=1).fit(X)
    ref = X[lens.reference_index_]
    pos = np.full(len(X), -1)
    pos[lens.reference_index_] = np.arange(len(ref))
    np.testing.assert_allclose(lens.transform(X), _reference(X, ref, 4, "euclidean", pos),
                               rtol=1e-5, atol=1e-6)
    with pytest.warns(DeprecationWarning, match="random_state"):
        old = KNNDistance(4, max_exact=200, random_state=1).fit(X)
    np.testing.assert_array_equal(old.reference_index_, lens.reference_index_)
