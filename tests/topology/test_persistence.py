"""Ground-truth tests for topoact.topology (small clouds, seeded)."""
import json

import gudhi
import numpy as np
import pytest

from topoact.hashing import array_hash
from topoact.topology import (Cancelled, compute_persistence, distance_matrix, extended_diagrams,
                              graph_bootstrap, layer_distance_matrix, layer_persistence,
                              maxmin_landmarks, sparse_rips)
from topoact.topology.landmarks import Landmarks
from topoact.topology.pairwise import distances_to, prepare


def circle(rng, n=200, noise=0.08):
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=noise, size=(n, 2))


def n_sig(res, dim):
    return res.summaries[f"h{dim}"]["n_significant"]


def test_noisy_circle_one_significant_loop():
    res = compute_persistence(circle(np.random.default_rng(0)), n_landmarks=150, n_bootstrap=10)
    assert n_sig(res, 1) == 1
    assert n_sig(res, 0) == 1
    cyc = res.cycles[0]["vertices"]
    assert cyc is not None and len(cyc) >= 8
    # the cycle goes round the circle: its points cover all four quadrants
    pts = circle(np.random.default_rng(0))[res.cycles[0]["rows"]]
    ang = np.arctan2(pts[:, 1], pts[:, 0])
    assert len(np.unique(np.floor((ang + np.pi) / (np.pi / 2)))) == 4
    json.dumps(res.to_dict())  # JSON-able


def test_two_blobs_two_significant_h0_bars():
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(size=(100, 2)) * 0.2, rng.normal(size=(100, 2)) * 0.2 + [3, 0]]
    res = compute_persistence(X, n_landmarks=150, n_bootstrap=10)
    # one finite significant bar (the merge of the blobs) + the infinite component
    assert n_sig(res, 0) == 2
    assert res.summaries["h0"]["n_infinite"] == 1
    assert n_sig(res, 1) == 0


def test_torus_two_significant_loops():
    rng = np.random.default_rng(2)
    u, v = rng.uniform(0, 2 * np.pi, (2, 3000))
    X = np.c_[(2 + np.cos(v)) * np.cos(u), (2 + np.cos(v)) * np.sin(u), np.sin(v)]
    res = compute_persistence(X, n_landmarks=250, n_bootstrap=10)
    assert n_sig(res, 1) == 2


def test_uniform_noise_nothing_significant():
    X = np.random.default_rng(3).uniform(size=(200, 3))
    res = compute_persistence(X, n_landmarks=150, n_bootstrap=20)
    assert n_sig(res, 1) == 0
    assert n_sig(res, 0) == 1  # only the infinite component


@pytest.mark.parametrize("shape,metric", [((120, 3), "euclidean"), ((150, 40), "euclidean"),
                                          ((120, 20), "cosine")])
def test_equals_ripser(shape, metric):
    ripser = pytest.importorskip("ripser").ripser
    rng = np.random.default_rng(4)
    X = np.maximum(rng.normal(size=shape), 0).astype(np.float32) + 0.01
    ref = ripser(X.astype(np.float64), maxdim=1, metric=metric)["dgms"]
    for thr in ("auto", "enclosing"):
        res = sparse_rips(X, metric=metric, threshold=thr)
        for d in (0, 1):
            assert gudhi.bottleneck_distance(ref[d], res.diagrams[d]) < 1e-4


def test_truncated_threshold_reports_inf_and_exact_h0():
    ripser = pytest.importorskip("ripser").ripser
    X = circle(np.random.default_rng(5), n=150)
    ref = ripser(X, maxdim=1)["dgms"]
    res = sparse_rips(X, threshold=0.5)
    assert not res.exact and res.n_truncated == 1  # the big loop is alive at 0.5
    assert gudhi.bottleneck_distance(ref[0], res.diagrams[0]) < 1e-4  # H0 exact via MST (float32)


