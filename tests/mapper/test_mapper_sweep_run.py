"""Sweep summaries equal individual fits; run_graphs on a tiny fake run (design.md Run API)."""
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from topoact.mapper import (DBSCAN, EmptyGraphError, L2Norm, Mapper, MapperConfig, MapperGraph,
                            UniformCover, build_run_graph, locate_points, sweep, sweep_run)
from topoact.mapper.cli import add_mapper_arguments, add_sweep_arguments, config_from_args


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(3, 6)) * 2
    lab = rng.integers(0, 3, n)
    X = np.maximum((c[lab] + rng.normal(size=(n, 6))) @ rng.normal(size=(6, 20)), 0)
    return X.astype(np.float32), lab


@pytest.mark.parametrize("clustering", ["numpy", "kernel"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_sweep_matches_individual_fits(metric, clustering, monkeypatch):
    monkeypatch.setattr(importlib.import_module("topoact.mapper.sweep"), "KERNEL_MIN_ROWS",
                        0 if clustering == "kernel" else 10 ** 9)
    X, y = _data()
    res = sweep(X, n_intervals=(5, 12), overlaps=(0.2, 0.5), eps_scales=(0.8, 1.2),
                metric=metric, labels=y, return_graphs=True)
    assert len(res) == 8
    for r in res:
        g = Mapper(L2Norm(), UniformCover(r["n_intervals"], r["overlap"]),
                   DBSCAN(r["eps"], metric, 3), compute_node_means=False).fit_transform(X, labels=y)
        assert [m.tolist() for m in g.members] == [m.tolist() for m in r["graph"].members]
        s = g.summary()
        for k in ("nodes", "edges", "components", "cycles", "mean_purity"):
            assert r[k] == pytest.approx(s[k])


class FakeRun:
    """Minimal in-memory run with the graph methods of ``topoact.store.Run`` used by run_graphs
    (graphs kept as real JSON files through ``MapperGraph.to_dict`` / ``from_dict``)."""

    def __init__(self, root, X, y):
        self.root = Path(root)
        self._X = X
        self.labels = y
        self.predictions = y.copy()
        self.probabilities = np.eye(3, dtype=np.float32)[y]
        self.attributes = {}
        self.attribute_kinds = {}
        self.attributes_meta = {}
        self.meta = {}
        self.saved = 0
        self.default = {}

    def activations(self, layer):
        return self._X

    def fingerprint(self, layer):
        from topoact.hashing import array_hash
        return array_hash(self._X)

    def _dir(self, layer):
        return self.root / "graphs" / layer

    def graph_keys(self, layer):
        d = self._dir(layer)
        return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []

    def default_graph_key(self, layer):
        return self.default.get(layer)

    def set_default_graph(self, layer, key):
        self.default[layer] = key

    def graph(self, layer, key=None):
        key = key or self.default[layer]
        data = json.loads((self._dir(layer) / f"{key}.json").read_text())
        means = self._dir(layer) / f"{key}.node_means.npy"
        return MapperGraph.from_dict(data, np.load(means) if means.exists() else None)

    def save_graph(self, layer, graph, key, node_means=None, *, default=False):
        d = self._dir(layer)
        d.mkdir(parents=True, exist_ok=True)
        graph.layer, graph.key = layer, key
        if graph.node_means is not None:
            np.save(d / f"{key}.node_means.npy", graph.node_means)
        (d / f"{key}.json").write_text(json.dumps(graph.to_dict()))
        self.saved += 1
        if default:
            self.default[layer] = key


def test_build_run_graph_is_cached_and_locate_points(tmp_path):
    X, y = _data(400)
    run = FakeRun(tmp_path, X, y)
    params = MapperConfig(n_intervals=6, overlap=0.3)
    assert params.key == MapperConfig(n_intervals=6, overlap=0.3).key
    assert params.key != MapperConfig(n_intervals=7, overlap=0.3).key
    ticks = []
    g1 = build_run_graph(run, "fc", params, progress=lambda d, t, m="": ticks.append((d, t, m)))
    assert ticks and ticks[-1][0] == ticks[-1][1] and ticks[-1][2]
    assert run.default_graph_key("fc") is None            # building never moves the default
    g2 = build_run_graph(run, "fc", params, default=None)
    assert run.saved == 1 and g1.to_dict() == g2.to_dict()
    assert run.default_graph_key("fc") == params.key      # ...unless asked (None: none yet)
    build_run_graph(run, "fc", params.replace(n_intervals=5), default=None)
    assert run.default_graph_key("fc") == params.key
    assert (tmp_path / "graphs" / "fc" / f"{g1.key}.node_means.npy").is_file()
    assert g1.config == params and g1.to_dict()["schema_version"] == 1
    # a training row falls into (at least) the nodes that contain it, and only nodes of its intervals
    d1 = g1.to_dict()
    rows = [n["members"][0] for n in d1["nodes"][:5]]
    found = locate_points(run, "fc", g1, X[rows])
    for r, ids in zip(rows, found):
        containing = {n["id"] for n in d1["nodes"] if r in n["members"]}
        assert containing <= set(ids)
    far = locate_points(run, "fc", g1, X[:1] * 100)
    assert far == [[]]


def test_a_cached_graph_built_from_other_data_is_rebuilt(tmp_path):
    # The graph cache is keyed by parameters; the data it was built from is recorded beside them,
    # so rewritten activations (a damaged or re-collected layer) never get the old graph back.
    X, y = _data(400)
    run = FakeRun(tmp_path, X, y)
    config = MapperConfig(n_intervals=6, overlap=0.3)
    first = build_run_graph(run, "fc", config)
    assert build_run_graph(run, "fc", config).to_dict() == first.to_dict() and run.saved == 1
    run._X = X[::-1].copy()
    second = build_run_graph(run, "fc", config)
    assert run.saved == 2
    assert second.params["inputs"] == {"fc": run.fingerprint("fc")} != first.params["inputs"]


def test_empty_graph_is_an_error_and_never_saved(tmp_path):
    X, y = _data(400)
    run = FakeRun(tmp_path, X, y)
    with pytest.raises(EmptyGraphError, match=r"n_intervals in \[1, "):
        build_run_graph(run, "fc", MapperConfig(n_intervals=100000), default=True)
    with pytest.raises(EmptyGraphError, match="noise.*eps='auto'"):
        build_run_graph(run, "fc", MapperConfig(eps=1e-6, min_samples=5), default=True)
    assert run.saved == 0 and run.default_graph_key("fc") is None


def test_sweep_run_and_cancel(tmp_path):
    from topoact.mapper import Cancelled
    from topoact.progress import Cancelled as ProgressCancelled
    assert Cancelled is ProgressCancelled
    X, y = _data(400)
    run = FakeRun(tmp_path, X, y)
    res = sweep_run(run, "fc", {"n_intervals": [5, 8], "overlaps": [0.3], "eps_scales": [1.0]})
    assert [r["n_intervals"] for r in res] == [5, 8]
    assert res[0]["key"] == MapperConfig.from_dict(res[0]["params"]).key
    assert res[0]["key"] == MapperConfig(n_intervals=5, overlap=0.3).key
    with pytest.warns(DeprecationWarning, match="intervals"):
        old = sweep_run(run, "fc", {"intervals": [5], "overlaps": [0.3], "eps_scales": [1.0]})
    assert old[0]["key"] == res[0]["key"]
    with pytest.raises(Cancelled):
        build_run_graph(run, "fc", MapperConfig(n_intervals=9), should_cancel=lambda: True)


def test_cli_parsers():
    import argparse
    p = add_mapper_arguments(argparse.ArgumentParser())
    a = p.parse_args(["RUN", "--layer", "fc", "--eps", "0.5", "--metric", "cosine", "--lens", "knn"])
    assert a.eps == 0.5 and a.metric == "cosine" and a.run_dir == "RUN" and not a.set_default
    assert config_from_args(a) == MapperConfig(eps=0.5, metric="cosine", lens="knn")
    a = p.parse_args(["RUN", "--layer", "fc", "--eps", "-2"])
    with pytest.raises(ValueError, match=r"eps must be 'auto' or a finite number > 0"):
        config_from_args(a)
    a = p.parse_args(["RUN", "--layer", "fc", "--intervals", "7"])      # deprecated spelling
    assert config_from_args(a).n_intervals == 7
    s = add_sweep_arguments(argparse.ArgumentParser())
    a = s.parse_args(["RUN", "--layer", "fc", "--n-intervals", "10,20", "--overlap", "0.2,0.4",
                      "--jobs", "1"])
    assert a.n_intervals == [10, 20] and a.overlaps == [0.2, 0.4] and a.jobs == 1


def test_circular_attribute_periods_from_run_meta(tmp_path):
    """A period-1 attribute wrapping around 0/1 has circular mean near 0 (not 0.5); a missing
    period falls back to 2*pi; a bad period is a clear error."""
    from topoact.mapper.stats import node_statistics, periods_from_meta, summarize_attribute
    X, y = _data(300)
    run = FakeRun(tmp_path, X, y)
    rng = np.random.default_rng(5)
    hue = (rng.uniform(-0.05, 0.05, len(y))) % 1.0          # values near 0.0 and near 1.0
    angle = (rng.uniform(-0.2, 0.2, len(y))) % (2 * np.pi)  # radians, no period in meta
    assert (hue > 0.9).any() and (hue < 0.1).any()
    run.attributes = {"hue": hue, "angle": angle}
    run.attribute_kinds = {"hue": "circular", "angle": "circular"}
    run.attributes_meta = {"hue": {"period": 1.0}}
    g = build_run_graph(run, "fc", MapperConfig(n_intervals=4, overlap=0.3)).to_dict()
    assert g["nodes"]
    for node in g["nodes"]:
        h = node["attributes"]["hue"]
        assert h["period"] == 1.0
        assert min(h["mean"], 1.0 - h["mean"]) < 0.05          # near 0 == 1 on the circle
        assert h["resultant"] > 0.9
        a = node["attributes"]["angle"]
        assert a["period"] == pytest.approx(2 * np.pi)
        assert min(a["mean"], 2 * np.pi - a["mean"]) < 0.2
    # a plain arithmetic mean (or the 2*pi assumption) would give ~0.5 for the hue
    assert abs(hue.mean() - 0.5) < 0.2
    wrong = summarize_attribute(hue, "circular")                 # period 2*pi: not wrapped
    assert 0.3 < wrong["mean"] < 0.7
    # node_statistics takes a dict of periods directly
    st = node_statistics([np.arange(len(y))], attributes={"hue": hue},
                         attribute_kinds={"hue": "circular"}, attribute_periods={"hue": 1.0})
    assert min(st[0]["attributes"]["hue"]["mean"], 1 - st[0]["attributes"]["hue"]["mean"]) < 0.05
    assert periods_from_meta({"hue": {"period": 1.0}, "size": {"unit": "px"}},
                             {"hue": "circular", "size": "linear"}) == {"hue": 1.0}
    with pytest.raises(ValueError, match="period of attribute 'hue'"):
        node_statistics([np.arange(3)], attributes={"hue": hue}, attribute_kinds={"hue": "circular"},
                        attribute_periods={"hue": 0.0})


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_band_pairs_blocks_match_brute_force(metric):
    from topoact.mapper.sweep import band_pairs
    X, _ = _data(500, seed=3)
    lens = np.linalg.norm(X.astype(np.float64), axis=1)
    Xd = X.astype(np.float64)
    if metric == "cosine":
        U = Xd / np.linalg.norm(Xd, axis=1)[:, None]
        d = 1.0 - U @ U.T
        eps = [0.03, 0.05]
    else:
        d = np.sqrt(((Xd[:, None] - Xd[None]) ** 2).sum(-1))
        eps = [float(np.quantile(d, 0.02)), float(np.quantile(d, 0.05))]
    width = float(np.ptp(lens)) / 6
    order, pairs, self_ok = band_pairs(X, lens, width, eps[::-1], metric, block=64)
    assert self_ok.all() and pairs.eps == tuple(eps)
    assert (np.diff(pairs.indptr) >= 0).all() and pairs.indptr[-1] == len(pairs)
    p0, p1 = 100, 400                                      # an arbitrary sorted range
    a, b, level = pairs.inside(p0, p1)
    assert (a < b).all() and (a >= p0).all() and (b < p1).all()
    ls = lens[order]
    dd = d[order][:, order]
    for j, e in enumerate(eps):                             # the level is DBSCAN's exact decision
        within = {(i, k) for i in range(p0, p1) for k in range(i + 1, p1)
                  if (dd[i, k] <= e if metric == "cosine" else dd[i, k] ** 2 <= e * e)}
        in_band = {(i, k) for i, k in within if ls[k] - ls[i] <= width}
        got = {(int(i), int(k)) for i, k, lv in zip(a, b, level) if lv <= j}
        assert in_band <= got <= within and len(in_band) > 20
    assert len({(int(i), int(k)) for i, k in zip(a, b)}) == len(a)   # each pair once


@pytest.mark.parametrize("min_samples", [3, 5])
def test_the_clustering_kernel_and_its_numpy_twin_give_the_same_clusters(min_samples):
    # random pair lists over 400 sorted positions: overlapping elements, three eps levels, points
    # that are not their own neighbour (cosine's zero rows), border points between clusters
    from topoact.mapper._sweep_kernel import cover_clusters
    from topoact.mapper.sweep import cover_clusters_numpy
    rng = np.random.default_rng(min_samples)
    n = 400
    a = rng.integers(0, n, 6000)
    b = np.minimum(n - 1, a + rng.integers(1, 40, 6000))
    ab = np.unique(np.stack([a, b], 1)[a < b], axis=0)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(ab[:, 0], minlength=n))]).astype(np.int64)
    nbr = ab[:, 1].astype(np.int32)
    level = rng.integers(0, 3, len(nbr)).astype(np.uint8)
    order = rng.permutation(n).astype(np.int64)
    self_ok = rng.random(n) > 0.1
    starts = np.arange(0, n, 30, dtype=np.int64)
    stops = np.minimum(n, starts + rng.integers(1, 70, len(starts))).astype(np.int64)
    n_clusters = 0
    for j in range(3):
        got = cover_clusters(indptr, nbr, level, order, self_ok, starts, stops, j, min_samples)
        want = cover_clusters_numpy(indptr, nbr, level, order, self_ok, starts, stops, j, min_samples)
        for g, w in zip(got, want):
            assert np.array_equal(g, w)
        n_clusters += len(got[1])
    assert n_clusters > 20


