"""Graph JSON shape and round trip, statistics, auto eps edge cases, caching, export."""
import json

import numpy as np
import pytest

from topoact.mapper import (DBSCAN, KNNDistance, L2Norm, Mapper, MapperConfig, MapperGraph, PredictionLens,
                            SingleLinkage, UniformCover, auto_eps, build_graph,
                            node_members_csv, save_kmapper_html)
from topoact.mapper.cover import UniformCover as UC
from topoact.mapper.lens import L1Norm, PCALens, UMAPLens


def _data(n=400, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = np.maximum(rng.normal(size=(n, d)) + rng.integers(0, 3, n)[:, None], 0).astype(np.float32)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.7, y, (y + 1) % 4)
    return X, y, pred


def test_json_shape_and_round_trip():
    X, y, pred = _data()
    attrs = {"angle": np.linspace(0, 2 * np.pi, len(y), endpoint=False), "size": np.arange(len(y))}
    g = Mapper(L2Norm(), UniformCover(6, 0.3), DBSCAN("auto")).fit_transform(
        X, labels=y, predictions=pred, attributes=attrs,
        attribute_kinds={"angle": "circular", "size": "linear"}, layer="fc", key="abc")
    d = json.loads(json.dumps(g.to_dict()))
    assert set(d) == {"kind", "schema_version", "layer", "key", "params", "n_points", "nodes",
                      "edges", "node_means"}
    assert d["schema_version"] == 1 and d["kind"] == "mapper_graph"
    assert d["node_means"] == "abc.node_means.npy"
    assert [n["id"] for n in d["nodes"]] == list(range(len(d["nodes"])))
    for n in d["nodes"]:
        assert n["members"] == sorted(n["members"])
        assert all(0 <= r < len(X) for r in n["members"])
        assert n["size"] == len(n["members"]) == sum(n["label_counts"].values())
        counts = np.bincount(y[n["members"]], minlength=4)
        assert n["majority_label"] == int(np.argmax(counts))
        assert n["purity"] == pytest.approx(counts.max() / n["size"])
        assert n["accuracy"] == pytest.approx(np.mean(y[n["members"]] == pred[n["members"]]))
        assert n["mean_norm"] == pytest.approx(np.linalg.norm(X[n["members"]], axis=1).mean(), rel=1e-5)
        assert 0 <= n["attributes"]["angle"]["mean"] < 2 * np.pi
        assert isinstance(n["interval"], int)
    for e in d["edges"]:
        a, b = set(d["nodes"][e["source"]]["members"]), set(d["nodes"][e["target"]]["members"])
        assert e["shared"] == len(a & b) > 0
        assert e["weight"] == pytest.approx(len(a & b) / len(a | b))
    np.testing.assert_allclose(g.node_means[0], X[g.members[0]].mean(0), rtol=1e-5, atol=1e-6)
    back = MapperGraph.from_dict(d)
    assert back.to_dict() == d
    assert back.n_cycles == g.n_cycles == g.n_edges - g.n_nodes + g.n_components


def test_edges_are_all_intersecting_pairs():
    X, y, _ = _data(300, seed=2)
    g = Mapper(L2Norm(), UniformCover(8, 0.5), DBSCAN("auto")).fit_transform(X)
    expected = {(i, j) for i in range(g.n_nodes) for j in range(i + 1, g.n_nodes)
                if set(g.members[i].tolist()) & set(g.members[j].tolist())}
    assert set(zip(g.sources.tolist(), g.targets.tolist())) == expected


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_auto_eps_degenerate_inputs(metric):
    with pytest.raises(ValueError, match="empty"):
        auto_eps(np.zeros((0, 5), np.float32), 3, metric)
    with pytest.raises(ValueError, match="empty"):
        Mapper().fit(np.zeros((0, 5), np.float32))
    const = np.ones((50, 4), np.float32)
    g = Mapper(L2Norm(), UniformCover(5, 0.3), DBSCAN("auto", metric, 3)).fit_transform(const)
    # constant layer: every interval holds every point, as one cluster
    assert g.n_nodes == 5 and all(len(m) == 50 for m in g.members)
    rng = np.random.default_rng(0)
    dup = np.repeat(rng.normal(size=(4, 6)).astype(np.float32) + 3, 60, axis=0)
    dup[:3] += rng.normal(size=(3, 6)).astype(np.float32) * 0.01
    eps = auto_eps(dup, 3, metric)
    assert eps > 0
    g = Mapper(L2Norm(), UniformCover(4, 0.3), DBSCAN("auto", metric, 3)).fit_transform(dup)
    assert g.n_nodes >= 1
    covered = np.unique(np.concatenate(g.members))
    assert len(covered) >= 200


def test_bad_parameters_raise_clear_errors():
    X, _, _ = _data(50)
    with pytest.raises(ValueError, match="overlap"):
        Mapper(cover=UC(5, 1.5)).fit(X)
    with pytest.raises(ValueError, match="metric"):
        Mapper(clusterer=DBSCAN(metric="manhattan")).fit(X)
    with pytest.raises(ValueError, match="eps"):
        Mapper(clusterer=DBSCAN(eps=-1)).fit(X)
    with pytest.raises(ValueError, match="labels"):
        Mapper().fit(X, labels=np.zeros(3))
    with pytest.raises(ValueError, match="probabilities"):
        Mapper(lens=PredictionLens("max")).fit(X)