def test_maxmin_landmarks_are_farthest_points():
    X = np.random.default_rng(6).normal(size=(300, 5)).astype(np.float32)
    idx = maxmin_landmarks(X, 20, seed=1)
    assert len(set(idx.tolist())) == 20
    Y, sq = prepare(X, "euclidean")
    D = distances_to(Y, sq, np.arange(300), "euclidean")
    for t in range(1, 20):
        mind = D[:, idx[:t]].min(axis=1)
        assert mind[idx[t]] == pytest.approx(mind.max(), rel=1e-4)
    assert np.array_equal(idx, maxmin_landmarks(X, 20, seed=1))  # seeded


def test_landmarks_clamp_and_pca(caplog):
    X = np.random.default_rng(7).normal(size=(30, 8))
    lm = Landmarks(100, pca=3).fit(X)
    assert len(lm.indices_) == 30 and lm.points_.shape == (30, 3)
    assert "using all points" in caplog.text


def test_extended_persistence_cycle_graph_one_loop():
    n = 12
    g = {"nodes": [{"id": k, "members": [k], "mean_lens": float(np.cos(2 * np.pi * k / n))}
                   for k in range(n)],
         "edges": [{"source": k, "target": (k + 1) % n} for k in range(n)]}
    d = extended_diagrams(g)
    assert len(d["loops"]) == 1 and d["loops"][0].tolist() == pytest.approx([-1, 1])
    assert len(d["components"]) == 1
    # a path (no closing edge) has no loop
    g2 = dict(g, edges=g["edges"][:-1])
    assert len(extended_diagrams(g2)["loops"]) == 0
    # bootstrap with a rebuild that always returns the same cycle: band 0, loop significant
    boot = graph_bootstrap(g, lambda idx: g, n_points=n, n_bootstrap=3)
    assert boot["c"] == pytest.approx(0, abs=1e-12)
    assert any(f["family"] == "loops" and f["significant"] for f in boot["features"])


def test_distance_matrix_symmetric_zero_diagonal():
    rng = np.random.default_rng(8)
    dgms = [sparse_rips(rng.normal(size=(60, 3))).diagrams[1] for _ in range(3)]
    for metric in ("bottleneck", "wasserstein"):
        M = distance_matrix(dgms, distance=metric)
        assert np.allclose(M, M.T) and np.all(np.diag(M) == 0) and (M[~np.eye(3, dtype=bool)] > 0).all()


@pytest.mark.parametrize("bad,msg", [
    (np.full((50, 4), 3.0), "constant"),
    (np.where(np.arange(200).reshape(50, 4) == 7, np.nan, 1.0 * np.arange(200).reshape(50, 4)), "NaN"),
    (np.where(np.arange(200).reshape(50, 4) == 7, np.inf, 1.0 * np.arange(200).reshape(50, 4)), "inf"),
    (np.arange(10.0), "2-D"),
])
def test_bad_input(bad, msg):
    with pytest.raises(ValueError, match=msg):
        compute_persistence(bad, n_landmarks=20, n_bootstrap=0)


def test_bad_params():
    X = np.random.default_rng(9).normal(size=(40, 3))
    with pytest.raises(ValueError, match="metric"):
        sparse_rips(X, metric="manhattan")
    with pytest.raises(ValueError, match="n_landmarks"):
        maxmin_landmarks(X, 0)


class FakeRun:
    """A run in memory that satisfies :class:`topoact.store.RunLike` (results on disk)."""

    def __init__(self, tmp_path, acts, model_hash="abc"):
        self._acts, self.layers, self.n = acts, list(acts), len(next(iter(acts.values())))
        self.meta = {"model": {"hash": model_hash}}
        self.path = tmp_path
        self.probabilities = np.full((self.n, 2), 0.5, np.float32)

    def activations(self, layer):
        return self._acts[layer]

    def fingerprint(self, layer):
        return array_hash(np.ascontiguousarray(self._acts[layer]))

    def results_dir(self, kind, create=False):
        p = self.path / kind
        if create:
            p.mkdir(parents=True, exist_ok=True)
        return p

    def image(self, row):
        raise NotImplementedError

    def model(self):
        raise NotImplementedError


