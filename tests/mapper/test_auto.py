"""The automatic default graph: known answers on synthetic data, reasons stored with the graph,
the CLI's no-flag default, the UMAP lens cached with the run and refused by locate_points."""
import numpy as np
import pytest
from tiny_runs import tiny_conv2_run

from topoact.mapper import MapperConfig, build_run_graph, choose_config, locate_points
from topoact.mapper.auto import Criterion, default_candidates, score_members, stability

# UMAP is left out of the synthetic tests (its first call compiles numba code for ~20 s);
# one run-level test below uses it.
NO_UMAP = [c for c in default_candidates() if c.lens != "umap2"]


def _blobs(n_blobs=5, per=160, dim=64, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (n_blobs, dim))
    centres *= 12.0 / np.linalg.norm(centres, axis=1, keepdims=True)   # centres 12 apart-ish
    X = np.concatenate([c + rng.normal(0, 1.0, (per, dim)) for c in centres]).astype(np.float32)
    return X, np.repeat(np.arange(n_blobs), per)


def _graph(X, choice):
    config = choice.mapper_config
    return config.mapper(n_jobs=1).fit(X).graph_


@pytest.fixture(scope="module")
def blobs():
    X, blob = _blobs()
    return X, blob, choose_config(X, {}, candidates=NO_UMAP)


def test_blobs_are_recovered_as_separate_components(blobs):
    X, blob, choice = blobs
    win = choice.candidates[choice.winner]
    assert win["admissible"], choice.reason
    assert win["coverage"] >= 0.85
    graph = _graph(X, choice)
    comp = graph.component_labels()
    # every component holds one blob only, and each blob lives in one component
    blob_of_comp = {}
    for k, members in enumerate(graph.members):
        ids = np.unique(blob[members])
        assert len(ids) == 1, f"node {k} mixes blobs {ids}"
        assert blob_of_comp.setdefault(comp[k], ids[0]) == ids[0], "a component mixes blobs"
    comps_per_blob = [len({c for c, b in blob_of_comp.items() if b == i}) for i in range(5)]
    assert comps_per_blob == [1] * 5, comps_per_blob
    # the reasons: the rule in words and every candidate's numbers
    assert "no labels" in choice.rule and win["label"] in choice.reason
    for row in choice.candidates:
        assert {"coverage", "nodes", "largest", "explained", "stability", "score",
                "admissible", "failed", "params"} <= set(row)
    # the winner has the best score among the admissible candidates
    assert win["score"] == max(r["score"] for r in choice.candidates if r["admissible"])


def test_structureless_noise_gives_no_hub_and_a_low_score(blobs):
    X, _, blobs = blobs
    noise = np.random.default_rng(1).normal(0, 1, X.shape).astype(np.float32)
    flat = choose_config(noise, {}, candidates=NO_UMAP)
    win = flat.candidates[flat.winner]
    # no star of hubs: the winner has no node holding over 20 % of the rows, or says why not
    assert win["largest"] <= 0.2 or "largest node" in flat.reason
    # the criterion sees that there is little structure: explained variance and score are far
    # below those of the blobs (what an honest user-facing number can say about noise)
    assert win["explained"] < 0.5 * blobs.candidates[blobs.winner]["explained"]
    assert win["score"] < 0.5 * blobs.candidates[blobs.winner]["score"]


def test_no_admissible_candidate_is_reported():
    X, _ = _blobs(per=60)
    crit = Criterion(node_range=(2, 3))
    choice = choose_config(X, {}, candidates=NO_UMAP[:3], criterion=crit)
    assert not any(r["admissible"] for r in choice.candidates)
    assert "no candidate met every condition" in choice.reason and "nodes outside" in choice.reason
    with pytest.raises(ValueError, match="at least one"):
        choose_config(X, {}, candidates=[])


def test_score_and_stability_known_answers():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]], np.float32)
    s = score_members(X, [np.array([0, 1]), np.array([2, 3])])
    assert s["coverage"] == 1.0 and s["nodes"] == 2 and s["largest"] == 0.5
    assert s["explained"] == pytest.approx(1 - 1.0 / (1.0 + 100.0))
    assert score_members(X, [np.array([0])])["coverage"] == 0.25
    # a fit that always returns the same two halves is perfectly stable; a random one is not
    fixed = stability(lambda rows: [rows[rows < 50], rows[rows >= 50]], 100)
    assert fixed == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    shuffled = stability(lambda rows: np.array_split(rng.permutation(rows), 10), 100)
    assert shuffled < 0.3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_conv2_run(tmp_path_factory, 400)