def test_a_sweep_without_its_numba_kernel_clusters_with_numpy_and_says_so(monkeypatch, caplog):
    import sys
    monkeypatch.setattr(importlib.import_module("topoact.mapper.sweep"), "KERNEL_MIN_ROWS", 0)
    X, y = _data(300, seed=2)
    kw = dict(n_intervals=(6,), overlaps=(0.3,), eps_scales=(1.0, 1.3), return_graphs=True)
    want = sweep(X, **kw)
    monkeypatch.setitem(sys.modules, "topoact.mapper._sweep_kernel", None)   # import fails
    with caplog.at_level("WARNING", logger="topoact.mapper.sweep"):
        got = sweep(X, **kw)
    assert "clustering with numpy" in caplog.text
    for a, b in zip(want, got):
        assert [m.tolist() for m in a["graph"].members] == [m.tolist() for m in b["graph"].members]
    assert sum(r["nodes"] for r in got) > 4


def test_sweep_threads_match_serial():
    X, y = _data(400, seed=5)
    kw = dict(n_intervals=(4, 9), overlaps=(0.3,), eps_scales=(1.0, 1.5), labels=y)
    seen = []
    r1 = sweep(X, n_jobs=1, return_graphs=True, **kw)
    r2 = sweep(X, n_jobs=2, return_graphs=True, progress=lambda k, n, m="": seen.append((k, n)), **kw)
    assert seen[-1] == (4, 4)
    for a, b in zip(r1, r2):
        assert (a["n_intervals"], a["eps_scale"]) == (b["n_intervals"], b["eps_scale"])
        assert [m.tolist() for m in a["graph"].members] == [m.tolist() for m in b["graph"].members]


def test_labels_not_matching_the_model_name_labels_by_the_data_set_and_skip_accuracy(tmp_path):
    # A folder of 'kitten'/'puppy' through a CIFAR model: labels index the folder's classes,
    # predictions the model's; node accuracy would compare unrelated numbers.
    from topoact.mapper.export import node_members_csv

    X, y = _data(300)
    run = FakeRun(tmp_path, X, y)
    run.labels_match_model = False
    graph = build_run_graph(run, "fc", MapperConfig(n_intervals=4))
    assert all(node.get("accuracy") is None for node in graph.to_dict()["nodes"])
    text = node_members_csv(graph, 0, labels=y, predictions=(y + 1) % 3, class_names=["plane", "car", "bird"],
                            label_names=["kitten", "puppy", "cub"])
    header, first = text.splitlines()[:2]
    row = first.split(",")
    assert header.endswith("label,label_name,prediction,prediction_name")
    assert row[4] == ["kitten", "puppy", "cub"][int(row[3])] and row[6] == ["plane", "car", "bird"][int(row[5])]