def test_fake_run_satisfies_the_protocol(tmp_path):
    from topoact.store import RunLike
    assert isinstance(FakeRun(tmp_path, {"a": np.zeros((3, 2), np.float32)}), RunLike)


def test_layer_persistence_cache_progress_cancel(tmp_path):
    from topoact.errors import UnknownLayerError
    rng = np.random.default_rng(10)
    run = FakeRun(tmp_path, {"a": circle(rng, 120).astype(np.float32),
                             "b": rng.normal(size=(120, 5)).astype(np.float32)})
    seen = []
    r1 = layer_persistence(run, "a", n_landmarks=80, n_bootstrap=3,
                           progress=lambda d, t, m="": seen.append((d / t, m)))
    fractions = [f for f, _ in seen]
    assert not r1.cached and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any("bootstrap" in m for _, m in seen) and "cache" not in seen[-1][1]
    assert len(list((tmp_path / "persistence").glob("a-*.json"))) == 1
    seen.clear()
    r2 = layer_persistence(run, "a", n_landmarks=80, n_bootstrap=3,
                           progress=lambda d, t, m="": seen.append((d / t, m)))
    assert r2.cached and r2.diagrams == r1.diagrams and seen == [(1.0, "loaded from the run's cache")]
    assert len(r1.landmarks) == 80
    with pytest.raises(Cancelled):
        layer_persistence(run, "b", n_landmarks=80, n_bootstrap=3, should_cancel=lambda: True)
    assert not list((tmp_path / "persistence").glob("b-*.json"))  # nothing cached when cancelled
    with pytest.raises(UnknownLayerError, match="unknown layer"):
        layer_persistence(run, "zzz")
    M = layer_distance_matrix(run, n_landmarks=80, n_bootstrap=0)
    A = M.array()
    assert M.labels == ["a", "b"] and np.allclose(A, A.T) and A[0, 1] > 0
    assert M.distance == "bottleneck" and M.metric == "euclidean"
    run2 = FakeRun(tmp_path / "r2", run._acts, model_hash="other")
    M2 = layer_distance_matrix([run, run2], ["a", "b"], n_landmarks=80, n_bootstrap=0)
    A2 = M2.array()
    assert A2.shape == (4, 4) and A2[0, 2] < 1e-9 and A2[1, 3] < 1e-9  # same data, same diagram


def test_one_cancel_exception_and_progress_protocol():
    import topoact.features
    import topoact.features.render
    import topoact.progress
    import topoact.topology._validation
    assert Cancelled is topoact.progress.Cancelled
    assert topoact.topology._validation.Cancelled is topoact.progress.Cancelled
    assert topoact.features.Cancelled is topoact.features.render.Cancelled is topoact.progress.Cancelled
    seen = []
    compute_persistence(circle(np.random.default_rng(20), 80), n_landmarks=60, n_bootstrap=2,
                        progress=lambda done, total, message="": seen.append((done, total, message)))
    assert all(t == 1.0 and 0 <= d <= 1 for d, t, _ in seen)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and seen[-1][:2] == (1.0, 1.0)


def test_cached_result_from_other_data_is_recomputed(tmp_path):
    """Fails on a cache keyed by parameters alone: a rewritten layer must not be served stale."""
    rng = np.random.default_rng(21)
    acts = {"a": circle(rng, 100).astype(np.float32)}
    run = FakeRun(tmp_path, acts)
    r1 = layer_persistence(run, "a", n_landmarks=60, n_bootstrap=0)
    acts["a"] = (acts["a"] * 3.0).astype(np.float32)            # the layer was rewritten
    r2 = layer_persistence(run, "a", n_landmarks=60, n_bootstrap=0)
    assert not r2.cached and r2.key == r1.key
    assert r2.enclosing_radius == pytest.approx(3 * r1.enclosing_radius, rel=1e-4)
    assert layer_persistence(run, "a", n_landmarks=60, n_bootstrap=0).cached


