"""Curves over depth (Mapper and persistence summaries when present, the tunnel) and two-run comparison."""
from __future__ import annotations

import numpy as np
import pytest

from obs_fixtures import demo_run  # noqa: F401 - fixture

import topoact
from topoact.observers.compare import compare_runs
from topoact.observers.depth import depth_curves, find_tunnel


def test_find_tunnel_known_answers():
    layers = ["a", "b", "c", "d", "e"]
    # accuracy saturates at c while the rank keeps falling: tunnel from c
    assert find_tunnel(layers, [0.3, 0.6, 0.9, 0.9, 0.895], [40, 50, 45, 20, 10]) == {"layer": "c", "index": 2}
    # accuracy keeps rising: no tunnel
    assert find_tunnel(layers, [0.3, 0.5, 0.7, 0.8, 0.9], [40, 50, 45, 20, 10]) is None
    # accuracy flat but rank flat too: no tunnel
    assert find_tunnel(layers, [0.3, 0.9, 0.9, 0.9, 0.9], [40, 40, 40, 40, 40]) is None


def test_depth_curves_read_saved_graphs_and_cached_persistence(demo_run):
    from topoact.mapper import MapperConfig
    from topoact.mapper.run_graphs import build_run_graph
    from topoact.topology.run_persistence import layer_persistence

    build_run_graph(demo_run, "block3", MapperConfig(n_intervals=8, overlap=0.3), default=True)
    layer_persistence(demo_run, "block3", n_landmarks=80, n_bootstrap=0)
    curves = depth_curves(demo_run, targets=("label", "hue")).to_dict()
    layers = list(demo_run.layers)
    assert curves["layers"] == layers and set(curves["probes"]) == {"label", "hue"}
    assert curves["dims"] == {"block1": 32, "block2": 64, "block3": 128, "linear": 8}
    # effective rank is at most the width, and the 8 logits have the lowest
    for layer in layers:
        assert 1 <= curves["effective_rank"][layer] <= curves["dims"][layer]
    assert min(curves["effective_rank"], key=curves["effective_rank"].get) == "linear"
    graph = curves["mapper"]["block3"]
    assert graph["nodes"] > 0 and 0 < graph["mean_purity"] <= 1 and graph["components"] >= 1
    assert curves["mapper"]["block1"] is None             # no graph saved there
    assert curves["persistence"]["block3"]["longest_h1"] is not None
    assert curves["persistence"]["block2"] is None


def test_compare_two_runs_on_the_same_images(demo_run, tmp_path):
    other = topoact.collect("demo", "shapes:800", ["block1", "block3"], out=tmp_path / "center", reduce="center",
                            num_workers=0, progress=False, batch_size=200, chunk_size=400)
    result = compare_runs(demo_run, other).to_dict()
    assert result["cka"]["rows"] == list(demo_run.layers) and result["cka"]["cols"] == ["block1", "block3"]
    values = np.asarray(result["cka"]["values"])
    assert values.shape == (4, 2) and (values > 0).all() and (values <= 1 + 1e-9).all()
    assert len(result["curves"]) == 2 and result["curves"][1]["layers"] == ["block1", "block3"]
    assert "CKA of matching layers" in result["summary"] and "probe-accuracy gap" in result["summary"]
    assert result["diagram_distances"] == {}              # no persistence cached in the second run
    from topoact.topology.run_persistence import layer_persistence

    layer_persistence(demo_run, "block3", n_landmarks=80, n_bootstrap=0)
    layer_persistence(other, "block3", n_landmarks=80, n_bootstrap=0)
    distances = compare_runs(demo_run, other).diagram_distances
    assert set(distances) == {"block3"} and distances["block3"]["bottleneck_h0"] > 0
    # different images: no CKA, curves still compared
    small = topoact.collect("demo", "shapes:120", ["block3"], out=tmp_path / "small", num_workers=0, progress=False)
    assert compare_runs(demo_run, small).cka is None


def test_the_logits_layer_is_left_out_of_the_tunnel_rank_test(demo_run, monkeypatch):
    # The 8 logits have rank <= 8 by construction; with them in, the rank "falls" after any layer
    # and a tunnel would be marked on every classifier (ResNet-20 was marked at layer3).
    import topoact.observers.depth as depth

    seen = {}
    original = depth.find_tunnel
    monkeypatch.setattr(depth, "find_tunnel", lambda layers, acc, rank, **kw: seen.setdefault("layers", list(layers)) and original(layers, acc, rank, **kw))
    depth.depth_curves(demo_run, targets=("label",))
    assert seen["layers"] == ["block1", "block2", "block3"]
