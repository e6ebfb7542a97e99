"""Node matching between Mapper graphs: known answers on synthetic drift built by the real Mapper."""
from __future__ import annotations

import numpy as np
import pytest

from topoact.mapper import MapperConfig
from topoact.mapper.graph import MapperGraph
from topoact.mapper.matching import jaccard_matrix, match_graphs, transport_plan
from topoact.timeline import align_layouts

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
SPLIT_STEP = 2          # blob 2 splits in two between step 1 and step 2
N_PER = 150


def drift_data(step: int, seed: int = 0) -> np.ndarray:
    """Three blobs along x; from SPLIT_STEP on, the third is two blobs at y = +-3. Each step adds a
    small jitter (the same rows throughout, as in a series)."""
    rng = np.random.default_rng(seed)
    base = np.concatenate([c + rng.normal(scale=0.3, size=(N_PER, 2)) for c in CENTRES])
    if step >= SPLIT_STEP:
        third = slice(2 * N_PER, 3 * N_PER)
        base[third, 1] += np.where(np.arange(N_PER) % 2 == 0, 3.0, -3.0)
    return base + np.random.default_rng(100 + step).normal(scale=0.02, size=base.shape)


def graph_of(X: np.ndarray) -> MapperGraph:
    return MapperConfig(lens="pca", n_intervals=3, overlap=0.1, eps=0.8, min_samples=3).mapper(
        n_jobs=1).fit_transform(X)


@pytest.fixture(scope="module")
def graphs():
    return [graph_of(drift_data(t)) for t in range(4)]


def node_of_rows(graph: MapperGraph, rows: np.ndarray) -> list[int]:
    return [k for k, m in enumerate(graph.members) if np.isin(m, rows).mean() > 0.9]


def test_split_reported_at_the_known_step(graphs):
    third = np.arange(2 * N_PER, 3 * N_PER)
    for t in range(3):
        m = match_graphs(graphs[t], graphs[t + 1])
        splits = [e for e in m.events if e["kind"] == "split"]
        if t + 1 == SPLIT_STEP:
            assert len(splits) == 1, m.events
            parent = splits[0]["from"][0]
            assert parent in node_of_rows(graphs[t], third)
            children = splits[0]["to"]
            assert sorted(children) == sorted(node_of_rows(graphs[t + 1], third))
            assert len(children) == 2
            # the other two blobs persist
            assert m.counts()["persist"] == graphs[t].n_nodes - 1
        else:
            assert not splits, (t, m.events)
            assert m.counts()["merge"] == m.counts()["birth"] == m.counts()["death"] == 0


def test_merge_is_the_reverse_of_a_split(graphs):
    m = match_graphs(graphs[SPLIT_STEP], graphs[SPLIT_STEP - 1])
    merges = [e for e in m.events if e["kind"] == "merge"]
    assert len(merges) == 1 and len(merges[0]["from"]) == 2


def test_identical_graphs_match_node_for_node(graphs):
    g = graphs[3]
    m = match_graphs(g, g)
    assert m.mapping() == {k: k for k in range(g.n_nodes)}
    assert np.allclose(m.jaccard, 1.0)
    assert m.counts() == {"persist": g.n_nodes, "split": 0, "merge": 0, "birth": 0, "death": 0}


def test_duplicate_member_sets_keep_their_ids():
    # two nodes with the same members (as a cover overlap can make): ties go to the same id
    g = MapperGraph([[0, 1, 2], [0, 1, 2], [3, 4]], 5, intervals=[0, 1, 1])
    assert match_graphs(g, g).mapping() == {0: 0, 1: 1, 2: 2}


def test_birth_and_death():
    a = MapperGraph([[0, 1, 2, 3], [4, 5, 6]], 10)
    b = MapperGraph([[0, 1, 2, 3], [7, 8, 9]], 10)
    m = match_graphs(a, b)
    kinds = sorted((e["kind"], tuple(e["from"]), tuple(e["to"])) for e in m.events)
    assert kinds == [("birth", (), (1,)), ("death", (1,), ()), ("persist", (0,), (0,))]


