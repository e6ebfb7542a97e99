"""The built-in demo CNN: trained once, cached, deterministic, accurate."""
from __future__ import annotations

import logging

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
    cached = list(tmp_path.glob("demo-model-*.pt"))
    assert [p.name for p in cached] == [f"demo-model-{TINY.version_hash()}.pt"]
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temporary file

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="topoact.models.demo"):
        second = load_model("demo")
    assert len(calls) == 1, "second load retrained"
    assert second.info["trained_now"] is False and "training" not in caplog.text
    assert second.hash == first.hash and second.spec == "demo"
    assert second.info["val_accuracy"] == first.info["val_accuracy"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(second.module(x), first.module(x))
    assert second.class_names == ShapesDataset(1).class_names
    assert dict(list_layers(second))["block3"] == (8, 4, 4)


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


def test_cache_dir_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path / "c"))
    assert demo_mod.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TOPOACT_CACHE_DIR")
    monkeypatch.setattr(demo_mod, "_repo_data_dir", lambda: None)
    assert demo_mod.cache_dir().parts[-2:] == (".cache", "topoact")


def test_default_demo_beats_chance_on_held_out_shapes():
    """The real demo model (trained on seeds 1, validated on seed 2; cached in data/cache after
    the first run) on 400 images of seed 0, which it never saw."""
    bundle = load_model("demo")
    ds = ShapesDataset(400, seed=0)
    x = torch.stack([bundle.preprocess(ds.load(i)) for i in range(len(ds))])
    with torch.no_grad():
        pred = bundle.module(x).argmax(1).numpy()
    accuracy = float(np.mean(pred == ds.labels()))
    assert accuracy > 0.8, accuracy  # chance is 1/8
    grating = ds.attributes()["family"] == 1
    assert np.mean(pred[grating] == ds.labels()[grating]) > 0.7