def test_persistence_config_key_and_typed_result(tmp_path):
    from topoact.errors import InvalidParameterError
    from topoact.topology import (PersistenceConfig, PersistenceResult, load_persistence,
                                  persistence_key)
    from topoact.topology.run_persistence import cached_persistence
    run = FakeRun(tmp_path, {"a": circle(np.random.default_rng(22), 90).astype(np.float32)})
    cfg = PersistenceConfig(n_landmarks=50, n_bootstrap=2)
    # the app asks the library for the key: config, dict or keywords give the same one
    key = persistence_key(run, "a", cfg)
    assert key == persistence_key(run, "a", n_landmarks=50, n_bootstrap=2)
    assert key == persistence_key(run, "a", {"n_landmarks": 50, "n_bootstrap": 2})
    assert key != persistence_key(run, "a", cfg.replace(metric="cosine"))
    res = layer_persistence(run, "a", cfg)
    assert isinstance(res, PersistenceResult) and res.key == key and res.layer == "a"
    assert [e["key"] for e in cached_persistence(run, "a")] == [key]
    loaded = load_persistence(run, "a", key)
    assert loaded.cached and loaded.diagrams == res.diagrams
    data = res.to_dict()
    assert data["kind"] == "persistence" and data["schema_version"] == 2 and "cached" not in data
    back = PersistenceResult.from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data and not back.cached
    assert back.diagram(1).shape == (len(res.diagrams[1]), 2)
    with pytest.raises(FileNotFoundError):
        load_persistence(run, "a", "0000000000000000")
    for bad, msg in [({"n_landmarks": 1}, "n_landmarks"), ({"metric": "manhattan"}, "metric"),
                     ({"alpha": 1.0}, "alpha"), ({"threshold": "high"}, "threshold"),
                     ({"max_dim": 3}, "max_dim")]:
        with pytest.raises(InvalidParameterError, match=msg):
            PersistenceConfig(**bad)


def test_distance_is_the_diagram_distance_metric_the_point_metric(tmp_path):
    rng = np.random.default_rng(23)
    run = FakeRun(tmp_path, {"a": circle(rng, 80).astype(np.float32) + 2,
                             "b": rng.normal(size=(80, 3)).astype(np.float32) + 2})
    w = layer_distance_matrix(run, distance="wasserstein", metric="cosine", n_landmarks=50,
                              n_bootstrap=0)
    assert w.distance == "wasserstein" and w.metric == "cosine"
    with pytest.warns(DeprecationWarning, match="distance"):
        old = layer_distance_matrix(run, metric="wasserstein", point_metric="cosine",
                                    n_landmarks=50, n_bootstrap=0)
    assert old.matrix == w.matrix and old.distance == "wasserstein" and old.metric == "cosine"
    b = layer_distance_matrix(run, metric="cosine", n_landmarks=50, n_bootstrap=0)
    assert b.distance == "bottleneck" and b.matrix != w.matrix
    with pytest.raises(ValueError, match="diagram distance"):
        layer_distance_matrix(run, distance="euclidean", n_landmarks=50, n_bootstrap=0)


# -- certified ripser engine (issue 5 follow-up) --------------------------------------------------

def relu_cloud(n, d=64, seed=12):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, 8)) * 1.5
    z = centers[rng.integers(0, 4, n)] + rng.normal(size=(n, 8))
    return np.maximum(z @ rng.normal(size=(8, d)) / np.sqrt(8) - 0.3, 0).astype(np.float32)


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_cone_free_edges_match_brute_force(kernel):
    from scipy.spatial.distance import pdist, squareform
    from topoact.topology.certificate import cone_free_edges
    from topoact.topology.mst import dense_mst
    X = relu_cloud(120)
    D = squareform(pdist(X.astype(np.float64))).astype(np.float32)
    mst, _ = dense_mst(D)
    in_mst = {tuple(sorted(map(int, e))) for e in mst}
    T = float(np.quantile(D[np.triu_indices(120, 1)], 0.05))
    expect = set()
    for a in range(120):
        for b in range(a + 1, 120):
            if D[a, b] <= T or (a, b) in in_mst:
                continue
            apex = np.maximum(D[a], D[b])
            apex[[a, b]] = np.inf
            if apex.min() >= D[a, b]:
                expect.add((a, b))
    i, j, w = cone_free_edges(D, T, mst, k=4, kernel=kernel)  # small k: exact fallback used
    assert set(zip(i.tolist(), j.tolist())) == expect and len(expect) > 0
    assert np.all(np.diff(w) >= 0) and np.all(w > T)


