"""scikit-learn conventions, the one configuration object, typed graphs and exports."""
import json
import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering

from topoact.errors import InvalidParameterError
from topoact.mapper import (DBSCAN, ArrayLens, BalancedCover, KNNDistance, L1Norm, L2Norm, Mapper,
                            MapperConfig, MapperGraph, PCALens, PredictionLens, ProductCover,
                            SingleLinkage, SklearnClusterer, UMAPLens, UniformCover, build_graph,
                            mapper_params, save_kmapper_html)


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, 6)) * 3
    return (centers[rng.integers(0, 3, n)] + rng.normal(size=(n, 6))).astype(np.float32)


STEPS = [L2Norm(), L1Norm(), PCALens(2), KNNDistance(4), UMAPLens(n_components=1),
         PredictionLens("class", 1), ArrayLens(np.arange(5.0)), UniformCover(7, 0.4),
         BalancedCover(6, 0.2), ProductCover(UniformCover(3, 0.2), BalancedCover(4, 0.3)),
         DBSCAN(0.5, "cosine", 4, eps_scale=1.5), SingleLinkage(0.3),
         SklearnClusterer(AgglomerativeClustering(n_clusters=3)),
         Mapper(KNNDistance(3), UniformCover(5, 0.2), DBSCAN("auto"), n_jobs=1)]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: type(s).__name__)
def test_clone_and_get_params_round_trip(step):
    twin = clone(step)
    assert type(twin) is type(step) and twin is not step
    a, b = step.get_params(deep=True), twin.get_params(deep=True)
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        elif not hasattr(a[k], "get_params"):
            assert a[k] == b[k], k


def test_nested_params_and_fit_returns_self():
    m = Mapper(KNNDistance(3), UniformCover(5, 0.2), DBSCAN("auto"), n_jobs=1)
    params = m.get_params(deep=True)
    assert params["lens__k"] == 3 and params["cover__n_intervals"] == 5
    assert params["clusterer__eps"] == "auto"
    m.set_params(lens__k=6, cover__overlap=0.4)
    assert m.lens.k == 6 and m.cover.overlap == 0.4
    X = _data()
    assert m.fit(X) is m and isinstance(m.graph_, MapperGraph)
    g = clone(m).fit_transform(X)
    assert [s.tolist() for s in g.members] == [s.tolist() for s in m.graph_.members]
    # __init__ only stores: a bad value is refused by fit, not by the constructor
    bad = Mapper(cover=UniformCover(0, 0.3))
    with pytest.raises(ValueError, match="n_intervals"):
        bad.fit(X)
    with pytest.raises(TypeError, match="fit_predict"):
        Mapper(clusterer=SklearnClusterer(object())).fit(X)


def test_config_is_the_one_validator_with_ranges_in_messages():
    assert MapperConfig().key == MapperConfig().key
    assert MapperConfig(knn_k=9).key == MapperConfig().key       # knn_k does not apply to l2
    assert MapperConfig(lens="knn", knn_k=9).key != MapperConfig(lens="knn").key
    cases = {"n_intervals": (0, r"\[1, inf\]"), "overlap": (1.0, r"\(0, 1\)"),
             "eps": (float("inf"), r"finite number > 0"), "eps_scale": (0, r"\(0, inf\]"),
             "min_samples": (0, r"\[1, inf\]")}
    for name, (value, allowed) in cases.items():
        with pytest.raises(InvalidParameterError, match=allowed):
            MapperConfig(**{name: value})
    with pytest.raises(InvalidParameterError, match=r"overlap must be in \(0, 1\)"):
        MapperConfig(overlap=0.0)
    with pytest.raises(InvalidParameterError, match="choose from"):
        MapperConfig(lens="nope")
    with pytest.raises(InvalidParameterError, match="class_index"):
        MapperConfig(lens="class")
    with pytest.warns(DeprecationWarning) as seen:
        old = mapper_params(intervals=12, overlap=0.25)
    messages = " ".join(str(w.message) for w in seen)
    assert "mapper_params" in messages and "'intervals' is deprecated" in messages
    assert old == MapperConfig(n_intervals=12, overlap=0.25)
    # the estimators apply the same rules (one validator, same messages)
    for cover in (UniformCover(5, 1.0), BalancedCover(5, 0.0), UniformCover([4, 3], [0.3, 1.0])):
        with pytest.raises(InvalidParameterError, match=r"overlap must be in \(0, 1\)"):
            cover.fit(np.c_[np.arange(10.0), np.arange(10.0)] if isinstance(cover.n_intervals, list)
                      else np.arange(10.0))
    with pytest.raises(InvalidParameterError, match=r"min_samples must be in \[1, inf\]"):
        DBSCAN(min_samples=0).prepare(_data())
    with pytest.raises(InvalidParameterError, match="finite number > 0"):
        DBSCAN(eps=float("inf")).prepare(_data())
    c = MapperConfig(lens="pca2", cover="balanced", n_intervals=4, eps=0.7)
    assert MapperConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    m = c.mapper(n_jobs=1)
    assert isinstance(m.cover, ProductCover) and m.clusterer.eps == 0.7


def test_graph_files_of_the_previous_release_still_open(tmp_path):
    """A graph dict as the previous release wrote it: no schema_version, nested params."""
    X = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = Mapper(L2Norm(), UniformCover(5, 0.3), DBSCAN(1.5)).fit_transform(X)
    old = {k: v for k, v in g.to_dict().items() if k not in ("kind", "schema_version")}
    old["params"] = {"lens": {"name": "l2"}, "cover": {"name": "uniform", "intervals": 5,
                                                        "overlap": 0.3},
                     "clusterer": {"name": "dbscan", "metric": "euclidean", "eps": 1.5,
                                   "eps_scale": 1.0, "min_samples": 3},
                     "backend": "topoact", "eps_resolved": 1.5}
    back = MapperGraph.from_dict(json.loads(json.dumps(old)))
    assert back.member_sets() == g.member_sets() and back.n_edges == g.n_edges
    assert back.config == MapperConfig(n_intervals=5, overlap=0.3, eps=1.5)
    with pytest.raises(ValueError, match="schema_version 99"):
        MapperGraph.from_dict(dict(old, schema_version=99))


@pytest.mark.parametrize("nested", [False, True])
def test_kmapper_html_records_the_cover(tmp_path, nested):
    """The exported HTML states the real n_cubes and perc_overlap (it said None before)."""
    X = _data()
    g = build_graph(X, n_intervals=7, overlap=0.35, eps=2.0)
    data = g.to_dict()
    if nested:                       # a graph file of the previous release
        data["params"] = {"lens": {"name": "l2"}, "cover": {"name": "uniform", "intervals": 7,
                                                             "overlap": 0.35},
                          "clusterer": {"name": "dbscan", "metric": "euclidean", "eps": 2.0,
                                        "eps_scale": 1.0, "min_samples": 3}}
    text = save_kmapper_html(data, tmp_path / "g.html").read_text()
    assert re.search(r"n_cubes[^0-9N]{0,40}7\b", text), "n_cubes missing from the HTML"
    assert "None" not in re.search(r"n_cubes.{0,40}", text).group(0)
    assert re.search(r"perc_overlap[^0-9N]{0,40}0\.35", text)
