"""The growing edge budget (no truncation) and the sparse reducers (ripser.py, gudhi's ripser,
giotto-ph with and without edge collapse), against ripser."""
from __future__ import annotations

import gudhi
import numpy as np
import pytest

from topoact.topology import rips
from topoact.topology.rips import sparse_rips

ripser = pytest.importorskip("ripser").ripser


def noisy_circles(n=240, seed=5):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    r = np.where(rng.random(n) < 0.5, 1.0, 0.45)
    X = np.c_[r * np.cos(t), r * np.sin(t), 0.1 * rng.normal(size=(n, 3))]
    return X + rng.normal(scale=0.05, size=X.shape)


def lattice(n=70, seed=2):
    """Points of a small integer grid: many equal distances (ties)."""
    rng = np.random.default_rng(seed)
    return np.unique(rng.integers(0, 4, size=(n, 4)), axis=0).astype(np.float64)


def test_blockwise_budget_grows_instead_of_truncating(monkeypatch, caplog):
    X = noisy_circles()
    ref = ripser(X, maxdim=1)["dgms"]
    monkeypatch.setattr(rips, "FIRST_SCAN_EDGES", 600)     # far too few edges at first
    with caplog.at_level("INFO", logger="topoact.topology.rips"):
        res = sparse_rips(X, max_dense_points=100)       # no dense matrix, no certificate
    assert "edge list rebuilt" in caplog.text              # the budget grew
    assert res.n_truncated == 0 and np.isfinite(res.diagrams[1][:, 1]).all()
    assert res.n_edges > 600
    assert gudhi.bottleneck_distance(ref[0], res.diagrams[0]) < 1e-5                 # float32 blocks
    # the two big loops, seen whole: the same bars as ripser's (births above T aside)
    big = ref[1][ref[1][:, 1] - ref[1][:, 0] > 0.2]
    assert len(big) >= 1
    for b, d in big:
        assert np.isclose(res.diagrams[1], [b, d], atol=1e-5).all(axis=1).any()
    # a hard cap still truncates, and says so
    capped = sparse_rips(X, max_dense_points=100, max_edges=600)
    assert capped.n_edges <= 600 and not capped.exact
    assert capped.n_truncated == int(np.isinf(capped.diagrams[1][:, 1]).sum()) >= 1


def test_dense_budget_is_every_edge_so_the_certificate_never_truncates():
    X = noisy_circles(200, seed=9)
    ref = ripser(X, maxdim=1)["dgms"]
    res = sparse_rips(X, max_memory_gb=1e-9 * 40 * 50,    # the edge budget is only for the
                      max_dense_points=1000)              # blockwise path: dense mode offers
    assert res.exact and res.n_truncated == 0               # all edges
    assert gudhi.bottleneck_distance(ref[1], res.diagrams[1]) < 1e-6   # float64 data, float32
    # by default max_memory_gb bounds the dense matrix too: 2 kB cannot hold 200 x 200
    assert rips.dense_points_limit(1e-9 * 40 * 50) < 200
    assert not sparse_rips(X, max_memory_gb=1e-9 * 40 * 50).exact
    # 4 GB (the default) holds the 'columns' engine's matrix at 20,000 points
    assert rips.dense_points_limit(4.0) > 20_000
    assert rips.dense_points_limit(4.0, "gudhi-ripser") == rips.RIPSER_DENSE_POINTS


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_certified_exact_with_ties_equals_ripser(seed):
    X = lattice(seed=seed)
    ref = ripser(X, maxdim=1)["dgms"]
    res = sparse_rips(X)
    assert res.exact and res.n_truncated == 0
    for d in (0, 1):
        assert gudhi.bottleneck_distance(ref[d], res.diagrams[d]) < 1e-300   # gudhi: 0 up to a denormal


@pytest.mark.parametrize("engine", ["columns", "ripser", "gudhi-ripser", "giotto",
                                    "giotto-collapse"])
@pytest.mark.parametrize("data", ["random", "ties"])
def test_every_reducer_equals_ripser(data, engine):
    if engine.startswith("giotto"):
        pytest.importorskip("gph")
    X = np.random.default_rng(3).normal(size=(150, 6)) if data == "random" else lattice(seed=4)
    ref = ripser(X, maxdim=1)["dgms"]
    res = sparse_rips(X, engine=engine)
    ours = sparse_rips(X)                                   # the default reducer
    assert res.exact and res.n_truncated == 0
    tol = 1e-6 if data == "random" else 1e-300             # float64 data: float32 rounding
    for d in (0, 1):
        assert gudhi.bottleneck_distance(ref[d], res.diagrams[d]) < tol
    assert np.array_equal(np.sort(res.diagrams[1], axis=0), np.sort(ours.diagrams[1], axis=0))


def test_engine_and_budget_arguments_are_checked():
    X = lattice()
    with pytest.raises(ValueError, match="engine must be one of"):
        sparse_rips(X, engine="dionysus")
    with pytest.raises(ValueError, match="max_dim=1"):
        sparse_rips(X, engine="giotto", max_dim=2)
    with pytest.raises(ValueError, match="max_edges must be a positive"):
        sparse_rips(X, max_edges=0)
    with pytest.raises(ValueError, match="max_memory_gb must be positive"):
        sparse_rips(X, max_memory_gb=0)


def test_growth_stops_at_the_memory_budget(monkeypatch):
    X = noisy_circles()
    monkeypatch.setattr(rips, "FIRST_SCAN_EDGES", 300)
    # a budget of ~900 edges: the list grows once or twice, then stops (no endless rescans)
    res = sparse_rips(X, max_dense_points=100, max_memory_gb=900 * rips.EDGE_BYTES / 2**30)
    assert 300 < res.n_edges <= 900 and not res.exact
    assert res.n_truncated == int(np.isinf(res.diagrams[1][:, 1]).sum()) >= 1


@pytest.mark.parametrize("engine", ["ripser", "gudhi-ripser", "giotto"])
@pytest.mark.parametrize("fraction", [0.0, 1.0])   # dense matrix + threshold, or edge list
def test_dense_and_sparse_reducer_inputs_equal_ripser_with_ties(monkeypatch, engine, fraction):
    if engine.startswith("giotto"):
        pytest.importorskip("gph")
    monkeypatch.setattr(rips, "DENSE_FRACTION", fraction)
    X = lattice(seed=1)
    ref = ripser(X, maxdim=1)["dgms"]
    res = sparse_rips(X, engine=engine)
    assert res.exact and res.n_truncated == 0 and res.n_edges < len(X) * (len(X) - 1) / 2
    assert gudhi.bottleneck_distance(ref[1], res.diagrams[1]) < 1e-300