def test_dense_mst_equals_scipy():
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
    from scipy.spatial.distance import pdist, squareform
    from topoact.topology.mst import dense_mst
    D = squareform(pdist(relu_cloud(150))).astype(np.float32)
    edges, w = dense_mst(D)
    ref = np.sort(minimum_spanning_tree(D.astype(np.float64)).data)
    assert np.array_equal(w, ref)                          # the same weights, bit for bit
    assert np.array_equal(w, D[edges[:, 0], edges[:, 1]])  # each weight is its edge's length
    from scipy.sparse import coo_matrix                    # a spanning tree: connected, n - 1 edges
    ours = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=D.shape)
    assert connected_components(ours, directed=False)[0] == 1 and len(edges) == 149


@pytest.mark.parametrize("metric,engine", [("euclidean", "auto"), ("cosine", "auto"),
                                           ("euclidean", "gudhi-ripser")])
def test_ripser_engine_certified_exact_equals_ripser(metric, engine):
    ripser = pytest.importorskip("ripser").ripser
    X = relu_cloud(400) + 0.01
    ref = ripser(X.astype(np.float64), maxdim=1, metric=metric)["dgms"]
    res = sparse_rips(X, metric=metric, engine=engine)
    assert res.exact and res.n_truncated == 0
    if engine == "gudhi-ripser":                          # a genuinely sparse filtration
        assert res.threshold < res.enclosing_radius and res.n_edges < 0.5 * 400 * 399 / 2
    for d in (0, 1):
        assert gudhi.bottleneck_distance(ref[d], res.diagrams[d]) < 1e-6
    # every H1 bar has a birth edge of that length (used by representative cycles)
    assert len(res.pairs[1]) == len(res.diagrams[1])
    from topoact.topology.certificate import dense_distances
    D = dense_distances(X, metric)
    assert all(np.float32(b) == D[e[0], e[1]] for e, _, b, _ in res.pairs[1])


def test_gudhi_engine_still_available_and_equal():
    ripser = pytest.importorskip("ripser").ripser
    X = relu_cloud(150, d=16)
    ref = ripser(X.astype(np.float64), maxdim=1)["dgms"]
    res = sparse_rips(X, engine="gudhi", threshold="enclosing")
    assert gudhi.bottleneck_distance(ref[1], res.diagrams[1]) < 1e-4
    with pytest.raises(ValueError, match="engine"):
        sparse_rips(X, engine="dionysus")
    with pytest.raises(ValueError, match="max_dim=1"):
        sparse_rips(X, engine="ripser", max_dim=2)


def test_ripser_engine_without_dense_matrix_truncates_honestly():
    ripser = pytest.importorskip("ripser").ripser
    X = circle(np.random.default_rng(13), n=200)
    ref = ripser(X, maxdim=1)["dgms"]
    # no dense matrix -> no certificate: never claims exactness below the enclosing radius
    res = sparse_rips(X, max_dense_points=100, max_edges=2000)
    assert res.n_edges <= 2000 and not res.exact
    assert res.n_truncated == int(np.isinf(res.diagrams[1][:, 1]).sum())
    assert gudhi.bottleneck_distance(ref[0], res.diagrams[0]) < 1e-4   # H0 stays exact
    fin = res.diagrams[1][np.isfinite(res.diagrams[1][:, 1])]
    assert all(np.isclose(ref[1][:, 0], b, atol=1e-5).any() for b in fin[:, 0])


class GraphRun(FakeRun):
    def __init__(self, tmp_path, X, graph):
        super().__init__(tmp_path, {"a": X})
        self._graph = graph

    def graph(self, layer, key=None):
        return self._graph


