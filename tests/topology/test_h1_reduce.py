"""The cone-free column reducer (:mod:`topoact.topology.h1_reduce`) against ripser, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from topoact.topology.certificate import dense_distances
from topoact.topology.h1_reduce import h1_cohomology
from topoact.topology.rips import sparse_rips

ripser = pytest.importorskip("ripser").ripser


def _points(kind, rng):
    if kind == "random":
        return rng.normal(size=(250, 8)).astype(np.float32)
    if kind == "duplicates":                     # zero-length edges and tied rows
        X = rng.normal(size=(90, 3)).astype(np.float32)
        return np.r_[X, X[:25]]
    return np.round(rng.normal(size=(160, 4)) * 2).astype(np.float32)   # integer grid: ties


@pytest.mark.parametrize("kind", ["random", "duplicates", "grid"])
@pytest.mark.parametrize("level", ["enclosing", "low"])
def test_equals_ripser_at_any_threshold(kind, level):
    D = dense_distances(_points(kind, np.random.default_rng(5)), "euclidean")
    enc = float(D.max(axis=1).min())
    T = enc if level == "enclosing" else float(np.quantile(D, 0.15))
    h1, info = h1_cohomology(D, T)
    ref = ripser(D, distance_matrix=True, maxdim=1, thresh=T)["dgms"][1]
    ref = ref[ref[:, 1] > ref[:, 0]]
    assert len(ref) > 0
    # the same bars to the last bit (float32 values), inf deaths included below enclosing
    assert np.array_equal(np.sort(h1.astype(np.float32), axis=0), np.sort(ref, axis=0))
    assert np.isinf(h1[:, 1]).any() == np.isinf(ref[:, 1]).any()
    assert info["additions"] > 0                # the reduction is exercised, not only pairs
    if kind == "random":                        # only a small part of the edges gets a column
        assert info["columns"] < 0.2 * len(D) * (len(D) - 1) / 2
    else:                                       # rows with tied distances, which need no
        assert (np.diff(np.sort(D, axis=1), axis=1) == 0).any()   # column of their own
    # each bar's birth edge has the birth length
    e = info["edges"]
    assert np.array_equal(D[e[:, 0], e[:, 1]].astype(np.float64), h1[:, 0])


def test_columns_engine_needs_the_dense_matrix():
    X = np.random.default_rng(0).normal(size=(120, 3))
    with pytest.raises(ValueError, match="needs the dense matrix"):
        sparse_rips(X, engine="columns", max_dense_points=100)
    res = sparse_rips(X, engine="columns", threshold=0.5)   # a fixed threshold: bars alive there
    ref = ripser(X, maxdim=1, thresh=0.5)["dgms"][1]
    assert res.n_truncated == int(np.isinf(ref[:, 1]).sum()) and not res.exact


def test_auto_engine_keeps_gudhi_for_h2():
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    X = np.c_[np.cos(t), np.sin(t), 0.1 * np.sin(3 * t)]
    res = sparse_rips(X, max_dim=2, threshold="enclosing")       # engine='auto'
    assert len(res.diagrams) == 3 and len(res.diagrams[1]) >= 1