def test_lens_values_cached_when_only_cover_changes(monkeypatch):
    X, _, _ = _data(300)
    m = Mapper(L2Norm(), UniformCover(5, 0.3), DBSCAN("auto"))
    m.fit(X)
    calls = []
    monkeypatch.setattr(L2Norm, "transform", lambda self, X: calls.append(1))
    import topoact.mapper.cluster as cl
    monkeypatch.setattr(cl, "kdistance_sample", lambda *a, **k: calls.append(2))
    m.set_params(cover=UniformCover(9, 0.5))
    g = m.fit_transform(X)
    assert calls == [] and g.n_nodes > 0


def test_lenses_and_other_clusterers():
    X, y, _ = _data(300, seed=5)
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), size=len(X))
    np.testing.assert_allclose(L1Norm().fit_transform(X), np.abs(X).sum(1), rtol=1e-6)
    np.testing.assert_allclose(PredictionLens("max").fit_transform(X, probabilities=P), P.max(1))
    ent = PredictionLens("entropy").fit_transform(X, probabilities=P)
    np.testing.assert_allclose(ent, -(P * np.log(P)).sum(1))
    np.testing.assert_allclose(PredictionLens("class", 2).fit_transform(X, probabilities=P), P[:, 2])
    two = PCALens(2).fit_transform(X)
    assert two.shape == (300, 2)
    np.testing.assert_allclose(np.cov(two.T)[0, 1], 0, atol=1e-6)
    g2 = Mapper(PCALens(2), UniformCover(4, 0.3), DBSCAN("auto")).fit_transform(X, labels=y)
    assert all(isinstance(n["interval"], list) for n in g2.to_dict()["nodes"])
    knn = KNNDistance(3).fit_transform(X)
    assert knn.shape == (300,) and np.all(knn > 0)
    gs = Mapper(L2Norm(), UniformCover(5, 0.3), SingleLinkage()).fit_transform(X)
    assert gs.n_nodes >= 5
    from sklearn.cluster import AgglomerativeClustering
    ga = Mapper(L2Norm(), UniformCover(5, 0.3), AgglomerativeClustering(n_clusters=2)).fit_transform(X)
    assert ga.n_nodes == 10
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="umap-learn"):
            UMAPLens().fit(X)


def test_single_linkage_largest_gap_splits_two_groups():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(40, 3)) * 0.1, rng.normal(size=(40, 3)) * 0.1 + 5].astype(np.float32)
    lab = SingleLinkage().prepare(X).labels(X, np.arange(80))
    assert len(set(lab)) == 2 and len(set(lab[:40])) == 1 and lab[0] != lab[79]


def test_build_graph_helper_and_exports(tmp_path):
    X, y, pred = _data(300)
    g = build_graph(X, labels=y, predictions=pred, n_intervals=6, overlap=0.3)
    means = g.node_means
    d = g.to_dict()
    assert means.shape == (len(d["nodes"]), X.shape[1]) and means.dtype == np.float32
    assert g.key == MapperConfig(n_intervals=6, overlap=0.3).key == d["key"]
    csv = node_members_csv(d, 0, ids=[f"img{i}" for i in range(300)], labels=y, predictions=pred,
                           class_names=["a", "b", "c", "d"])
    lines = csv.strip().splitlines()
    assert lines[0].startswith("row,id,path,label")
    assert len(lines) == 1 + d["nodes"][0]["size"]
    html = save_kmapper_html(d, tmp_path / "g.html", color_values=y)
    text = html.read_text()
    assert "<html" in text.lower() and len(text) > 1000


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_umap_lens_exact_knn_gives_umap_learns_own_fuzzy_graph(metric):
    """Below 4,096 rows the lens hands umap-learn an exact BLAS k-NN instead of letting it compute
    every pairwise distance through a Python callable; the fuzzy graph must be the one umap-learn
    builds itself."""
    umap = pytest.importorskip("umap")
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(size=(150, 20)), rng.normal(size=(150, 20)) + 3].astype(np.float32) * 10
    lens = UMAPLens(n_components=2, metric=metric).fit(X)
    own = umap.UMAP(n_components=2, metric=metric, n_jobs=1, random_state=0).fit(X)
    assert lens.model_.graph_.nnz == own.graph_.nnz
    assert abs(lens.model_.graph_ - own.graph_).max() < 1e-4
    assert lens.transform(X).shape == (300, 2)


def test_graph_edges_equal_the_sparse_product_of_memberships():
    """Edges from sorted memberships equal the upper triangle of M^T M (the former method),
    on random nodes where a row can be in up to 5 nodes."""
    from scipy import sparse

    from topoact.mapper.graph import graph_edges, membership_matrix

    rng = np.random.default_rng(3)
    N = 400
    members = [np.unique(rng.integers(0, N, rng.integers(1, 60))) for _ in range(40)]
    s, t, shared, jac = graph_edges(members, N)
    M = membership_matrix(members, N)
    C = sparse.triu((M.T @ M).tocsr(), k=1).tocoo()
    order = np.lexsort((C.col, C.row))
    np.testing.assert_array_equal(s, C.row[order])
    np.testing.assert_array_equal(t, C.col[order])
    np.testing.assert_array_equal(shared, C.data[order])
    sizes = np.array([len(m) for m in members])
    np.testing.assert_allclose(jac, shared / (sizes[s] + sizes[t] - shared))
    assert len(s) > 50 and M.sum(axis=1).max() >= 3       # the case is not trivial


def test_importing_the_mapper_does_not_import_scipy():
    """A first small fit is mostly imports: topoact.mapper stays free of scipy until a step
    needs it (scipy.sparse alone took 0.15-0.3 s)."""
    import subprocess
    import sys

    code = ("import sys; import topoact.mapper as m, numpy as np; "
            "X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32); "
            "m.Mapper(m.L2Norm(), m.UniformCover(5, 0.3), m.DBSCAN(2.0), compute_node_means=False).fit(X); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('scipy', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