def _mapper_graph(X, eps):
    from topoact.mapper import MapperConfig
    config = MapperConfig(lens="pca", n_intervals=8, overlap=0.3, eps=eps)
    m = config.mapper(n_jobs=1)
    g = m.fit_transform(X, layer="a", key="k1")
    g.params = dict(config.to_dict(), eps_resolved=m.eps_)
    return g


def test_mapper_graph_persistence_noisy_circle_loop_significant(tmp_path):
    from topoact.topology import mapper_graph_persistence
    rng = np.random.default_rng(14)
    X = circle(rng, n=600, noise=0.05).astype(np.float32)
    run = GraphRun(tmp_path, X, _mapper_graph(X, 0.2))
    seen = []
    out = mapper_graph_persistence(run, "a", None, 10,
                                   progress=lambda d, t, m="": seen.append((d / t, m)))
    loops = [f for f in out.features if f["family"] == "loops"]
    assert len(loops) == 1 and loops[0]["significant"]
    assert loops[0]["persistence"] > 1.5 and out.band < 0.5
    assert len(out.distances) == 10 and not out.cached
    assert seen[-1] == (1.0, "computed") and len(seen) == 11
    again = mapper_graph_persistence(run, "a", None, 10)
    assert again.cached and again.to_dict() == out.to_dict()
    assert not mapper_graph_persistence(run, "a", None, 10, seed=1).cached  # other params
    json.dumps(out.to_dict())
    # a noisy segment: no loop at all, and its component is the only significant feature
    t = rng.uniform(-1, 1, 600)
    S = (np.c_[t, 0.3 * t] + rng.normal(scale=0.05, size=(600, 2))).astype(np.float32)
    out2 = mapper_graph_persistence(GraphRun(tmp_path / "s", S, _mapper_graph(S, 0.2)), "a",
                                    None, 10)
    assert not [f for f in out2.features if f["family"] == "loops" and f["significant"]]
    with pytest.raises(ValueError, match="unknown layer"):
        mapper_graph_persistence(run, "zzz")


def test_persistence_cli_layers_list_and_deprecated_layer(tmp_path, monkeypatch):
    import argparse
    import io

    import topoact.store
    from topoact.topology.cli import add_persistence_arguments, run_persistence_command
    rng = np.random.default_rng(24)
    run = FakeRun(tmp_path, {"a": circle(rng, 80).astype(np.float32),
                             "b": rng.normal(size=(80, 3)).astype(np.float32)})
    monkeypatch.setattr(topoact.store, "open_run", lambda path: run)
    parser = add_persistence_arguments(argparse.ArgumentParser())
    out = io.StringIO()
    args = parser.parse_args([str(tmp_path), "--layers", "a,b", "--landmarks", "50",
                              "--bootstrap", "0"])
    assert run_persistence_command(args, out) == 0
    rows = [line.split() for line in out.getvalue().splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("a", "0"), ("a", "1"), ("b", "0"), ("b", "1")]
    with pytest.warns(DeprecationWarning, match="--layers"):
        run_persistence_command(parser.parse_args([str(tmp_path), "--layer", "b", "--landmarks",
                                                   "50", "--bootstrap", "0"]), io.StringIO())


def test_result_files_of_older_releases_are_recomputed_not_served(tmp_path):
    from topoact.topology import load_persistence, persistence_key
    run = FakeRun(tmp_path, {"a": circle(np.random.default_rng(25), 60).astype(np.float32)})
    fresh = layer_persistence(run, "a", n_landmarks=40, n_bootstrap=0)
    path = tmp_path / "persistence" / f"a-{fresh.key}.json"
    old = json.loads(path.read_text())
    for name in ("inputs", "kind", "schema_version", "key"):      # the dict of topoact <= 0.1
        old.pop(name)
    path.write_text(json.dumps(dict(old, version=1, cached=False)))
    with pytest.raises(FileNotFoundError, match="older topoact"):
        load_persistence(run, "a", persistence_key(run, "a", n_landmarks=40, n_bootstrap=0))
    again = layer_persistence(run, "a", n_landmarks=40, n_bootstrap=0)
    assert not again.cached and again.diagrams == fresh.diagrams
