"""Node memberships equal KeplerMapper 2.1.0's, and DBSCAN labels equal sklearn's."""
import numpy as np
import pytest
from sklearn.cluster import DBSCAN as SkDBSCAN

from topoact.mapper import DBSCAN, L2Norm, Mapper, UniformCover, auto_eps
from topoact.mapper.cluster import dbscan_labels
from topoact.mapper.kmapper_backend import fit_kmapper


def _relu_data(n, d=24, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, 8)) * 2
    z = centers[rng.integers(0, 4, n)] + rng.normal(size=(n, 8))
    return np.maximum(z @ rng.normal(size=(8, d)), 0).astype(np.float32)


def _multiset(members):
    return sorted(tuple(sorted(int(i) for i in m)) for m in members)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("n_intervals,overlap", [(5, 0.1), (12, 0.5), (40, 0.67), (25, 0.3)])
def test_members_equal_kmapper(metric, n_intervals, overlap):
    X = _relu_data(700, seed=n_intervals)
    X[:40] = X[40:80]                                   # duplicate points
    eps = auto_eps(X, 3, metric)
    lens = L2Norm().fit_transform(X)
    ours = Mapper(L2Norm(), UniformCover(n_intervals, overlap), DBSCAN(eps, metric, 3),
                  n_jobs=2).fit(X)
    ref = fit_kmapper(X, lens, n_intervals, overlap, eps, 3, metric)
    assert ours.n_nodes > 3
    assert _multiset(ours.members) == _multiset(ref)
    assert set(ours.member_sets()) == {frozenset(m.tolist()) for m in ref}


def test_points_exactly_on_interval_edges():
    # lens values on a grid that hits interval bounds exactly (range 0..10, 5 intervals, p=0.5)
    rng = np.random.default_rng(3)
    lens = np.repeat(np.linspace(0, 10, 41), 6)
    X = (rng.normal(size=(len(lens), 5)) * 0.05 + lens[:, None]).astype(np.float32)
    cover = UniformCover(5, 0.5).fit(lens)
    on_edge = np.isin(lens, np.concatenate([cover.lower_[:, 0], cover.upper_[:, 0]]))
    assert on_edge.any()
    ours = Mapper(L2Norm(), UniformCover(5, 0.5), DBSCAN(0.6, "euclidean", 3)).fit(
        X, lens_values=lens)
    ref = fit_kmapper(X, lens, 5, 0.5, 0.6, 3, "euclidean")
    assert _multiset(ours.members) == _multiset(ref)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_dbscan_labels_equal_sklearn_including_border_points(metric):
    X = _relu_data(1500, d=16, seed=7)
    X[5] = 0.0                                           # a zero row (cosine: distance 1)
    for scale in (0.6, 1.0, 1.6):
        eps = auto_eps(X, 4, metric, scale=scale)
        ours = dbscan_labels(X, None, eps, 4, metric)
        ref = SkDBSCAN(eps=eps, min_samples=4, metric=metric).fit_predict(X.astype(np.float64))
        np.testing.assert_array_equal(ours, ref)


def test_kmapper_backend_through_mapper():
    X = _relu_data(400, seed=11)
    m = Mapper(L2Norm(), UniformCover(8, 0.3), DBSCAN("auto", "euclidean", 3))
    g = m.fit(X)
    gk = Mapper(L2Norm(), UniformCover(8, 0.3), DBSCAN(m.eps_, "euclidean", 3),
                backend="kmapper").fit(X)
    assert _multiset(g.members) == _multiset(gk.members)
    assert g.intervals == gk.intervals
