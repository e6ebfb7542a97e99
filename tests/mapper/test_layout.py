"""Graph layout: deterministic, stored with the graph, stable under recomputes, tiny components
collapsed, components packed without overlap, 5,000 nodes in reasonable time."""
import json
import logging
import time

import numpy as np
import pytest

from topoact.mapper import (DBSCAN, GraphLayout, Mapper, MapperGraph, PCALens, ProductCover,
                            UniformCover, layout_graph)
from topoact.mapper.layout import force_layout, match_nodes

log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 1.0, (250, 8)) for c in (0.0, 12.0, 24.0)]).astype(np.float32)
    return X


def _graph(X, eps_scale=1.0):
    cover = ProductCover(UniformCover(8, 0.3), UniformCover(8, 0.3))
    return Mapper(PCALens(2), cover, DBSCAN(eps="auto", eps_scale=eps_scale), n_jobs=1).fit(X).graph_


def _boxes(graph, layout):
    out = []
    for c in np.unique(layout.component):
        nodes = np.flatnonzero(layout.component == c)
        if set(nodes) & set(layout.collapsed):
            continue
        p = layout.positions[nodes]
        out.append((p.min(0), p.max(0)))
    return out


def test_layout_is_deterministic_and_packs_components_apart(blobs):
    graph = _graph(blobs)
    assert graph.n_components >= 3
    a, b = layout_graph(graph, seed=3), layout_graph(graph, seed=3)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.positions.shape == (graph.n_nodes, 2) and np.isfinite(a.positions).all()
    # component ranks: 0 is the largest component
    counts = np.bincount(a.component)
    assert counts[0] == counts.max()
    boxes = _boxes(graph, a)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (lo1, hi1), (lo2, hi2) = boxes[i], boxes[j]
            overlap = np.all(lo1 < hi2) and np.all(lo2 < hi1)
            assert not overlap, (boxes[i], boxes[j])
    # edges are short compared with the distance between components (a force layout, not noise)
    d = np.linalg.norm(a.positions[graph.sources] - a.positions[graph.targets], axis=1)
    assert np.median(d) < 3.0


def test_layout_is_stored_with_the_graph_and_unchanged_by_recolouring(blobs, tmp_path):
    graph = _graph(blobs)
    graph.layout = layout_graph(graph)
    data = json.loads(json.dumps(graph.to_dict()))
    again = MapperGraph.from_dict(data)
    np.testing.assert_allclose(again.layout.positions, graph.layout.positions, atol=1e-4)
    # colouring only reads node statistics: the stored positions are what a UI draws each time
    recoloured = MapperGraph.from_dict(json.loads(json.dumps(graph.to_dict())))
    np.testing.assert_array_equal(recoloured.layout.positions, again.layout.positions)
    # graph files without a layout (every file before this field) still open
    data.pop("layout")
    assert MapperGraph.from_dict(data).layout is None
    with pytest.raises(ValueError, match="positions"):
        MapperGraph(graph.members[:-1], graph.n_points, layout=graph.layout)


def test_recompute_with_one_extra_node_keeps_old_nodes_in_place(blobs):
    graph = _graph(blobs)
    graph.layout = layout_graph(graph)
    # the same nodes plus one new node bridging two neighbouring nodes' rows
    s, t = int(graph.sources[0]), int(graph.targets[0])
    extra = np.union1d(graph.members[s][:3], graph.members[t][:3])
    bigger = MapperGraph(list(graph.members) + [extra], graph.n_points)
    new = layout_graph(bigger, previous=graph)
    assert new.matched == graph.n_nodes
    moved = np.linalg.norm(new.positions[:graph.n_nodes] - graph.layout.positions, axis=1)
    assert moved.max() <= 1e-9                                     # the set bound: they stay put
    # the new node sits near the nodes it shares rows with
    near = np.linalg.norm(new.positions[-1] - graph.layout.positions[[s, t]].mean(0))
    assert near < 5.0, near


def test_real_recompute_keeps_matched_nodes(blobs):
    old = _graph(blobs)
    old.layout = layout_graph(old)
    new = _graph(blobs, eps_scale=1.1)
    matches = match_nodes(new, old)
    assert len(matches) >= 0.8 * min(old.n_nodes, new.n_nodes)
    lay = layout_graph(new, previous=old)
    for i, j in matches.items():
        assert np.allclose(lay.positions[i], old.layout.positions[j])


def test_tiny_components_are_collapsed_into_one_glyph():
    # one path of 6 nodes, two singletons and a pair (nodes 0-5 path, 6, 7 alone, 8-9 pair)
    members = [np.array([0, 1, 2]), np.array([2, 3, 4]), np.array([4, 5, 6]), np.array([6, 7, 8]),
               np.array([8, 9, 10]), np.array([10, 11, 12]),
               np.array([20, 21]), np.array([22, 23]), np.array([30, 31]), np.array([31, 32])]
    graph = MapperGraph(members, 40)
    lay = layout_graph(graph)
    assert sorted(lay.collapsed) == [6, 7, 8, 9]
    assert lay.summary["n_components"] == 3
    assert len(lay.summary["position"]) == 2
    # every node has a position; the glyph sits apart from the big component
    big = lay.positions[:6]
    glyph = np.asarray(lay.summary["position"])
    assert np.isfinite(lay.positions).all()
    assert not (np.all(glyph >= big.min(0)) and np.all(glyph <= big.max(0)))
    # nothing to collapse into when every component is tiny
    only_tiny = MapperGraph(members[6:], 40)
    assert layout_graph(only_tiny).summary is None


def test_layout_of_a_5000_node_graph():
    rng = np.random.default_rng(1)
    n = 5000
    # a 50 x 100 grid of nodes, neighbours share a row, plus a few shortcuts
    rows = np.arange(n).reshape(50, 100)
    members = [[2 * n + k] for k in range(n)]
    point = 0
    for a, b in list(zip(rows[:, :-1].ravel(), rows[:, 1:].ravel())) + \
            list(zip(rows[:-1].ravel(), rows[1:].ravel())):
        members[a].append(point)
        members[b].append(point)
        point += 1
    graph = MapperGraph([np.array(sorted(m)) for m in members], 3 * n)
    assert graph.n_components == 1 and graph.n_nodes == n
    start = time.perf_counter()
    lay = layout_graph(graph)
    seconds = time.perf_counter() - start
    log.warning("layout of a %d-node, %d-edge graph: %.1f s", n, graph.n_edges, seconds)
    print(f"layout of a {n}-node graph: {seconds:.1f} s")
    assert np.isfinite(lay.positions).all()
    d = np.linalg.norm(lay.positions[graph.sources] - lay.positions[graph.targets], axis=1)
    spread = np.ptp(lay.positions, axis=0).max()
    assert np.median(d) < spread / 10       # neighbours end up close compared with the picture


def test_force_layout_holds_fixed_nodes():
    init = np.array([[0.0, 0.0], [5.0, 0.0], [2.0, 2.0]])
    out = force_layout(3, np.array([0, 1]), np.array([2, 2]), init=init,
                       fixed=np.array([True, True, False]))
    np.testing.assert_array_equal(out[:2], init[:2])
    assert not np.allclose(out[2], init[2])


def test_layout_dict_round_trip():
    lay = GraphLayout(np.array([[0.0, 1.0]]), np.array([0]), None, 0, 0)
    assert GraphLayout.from_dict(lay.to_dict()).positions.tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="upgrade"):
        GraphLayout.from_dict(dict(lay.to_dict(), schema_version=99))
