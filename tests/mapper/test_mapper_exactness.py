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
                  n_jobs=2).fit_transform(X)
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
    ours = Mapper(L2Norm(), UniformCover(5, 0.5), DBSCAN(0.6, "euclidean", 3)).fit_transform(
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


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_dbscan_labels_streaming_pairs_equal_sklearn(metric, monkeypatch):
    """Large elements stream their pairs into PairStreamLabels (O(n) memory): same labels."""
    from topoact.mapper import cluster

    monkeypatch.setattr(cluster, "STREAM_MIN_ROWS", 0)
    X = _relu_data(1500, d=16, seed=8)
    X[5] = 0.0
    for scale in (0.6, 1.6):
        eps = auto_eps(X, 4, metric, scale=scale)
        ref = SkDBSCAN(eps=eps, min_samples=4, metric=metric).fit_predict(X.astype(np.float64))
        np.testing.assert_array_equal(dbscan_labels(X, None, eps, 4, metric), ref)


def test_pair_stream_labels_fold_and_hold_like_all_pairs_at_once():
    from topoact.mapper.cluster import PairStreamLabels, labels_from_pairs, neighbor_pairs

    X = _relu_data(900, d=12, seed=9)
    a, b, ok = neighbor_pairs(X, None, auto_eps(X, 3, "euclidean", scale=1.3))
    ok = ok.copy()
    ok[::7] = False                                  # points that are not their own neighbour
    for min_samples in (2, 3, 5):
        stream = PairStreamLabels(len(X), min_samples, fold_edges=50)  # folds many times
        order = np.random.default_rng(min_samples).permutation(len(a))
        for block in np.array_split(order, 37):      # pairs in any order, any orientation
            stream(b[block], a[block]) if min_samples == 3 else stream(a[block], b[block])
        held = sum(len(h[0]) for h in stream.held)
        assert held < min_samples * len(X)          # the O(n) bound of the held pairs
        np.testing.assert_array_equal(stream.labels(ok), labels_from_pairs(len(X), a, b, ok, min_samples))


def test_kmapper_backend_through_mapper():
    X = _relu_data(400, seed=11)
    m = Mapper(L2Norm(), UniformCover(8, 0.3), DBSCAN("auto", "euclidean", 3))
    g = m.fit_transform(X)
    gk = Mapper(L2Norm(), UniformCover(8, 0.3), DBSCAN(m.eps_, "euclidean", 3),
                backend="kmapper").fit_transform(X)
    assert _multiset(g.members) == _multiset(gk.members)
    assert g.intervals == gk.intervals


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("prune", ["window", "projection"])
def test_neighbor_pairs_equal_sklearn_radius_graph(metric, prune):
    """Both pruning paths (projection lower bound + PCA-tree order, triangle window) return
    exactly sklearn's eps-neighbour pairs, on a row subset with duplicates and a zero row."""
    from sklearn.neighbors import radius_neighbors_graph
    from topoact.mapper.pairs import neighbor_pairs
    X = _relu_data(1600, d=48, seed=21)
    X[10:60] = X[100:150]
    X[3] = 0.0
    rows = np.sort(np.random.default_rng(2).choice(len(X), 1400, replace=False))
    for scale in (0.7, 1.3):
        eps = auto_eps(X, 3, metric, scale=scale)
        a, b, ok = neighbor_pairs(X, rows, eps, metric, prune=prune, leaf_size=32)
        assert np.all(a < b)
        ref = radius_neighbors_graph(X[rows].astype(np.float64), eps, metric=metric).tocoo()
        upper = ref.row < ref.col
        assert set(zip(a.tolist(), b.tolist())) == set(zip(ref.row[upper].tolist(),
                                                          ref.col[upper].tolist()))
        assert len(a) > len(rows)                        # a non-trivial neighbourhood graph


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_search_is_the_same_for_every_dtype_and_for_tiny_elements(dtype):
    """A float32 X is gathered once and centred in place, other dtypes are read twice: same
    pairs; the projection path also works on an element with fewer rows than its basis has
    components (it has as many components as rows then)."""
    from topoact.mapper.pairs import neighbor_pairs
    X = _relu_data(700, d=40, seed=8).astype(dtype)
    eps = auto_eps(X, 3, "euclidean")
    rows = np.arange(5, 700, 2)
    ref = neighbor_pairs(X.astype(np.float64), rows, eps, prune="window")
    assert len(ref[0]) > len(rows)
    for prune in ("window", "projection"):
        got = neighbor_pairs(X, rows, eps, prune=prune)
        assert set(zip(*got[:2])) == set(zip(*ref[:2]))
    tiny = neighbor_pairs(X, rows[:6], 10 * eps, prune="projection")     # 6 rows, k = 6
    assert set(zip(*tiny[:2])) == {(i, j) for i in range(6) for j in range(i + 1, 6)}


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_projection_pruned_mapper_equals_kmapper(metric, monkeypatch):
    """Force the projection path for every element (normally only >= 1024 rows)."""
    from topoact.mapper import pairs
    monkeypatch.setattr(pairs, "PRUNE_MIN_ROWS", 0)
    X = _relu_data(900, d=64, seed=5)
    X[:30] = X[30:60]
    eps = auto_eps(X, 3, metric)
    lens = L2Norm().fit_transform(X)
    ours = Mapper(L2Norm(), UniformCover(4, 0.4), DBSCAN(eps, metric, 3), n_jobs=2).fit_transform(X)
    ref = fit_kmapper(X, lens, 4, 0.4, eps, 3, metric)
    assert ours.n_nodes >= 4
    assert _multiset(ours.members) == _multiset(ref)


def test_clusters_from_labels_gives_each_label_its_rows_in_order_and_drops_noise():
    from topoact.mapper.cluster import clusters_from_labels

    rng = np.random.default_rng(3)
    rows = rng.permutation(1000)[:300]
    labels = rng.integers(-1, 12, 300)
    labels[labels == 5] = 6                       # a gap in the numbering
    got = clusters_from_labels(rows, labels)
    want = [np.sort(rows[labels == c]) for c in np.unique(labels) if c >= 0]
    assert len(got) == len(want) == 11
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert clusters_from_labels(rows[:3], np.full(3, -1)) == []