def test_cli_default_is_the_automatic_choice_with_its_reasons(run_dir, capsys):
    from topoact.cli import main
    from topoact.store import open_run

    assert main(["mapper", str(run_dir), "--layer", "conv2", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "automatic choice:" in out
    run = open_run(run_dir)
    graph = run.graph("conv2")                       # the layer's default
    auto = graph.params["auto"]
    assert auto["config"] == graph.config.to_dict()
    assert len(auto["candidates"]) >= len(default_candidates())
    assert auto["reason"] and auto["rule"]
    assert graph.layout is not None and graph.layout.positions.shape == (graph.n_nodes, 2)
    # the UMAP embedding is cached with the run, and a umap2 graph reuses it
    npys = list((run.path / "embeddings").glob("conv2-*.npy"))
    assert len(npys) == 2                            # umap and pca
    umap_graph = build_run_graph(run, "conv2", MapperConfig(lens="umap2", n_intervals=6))
    assert umap_graph.params["seed"] == 0 and "seed" not in MapperConfig().to_dict()
    # a UMAP lens cannot place new images: a clear refusal
    vectors = np.asarray(run.activations("conv2")[:2])
    with pytest.raises(ValueError, match="cannot place new points.*umap2.*l2, l1, pca"):
        locate_points(run, "conv2", umap_graph, vectors)
    # a second call is served from the cache (same graph, same choice)
    assert main(["mapper", str(run_dir), "--layer", "conv2", "--jobs", "1"]) == 0
    assert run.graph("conv2").key == graph.key
    # explicit flags still build exactly what they say, and never move the default
    assert main(["mapper", str(run_dir), "--layer", "conv2", "--jobs", "1", "--n-intervals", "5"]) == 0
    assert run.graph("conv2").key == graph.key
    assert MapperConfig(n_intervals=5).key in run.graph_keys("conv2")


def test_recompute_on_a_run_keeps_the_stored_layout(run_dir):
    from topoact.mapper.layout import match_nodes
    from topoact.store import open_run

    run = open_run(run_dir)
    old = build_run_graph(run, "conv2", MapperConfig(n_intervals=7))
    assert old.layout is not None                    # computed once, saved with the graph
    new = build_run_graph(run, "conv2", MapperConfig(n_intervals=7, eps_scale=1.05), previous=old)
    matches = match_nodes(new, old)
    assert len(matches) >= old.n_nodes // 2
    for i, j in matches.items():
        np.testing.assert_allclose(new.layout.positions[i], old.layout.positions[j], atol=1e-3)
    # reopening gives the stored positions back (recolouring never moves anything)
    np.testing.assert_array_equal(run.graph("conv2", new.key).layout.positions, new.layout.positions)


def test_graph_files_without_a_layout_get_one_once(run_dir):
    from topoact.mapper import ensure_layout
    from topoact.store import open_run

    run = open_run(run_dir)
    graph = build_run_graph(run, "conv2", MapperConfig(n_intervals=8))
    graph.layout = None                                   # as written before layouts existed
    run.save_graph("conv2", graph, graph.key)
    assert run.graph("conv2", graph.key).layout is None
    done = ensure_layout(run, "conv2", graph.key)
    assert done.layout is not None
    np.testing.assert_array_equal(run.graph("conv2", graph.key).layout.positions,
                                  done.layout.positions)


def test_the_eps_memo_gives_the_members_dbscan_resolves_itself(blobs):
    """choose_config computes each row set's k-distance curve once; the members must be those of
    a DBSCAN that resolves its automatic eps itself, on all rows and on a resample, at any scale."""
    from topoact.mapper.auto import _EpsMemo, _fit_members

    X = blobs[0]
    lens = X[:, :2].astype(np.float64)
    memo = _EpsMemo()
    rows = np.sort(np.random.default_rng(3).choice(len(X), 600, replace=False))
    for scale in (1.0, 1.25, 1.5):
        config = MapperConfig(lens="pca2", cover="uniform", n_intervals=6, eps="auto", eps_scale=scale)
        for r in (None, rows):
            plain = _fit_members(X, lens, config, r)
            memoised = _fit_members(X, lens, config, r, memo)
            assert len(plain) == len(memoised) >= 6
            assert all(np.array_equal(a, b) for a, b in zip(plain, memoised))
    assert len(memo._curves) == 2   # one curve per row set, whatever the scale


def test_graph_files_without_stored_exemplars_get_them_once(run_dir):
    from topoact.mapper.pipeline import STORED_EXEMPLARS
    from topoact.mapper.stats import typical_rows
    from topoact.store import open_run

    run = open_run(run_dir)
    graph = build_run_graph(run, "conv2", MapperConfig(n_intervals=9))
    stored = [st["exemplars"] for st in graph.stats]
    X = run.activations("conv2")
    assert stored == [r.tolist() for r in typical_rows(X, graph.members, graph.node_means, STORED_EXEMPLARS)]
    for st in graph.stats:                               # as written before nodes stored them
        del st["exemplars"]
    run.save_graph("conv2", graph, graph.key)
    assert "exemplars" not in run.graph("conv2", graph.key).stats[0]
    again = build_run_graph(run, "conv2", MapperConfig(n_intervals=9))
    assert [st["exemplars"] for st in again.stats] == stored
    assert [st["exemplars"] for st in run.graph("conv2", graph.key).stats] == stored   # saved