def test_transport_plan_is_a_coupling():
    a = MapperGraph([[0, 1, 2], [2, 3], [4]], 5)
    b = MapperGraph([[0, 1], [1, 2, 3, 4]], 5)
    P = transport_plan(a, b).toarray()
    # every row covered by both graphs: total mass 1; row 2 is in two nodes of a: half to each
    assert P.sum() == pytest.approx(1.0)
    assert P.sum(1) == pytest.approx([2.5 / 5, 1.5 / 5, 1 / 5])
    assert P.sum(0) == pytest.approx([1.5 / 5, 3.5 / 5])
    J = jaccard_matrix(a, b).toarray()
    assert J[0, 0] == pytest.approx(2 / 3) and J[1, 1] == pytest.approx(2 / 4)


def test_different_rows_are_refused():
    with pytest.raises(ValueError, match="different rows"):
        match_graphs(MapperGraph([[0]], 3), MapperGraph([[0]], 4))
    with pytest.raises(ValueError, match="min_jaccard"):
        match_graphs(MapperGraph([[0]], 3), MapperGraph([[0]], 3), min_jaccard=0)


def test_persisting_nodes_move_less_than_the_bound(graphs):
    matchings = [match_graphs(graphs[t], graphs[t + 1]) for t in range(3)]
    bound = 0.5
    layouts = align_layouts(graphs, matchings, max_motion=bound)
    moved = []
    for t, m in enumerate(matchings):
        assert len(layouts[t]) == graphs[t].n_nodes
        for i, j in m.pairs:
            moved.append(float(np.hypot(*(layouts[t + 1][j] - layouts[t][i]))))
    assert moved and max(moved) <= bound + 1e-9


def test_counterparts_of_a_split_node(graphs):
    third = np.arange(2 * N_PER, 3 * N_PER)
    m = match_graphs(graphs[SPLIT_STEP - 1], graphs[SPLIT_STEP])
    parent = node_of_rows(graphs[SPLIT_STEP - 1], third)[0]
    assert sorted(m.counterparts(parent)) == sorted(node_of_rows(graphs[SPLIT_STEP], third))
    first = node_of_rows(graphs[SPLIT_STEP - 1], np.arange(N_PER))[0]
    assert m.counterparts(first) == [m.counterpart(first)]


def test_node_history_names_the_split_it_came_from(graphs):
    from topoact.timeline import Timeline, _event_records, node_history

    matchings = [match_graphs(graphs[t], graphs[t + 1]) for t in range(3)]
    matches = [{"from": [t, int(i)], "to": [t + 1, int(j)], "jaccard": float(v)}
               for t, m in enumerate(matchings) for (i, j), v in zip(m.pairs, m.jaccard)]
    events = [r for t, m in enumerate(matchings) for r in _event_records(m, t, t + 1)]
    tl = Timeline(layer="x", key="k", params={}, steps=[{"step": t} for t in range(4)], matches=matches,
                  events=events, layouts={str(t): [[0, 0]] * g.n_nodes for t, g in enumerate(graphs)})
    third = np.arange(2 * N_PER, 3 * N_PER)
    parent = node_of_rows(graphs[SPLIT_STEP - 1], third)[0]
    for child in node_of_rows(graphs[3], third):
        h = node_history(tl, 3, child, dict(enumerate(graphs)))
        assert h["origin"] == {"kind": "split", "from": [[SPLIT_STEP - 1, parent]], "step": SPLIT_STEP}
        assert h["chain"][-1] == [3, child] and [m["step"] for m in h["label_mix"]] == [c[0] for c in h["chain"]]
    first = node_of_rows(graphs[3], np.arange(N_PER))[0]
    h = node_history(tl, 3, first)
    assert h["origin"] is None and h["appeared"] == 0 and len(h["chain"]) == 4
