"""Series of checkpoints: collect, resume, broken checkpoints, open_series, the CLI and timeline."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from tiny_models import TinyCNN

from topoact.cli import main
from topoact.data.synthetic import SHAPE_CLASSES
from topoact.series import checkpoint_step, collect_series, find_series, open_series, resolve_checkpoints
from topoact.timeline import aligned_embeddings, build_timeline, load_timeline, node_history

OPTIONS = {"class_names": list(SHAPE_CLASSES), "input_size": (32, 32)}
N = 160


def _checkpoints(folder, n=3, seed=0):
    """Real state dicts of TinyCNN drifting step by step (epoch_<k>.th)."""
    torch.manual_seed(seed)
    model = TinyCNN(len(SHAPE_CLASSES))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(1, n + 1):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        path = folder / f"epoch_{k}.th"
        torch.save(model.state_dict(), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("series")
    _checkpoints(root / "ckpt")
    (root / "ckpt" / "epoch_7.th").write_bytes(b"not a checkpoint")
    collect_series(TinyCNN(len(SHAPE_CLASSES)), f"shapes:{N}", ["conv2", "fc"], weights=str(root / "ckpt" / "epoch_*.th"),
                   out=root / "s", model_options=OPTIONS, num_workers=0, chunk_size=80, batch_size=40)
    return root / "s"


def test_series_runs_hold_the_same_images_through_each_checkpoint(series_dir):
    series = open_series(series_dir)
    assert series.steps == [1, 2, 3]
    assert [e["step"] for e in series.failed] == [7] and "epoch_7.th" in series.failed[0]["checkpoint"]
    assert series.failed[0]["error"]
    runs = series.runs()
    assert all(r.n == N and r.ids == runs[0].ids for r in runs)
    a, b = runs[0].activations("conv2"), runs[2].activations("conv2")
    assert a.shape == b.shape == (N, 12) and not np.allclose(a, b)   # other weights, other vectors
    manifest = json.loads((series_dir / "series.json").read_text())
    assert manifest["kind"] == "series" and len(manifest["steps"]) == 4
    assert all(len(e["sha256"]) == 64 for e in manifest["steps"])
    with pytest.raises(KeyError, match="steps: \\[1, 2, 3\\]"):
        series.run(7)
    assert find_series(series.run_path(2)).path == series.path


def test_rerun_skips_finished_steps_and_collects_a_new_one(series_dir, tmp_path):
    stamp = (series_dir / "steps" / "step-000001" / "meta.json").stat().st_mtime_ns
    folder = series_dir.parent / "ckpt"
    new = _checkpoints(tmp_path / "more", n=4, seed=1)[-1]
    os.replace(new, folder / "epoch_4.th")
    series = collect_series(TinyCNN(len(SHAPE_CLASSES)), f"shapes:{N}", ["conv2", "fc"], weights=str(folder),
                            out=series_dir, model_options=OPTIONS, num_workers=0, chunk_size=80, batch_size=40)
    assert series.steps == [1, 2, 3, 4]
    assert (series_dir / "steps" / "step-000001" / "meta.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        collect_series(TinyCNN(len(SHAPE_CLASSES)), f"shapes:{N}", ["conv2"], weights=str(folder), out=series_dir,
                       model_options=OPTIONS, num_workers=0)


def test_checkpoint_lists(tmp_path):
    assert checkpoint_step("run/ckpt_epoch_012.th") == 12 and checkpoint_step("final.pt") is None
    paths = _checkpoints(tmp_path / "c", n=3)
    got = resolve_checkpoints(",".join(str(p) for p in reversed(paths)))
    assert [s for s, _ in got] == [1, 2, 3]
    assert [s for s, _ in resolve_checkpoints([str(p) for p in paths], steps=[30, 10, 20])] == [10, 20, 30]
    with pytest.raises(ValueError, match="no checkpoint file matches"):
        resolve_checkpoints(str(tmp_path / "nothing_*.th"))
    (tmp_path / "c" / "final.th").write_bytes(b"x")
    with pytest.raises(ValueError, match="no step number"):
        resolve_checkpoints(str(tmp_path / "c"))
    with pytest.raises(ValueError, match="same step 2"):
        resolve_checkpoints([str(paths[0]), str(paths[1])], steps=[2, 2])
    with pytest.raises(ValueError, match="not found"):
        resolve_checkpoints([str(tmp_path / "missing.th")])


def test_all_checkpoints_broken_is_an_error(tmp_path):
    (tmp_path / "a_1.th").write_bytes(b"x")
    with pytest.raises(ValueError, match="no checkpoint could be collected.*step 1"):
        collect_series(TinyCNN(len(SHAPE_CLASSES)), "shapes:20", ["conv2"], weights=[str(tmp_path / "a_1.th")],
                       out=tmp_path / "s", model_options=OPTIONS, num_workers=0)


def test_timeline_summaries_matches_and_cache(series_dir):
    series = open_series(series_dir)
    tl = build_timeline(series, "conv2", persistence=True, n_landmarks=60, max_motion=0.8)
    assert tl.step_numbers == series.steps
    for row in tl.steps:
        assert 0 <= row["accuracy"] <= 1 and row["nodes"] > 0 and 0 < row["coverage"] <= 1
        assert row["loops"] >= 0 and "h1" in row["persistence"]
    assert tl.steps[0]["h1_distance_to_previous"] is None and tl.steps[1]["h1_distance_to_previous"] >= 0
    assert tl.matches and all(m["to"][0] == series.steps[series.steps.index(m["from"][0]) + 1] for m in tl.matches)
    # aligned layouts: matched nodes within the bound
    for m in tl.matches:
        p = np.array(tl.layouts[str(m["from"][0])][m["from"][1]])
        q = np.array(tl.layouts[str(m["to"][0])][m["to"][1]])
        assert np.hypot(*(q - p)) <= 0.8 + 1e-3
    again = load_timeline(series, "conv2", tl.key)
    assert again is not None and again.to_dict() == json.loads(json.dumps(tl.to_dict()))
    last = tl.step_numbers[-1]
    history = node_history(tl, last, 0, {s: series.run(s).graph("conv2", tl.key) for s in series.steps})
    assert history["chain"][-1] == [last, 0] and history["appeared"] == history["chain"][0][0]
    assert [m["step"] for m in history["label_mix"]] == [c[0] for c in history["chain"]]


def test_aligned_embeddings_undo_a_rotation(series_dir):
    series = open_series(series_dir)
    runs = series.runs()[:2]
    Y = aligned_embeddings([runs[0], runs[0]], "conv2")
    assert np.allclose(Y[0], Y[1], atol=1e-6)
    Z = aligned_embeddings(runs, "conv2")
    assert Z[1].shape == (N, 2)


def test_cli_collect_glob_and_timeline(tmp_path, capsys):
    from topoact.models import load_model

    folder = tmp_path / "ck"
    folder.mkdir()
    for k in (5, 10):
        torch.manual_seed(k)
        torch.save(load_model("cifar-resnet20").module.state_dict(), folder / f"resnet_step{k}.th")
    out = tmp_path / "series"
    code = main(["collect", "--model", "cifar-resnet20", "--weights", str(folder / "resnet_step*.th"),
                 "--data", "shapes:48", "--layers", "layer3", "--out", str(out), "--workers", "0",
                 "--batch-size", "24"])
    assert code == 0
    assert "series of 2 checkpoints (steps 5, 10)" in capsys.readouterr().out
    target = tmp_path / "t.json"
    assert main(["timeline", str(out), "--layer", "layer3", "--out", str(target), "--no-persistence"]) == 0
    data = json.loads(target.read_text())
    assert [s["step"] for s in data["steps"]] == [5, 10]
    assert {"from", "to", "jaccard"} <= set(data["matches"][0]) if data["matches"] else True
    assert data["kind"] == "timeline" and isinstance(data["events"], list)
    assert main(["timeline", str(out), "--layer", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_demo_trains_once_with_a_checkpoint_per_epoch_and_builds_its_series(tmp_path, monkeypatch):
    import topoact.demo as demo
    from topoact.models import demo as demo_model

    tiny = demo_model.DemoConfig(n_train=128, n_val=32, epochs=3, widths=(4, 8, 8))
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(demo_model, "DEFAULT_CONFIG", tiny)
    monkeypatch.setattr(demo, "DEMO_SERIES_IMAGES", 120)
    paths = demo.demo_checkpoints()
    assert [p.name for p in paths] == ["epoch_01.pt", "epoch_02.pt", "epoch_03.pt"]
    assert demo_model.demo_model_path().is_file()          # the same training cached the model
    final = torch.load(demo_model.demo_model_path(), weights_only=True)["state_dict"]
    last = torch.load(paths[-1], weights_only=True)
    assert all(torch.equal(final[k], last[k]) for k in final)   # the last epoch is the trained model
    first = torch.load(paths[0], weights_only=True)
    assert not all(torch.equal(first[k], last[k]) for k in final)
    stamp = paths[0].stat().st_mtime_ns
    assert demo.demo_checkpoints() == paths and paths[0].stat().st_mtime_ns == stamp   # not retrained
    run = topoact_collect_demo(tmp_path / "demo-run")
    series = demo.prepare_demo_series(run, paths)
    assert series.path == tmp_path / "demo-run-series" and series.steps == [1, 2, 3]
    assert find_series(run.path).path == series.path          # the attached demo run finds it
    assert load_timeline(series, demo.DEMO_SERIES_LAYERS[0]) is not None


def topoact_collect_demo(out):
    from topoact.collection import collect

    return collect("demo", "shapes:120", ["block3"], out=out, num_workers=0, chunk_size=60, batch_size=60)


def test_public_api(series_dir):
    import topoact

    series = topoact.open_series(series_dir)
    assert series.steps[:3] == [1, 2, 3] and series.run(2).n == N
    assert topoact.collect_series is collect_series
