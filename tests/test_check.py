"""`topoact check`: every kind of damage is named with its file and a repair."""
import numpy as np

from topoact.check import check_run
from topoact.results import ResultCache
from topoact.store import RunWriter, open_run


def _run(path, n=12):
    meta = {"config_hash": "abc", "layers": {"l1": {"dim": 3}}, "class_names": ["x", "y"],
            "dataset": {"spec": {"kind": "shapes", "n": n}}, "model": {"spec": "demo"}}
    writer = RunWriter(path, meta=meta, n_rows=n, layer_dims={"l1": 3}, n_classes=2)
    index = np.arange(n)
    writer.write_chunk(source_index=index, labels=index % 2, predictions=index % 2,
                       probabilities=np.full((n, 2), 0.5, np.float32),
                       activations={"l1": np.outer(index, [1, 2, 3]).astype(np.float32)})
    writer.finish(index={"ids": [str(i) for i in range(n)], "paths": [None] * n}, attributes={}, report={})
    return path


def test_a_sound_run_has_no_problems(tmp_path):
    assert check_run(_run(tmp_path / "run")) == []


def test_truncated_activations_and_missing_labels_are_named(tmp_path):
    root = _run(tmp_path / "run")
    act = root / "activations" / "l1.npy"
    act.write_bytes(act.read_bytes()[:-20])
    (root / "labels.npy").unlink()
    problems = check_run(root)
    files = {p.file: p for p in problems}
    assert "labels.npy" in files and files["labels.npy"].what == "missing"
    assert "activations/l1.npy" in files and "truncated" in files["activations/l1.npy"].what
    assert all(p.severity == "error" and "collect" in p.repair for p in problems)


def test_nan_rows_stale_results_and_bad_default_pointer(tmp_path):
    root = _run(tmp_path / "run")
    run = open_run(root)
    cache = ResultCache(run, "persistence")
    cache.save("l1", "k1", {"value": 1})
    graphs = root / "graphs" / "l1"
    graphs.mkdir(parents=True)
    (graphs / "default.json").write_text('{"key": "nothere"}')
    assert [p.file for p in check_run(root)] == ["graphs/l1/default.json"]
    X = np.load(root / "activations" / "l1.npy", mmap_mode="r+")
    X[[2, 5]] = np.nan
    X.flush()
    del X
    problems = check_run(root)
    assert any(p.file == "activations/l1.npy" and "2 of 12 rows" in p.what for p in problems)
    (graphs / "default.json").unlink()
    X = np.load(root / "activations" / "l1.npy", mmap_mode="r+")
    X[[2, 5]] = 7.0
    X.flush()
    del X
    stale = check_run(root)
    assert [(p.severity, p.file) for p in stale] == [("warning", "persistence/l1-k1.json")]


def test_meta_damage_and_not_a_run(tmp_path):
    root = _run(tmp_path / "run")
    (root / "meta.json").write_text("{")
    (problem,) = check_run(root)
    assert problem.file == "meta.json" and "not valid JSON" in problem.what
    (problem,) = check_run(tmp_path)
    assert "not a topoact run" in problem.what
