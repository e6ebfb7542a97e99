"""The built-in demo CNN: trained once, cached, deterministic, accurate."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from topoact.data import ShapesDataset
from topoact.models import list_layers, load_model
from topoact.models import demo as demo_mod

TINY = demo_mod.DemoConfig(n_train=192, n_val=64, epochs=1, widths=(4, 8, 8))


def test_demo_trains_once_then_loads_from_cache(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(demo_mod, "DEFAULT_CONFIG", TINY)
    calls = []
    real_train = demo_mod.train_demo

    def counting_train(config=None):
        calls.append(config)
        return real_train(config)

    monkeypatch.setattr(demo_mod, "train_demo", counting_train)
    with caplog.at_level(logging.INFO, logger="topoact.models.demo"):
        first = load_model("demo")
    assert len(calls) == 1 and first.info["trained_now"] is True
    assert "training the demo CNN" in caplog.text
    cached = tmp_path / f"demo-model-{TINY.version_hash()}.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == [cached.name]  # no temporary left behind
    written = cached.stat().st_mtime_ns, cached.read_bytes()

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="topoact.models.demo"):
        second = load_model("demo")
    assert len(calls) == 1, "second load retrained"
    assert second.info["trained_now"] is False and "training" not in caplog.text
    assert (cached.stat().st_mtime_ns, cached.read_bytes()) == written, "second load rewrote the cache"
    assert second.module is not first.module and second.spec == "demo"
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(second.module(x), first.module(x))  # the cached model predicts identically
    assert second.class_names == ShapesDataset(1).class_names
    assert dict(list_layers(second))["block3"] == (8, 4, 4)

    # the checks above can fail: retraining rewrites the file, other weights predict otherwise
    third = demo_mod.load_demo(retrain=True)
    assert len(calls) == 2 and cached.stat().st_mtime_ns != written[0]
    with torch.no_grad():
        torch.nn.init.normal_(third.module.linear.weight)
        assert not torch.equal(third.module(x), first.module(x))


def test_demo_training_is_deterministic():
    a, meta_a = demo_mod.train_demo(TINY)
    b, meta_b = demo_mod.train_demo(TINY)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        torch.testing.assert_close(va, vb, rtol=0, atol=0)
    assert meta_a["val_accuracy"] == meta_b["val_accuracy"]


def test_corrupt_cache_is_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    (tmp_path / f"demo-model-{TINY.version_hash()}.pt").write_bytes(b"garbage")
    bundle = demo_mod.load_demo(TINY)
    assert bundle.info["trained_now"] is True


def test_cache_goes_to_the_user_cache_never_the_source_tree(tmp_path, monkeypatch, capsys):
    """With no TOPOACT_CACHE_DIR the user's cache directory is used, even inside a writable
    checkout (the demo model used to land in <checkout>/data/cache)."""
    from topoact.cli import main

    repo = Path(demo_mod.__file__).resolve().parents[2]

    def tree():  # what is in data/ (with times) and the names at the top (other work may touch .git)
        return {p: p.stat().st_mtime_ns for p in (repo / "data").rglob("*")} | \
            {p: None for p in repo.iterdir() if p.name != ".git"}

    before = tree()
    monkeypatch.delenv("TOPOACT_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(demo_mod, "DEFAULT_CONFIG", TINY)
    monkeypatch.chdir(repo)
    assert main(["layers", "--model", "demo"]) == 0  # trains the (tiny) demo model and caches it
    assert "block3" in capsys.readouterr().out
    expected = tmp_path / ".cache" / "topoact" / f"demo-model-{TINY.version_hash()}.pt"
    assert expected.is_file() and Path(load_model("demo").info["cache_path"]) == expected
    assert tree() == before, "`topoact layers --model demo` wrote into the source tree"

    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert demo_mod.demo_model_path(TINY) == tmp_path / "elsewhere" / expected.name


def test_default_demo_beats_chance_on_held_out_shapes():
    """The real demo model (trained on seeds 1, validated on seed 2; cached in the user cache
    after the first run) on 400 images of seed 0, which it never saw."""
    bundle = load_model("demo")
    ds = ShapesDataset(400, seed=0)
    x = torch.stack([bundle.preprocess(ds.load(i)) for i in range(len(ds))])
    with torch.no_grad():
        pred = bundle.module(x).argmax(1).numpy()
    accuracy = float(np.mean(pred == ds.labels()))
    assert accuracy > 0.8, accuracy  # chance is 1/8
    grating = ds.attributes()["family"] == 1
    assert np.mean(pred[grating] == ds.labels()[grating]) > 0.7
