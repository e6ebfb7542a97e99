"""Run directory: chunked writes, shrinking after skips, graphs, plain-file readability."""
from __future__ import annotations

import json

import numpy as np
import pytest

from topoact.store import IncompleteRunError, RunWriter, _shrink_npy, open_run


def _writer(path, n=10, dims=None):
    meta = {"config_hash": "abc", "layers": {"l1": {"dim": 3}, "l2": {"dim": 2}}, "class_names": ["x", "y"],
            "dataset": {"spec": {"kind": "shapes", "n": n}}, "model": {"spec": "demo"}}
    return RunWriter(path, meta=meta, n_rows=n, layer_dims=dims or {"l1": 3, "l2": 2}, n_classes=2)


def _chunk(writer, start, stop):
    index = np.arange(start, stop)
    writer.write_chunk(source_index=index, labels=index % 2, predictions=(index + 1) % 2,
                       probabilities=np.full((len(index), 2), 0.5, np.float32),
                       activations={"l1": np.outer(index, [1, 2, 3]).astype(np.float32),
                                    "l2": np.outer(index, [-1, 1]).astype(np.float32)})


def test_write_resume_and_finish(tmp_path):
    writer = _writer(tmp_path / "run")
    _chunk(writer, 0, 4)
    with pytest.raises(IncompleteRunError):
        open_run(tmp_path / "run")
    # A new writer on the same directory resumes after the committed chunk.
    writer = _writer(tmp_path / "run")
    assert writer.chunks_done == 1 and writer.rows_done == 4
    _chunk(writer, 4, 8)  # rows 8 and 9 were "skipped"
    writer.finish(index={"ids": [str(i) for i in range(8)], "paths": [None] * 8},
                  attributes={"angle": np.arange(8.0)}, report={"n_skipped": 2})
    run = open_run(tmp_path / "run")
    assert run.n == 8
    np.testing.assert_array_equal(run.activations("l1")[:, 2], np.arange(8) * 3)
    np.testing.assert_array_equal(run.labels, np.arange(8) % 2)
    # Plain files, readable without topoact.
    plain = np.load(tmp_path / "run" / "activations" / "l2.npy")
    assert plain.shape == (8, 2)
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["status"] == "complete"
    with pytest.raises(KeyError, match="valid layers: l1, l2"):
        run.activations("l3")


def test_different_config_is_refused(tmp_path):
    _writer(tmp_path / "run")
    meta = {"config_hash": "other", "layers": {}}
    with pytest.raises(FileExistsError, match="different run"):
        RunWriter(tmp_path / "run", meta=meta, n_rows=10, layer_dims={"l1": 3}, n_classes=2)


def test_shrink_npy_keeps_leading_rows(tmp_path):
    path = tmp_path / "a.npy"
    data = np.arange(1000 * 7, dtype=np.float32).reshape(1000, 7)
    np.save(path, data)
    _shrink_npy(path, 999)
    np.testing.assert_array_equal(np.load(path), data[:999])
    _shrink_npy(path, 3)
    np.testing.assert_array_equal(np.load(path), data[:3])


def test_graphs_are_saved_by_key_with_a_default(tmp_path):
    writer = _writer(tmp_path / "run", n=4)
    _chunk(writer, 0, 4)
    writer.finish(index={"ids": list("abcd"), "paths": [None] * 4}, attributes={}, report={})
    run = open_run(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="topoact mapper"):
        run.graph("l1")
    graph = {"nodes": [{"id": 0, "members": [0, 1]}], "edges": [], "n_points": 4}
    run.save_graph("l1", graph, "k1", node_means=np.ones((1, 3)), default=True)
    run.save_graph("l1", {"nodes": [], "edges": [], "n_points": 4}, "k2")
    assert run.graph("l1").key == "k1" and run.default_graph_key("l1") == "k1"
    assert run.graph_keys("l1") == ["k1", "k2"]
    assert run.node_means("l1").shape == (1, 3)
    assert run.graph("l1", "k2").n_nodes == 0
    with pytest.raises(ValueError, match="no nodes"):     # an empty graph is never the default
        run.set_default_graph("l1", "k2")
    assert run.default_graph_key("l1") == "k1"
    for bad in ("../x", "a/b", "default"):
        with pytest.raises(ValueError):
            run.save_graph("l1", graph, bad)
    with pytest.raises(ValueError):
        run.graph("l1", "../../meta")


def _finished(path, n=8):
    writer = _writer(path, n=n)
    _chunk(writer, 0, n)
    writer.finish(index={"ids": [str(i) for i in range(n)], "paths": [None] * n},
                  attributes={}, report={})
    return open_run(path)


def test_cached_results_are_not_returned_after_the_layer_changed(tmp_path):
    from topoact.results import ResultCache

    run = _finished(tmp_path / "run")
    cache = ResultCache(run, "persistence")
    assert not (tmp_path / "run" / "persistence").exists()     # reading never writes
    key = cache.key("l1", {"k": 1})
    assert cache.load("l1", key) is None
    assert not (tmp_path / "run" / "persistence").exists()
    cache.save("l1", key, {"value": 42})
    assert cache.load("l1", key)["value"] == 42
    # NaN written into the stored activations: the cached result no longer describes the data.
    X = np.load(tmp_path / "run" / "activations" / "l1.npy", mmap_mode="r+")
    X[3] = np.nan
    X.flush()
    del X
    assert cache.load("l1", key) is None
    assert open_run(tmp_path / "run").fingerprint("l1") != open_run(tmp_path / "run").fingerprint("l2")


def test_a_run_missing_a_required_file_is_reported_as_damaged(tmp_path):
    from topoact.errors import DamagedRunError

    _finished(tmp_path / "run")
    (tmp_path / "run" / "labels.npy").unlink()
    with pytest.raises(DamagedRunError, match="missing labels.npy.*collect"):
        open_run(tmp_path / "run")


def test_a_truncated_file_is_named_with_its_repair(tmp_path):
    from topoact.errors import DamagedRunError
    from topoact.store import load_npy

    path = tmp_path / "layer.npy"
    np.save(path, np.ones((100, 8), np.float32))
    path.write_bytes(path.read_bytes()[:-400])
    for mmap in (True, False):
        with pytest.raises(DamagedRunError, match=rf"{path} is truncated or damaged .*--overwrite"):
            load_npy(path, mmap=mmap)
