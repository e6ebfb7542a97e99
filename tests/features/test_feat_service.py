"""Run-level service, disk cache and CLI glue (with a small fake run following the store
contract of docs/design.md)."""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from topoact.features import cli, service
from topoact.features.cache import FeatureCache, to_uint8
from topoact.features.methods.base import layer_features
from feat_fixtures import tiny_bundle


class RowsOnly:
    """A layer that hands out rows and columns but refuses to be loaded whole (counts reads)."""

    def __init__(self, array):
        self._a, self.shape, self.dtype = array, array.shape, array.dtype
        self.rows_read = 0

    def __len__(self):
        return len(self._a)

    def __getitem__(self, index):
        out = self._a[index]
        self.rows_read += out.shape[0] if out.ndim == 2 else 0
        return out

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole layer was loaded into memory")


class FakeRun:
    """An in-memory run satisfying topoact.store.RunLike (what the feature service reads)."""

    def __init__(self, path: Path, allow_model: bool = True):
        self.path = Path(path)
        self.allow_model = allow_model
        self.model_loads = 0
        g = torch.Generator().manual_seed(0)
        n = 48
        base = torch.rand(n, 3, 1, 1, generator=g)
        slope = torch.rand(n, 3, 1, 1, generator=g) - 0.5
        ramp = torch.linspace(-1, 1, 16).view(1, 1, 1, 16)
        unit = (base * 0.6 + 0.2 + 0.3 * slope * ramp).expand(n, 3, 16, 16).clamp(0, 1)
        self._pixels = to_uint8(unit)
        self._bundle = tiny_bundle()
        images = torch.as_tensor(self._pixels).permute(0, 3, 1, 2).float() / 255
        self._acts = {"relu2": layer_features(self._bundle, images, "relu2")[0].astype(np.float32)}
        self.meta = {"model": {"spec": "tiny", "hash": "tiny"}, "reduce": "gap",
                     "layers": {"relu2": {"shape": [16, 8, 8], "dim": 16, "reduce": "gap"}}}
        order = np.argsort(self._acts["relu2"][:, 0])
        self._graph = {"layer": "relu2", "key": "g1", "n_points": n,
                       "nodes": [{"id": 0, "members": order[:16].tolist(), "size": 16},
                                 {"id": 1, "members": order[-16:].tolist(), "size": 16}],
                       "edges": []}
        self._node_means = np.stack([self._acts["relu2"][nd["members"]].mean(0)
                                     for nd in self._graph["nodes"]])

    layers = property(lambda self: list(self.meta["layers"]))
    n = property(lambda self: len(self._pixels))

    def activations(self, layer):
        return self._acts[layer]

    def fingerprint(self, layer):
        from topoact.hashing import array_hash
        return array_hash(np.asarray(self._acts[layer]))

    def reduce_of(self, layer):
        return self.meta["layers"][layer]["reduce"]

    def graph(self, layer, key=None):
        if key not in (None, "g1"):
            raise FileNotFoundError(f"no graph {key!r}")
        return self._graph

    def node_means(self, layer, key=None):
        self.graph(layer, key)
        return self._node_means

    def image(self, row):
        return Image.fromarray(self._pixels[int(row)])

    def model(self):
        if not self.allow_model:
            raise AssertionError("model loaded although the request was cached")
        self.model_loads += 1
        return self._bundle

    def results_dir(self, kind, create=False):
        p = self.path / kind
        if create:
            p.mkdir(parents=True, exist_ok=True)
        return p


FAST = {"steps": 48, "batch": 2}


def _pixels(run, result):
    return np.stack([np.asarray(Image.open(run.path / p)) for p in result["images"]])


def test_visualize_node_caches_on_disk_and_survives_restart(tmp_path):
    run = FakeRun(tmp_path)
    first = service.visualize_node(run, "relu2", "g1", 1, "node", FAST)
    assert not first["cached"] and len(first["images"]) == 2
    assert all(not Path(p).is_absolute() and (run.path / p).is_file() for p in first["images"])
    m = first["metrics"]
    assert m["activation_mean"] > m["members_activation_mean"]
    assert "members_activation_max" in m
    start = time.perf_counter()
    again = service.visualize_node(run, "relu2", "g1", 1, "node", FAST)
    assert time.perf_counter() - start < 0.05
    assert again["cached"] and again["images"] == first["images"]
    # a "restart": a new run object whose model must not be touched for a cached request
    fresh = FakeRun(tmp_path, allow_model=False)
    restarted = service.visualize_node(fresh, "relu2", "g1", 1, "node", FAST)
    assert restarted["cached"] and np.array_equal(_pixels(fresh, restarted), _pixels(run, first))
    # a different seed is a different entry
    other = service.visualize_node(run, "relu2", "g1", 1, "node", {**FAST, "seed": 1})
    assert not other["cached"] and other["key"] != first["key"]


def test_cache_returns_identical_pixels(tmp_path):
    cache = FeatureCache(tmp_path)
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    entry = cache.put("k1", images, {"a": 1}, {"m": np.float32(0.5)})
    assert entry["metrics"] == {"m": 0.5} and len(entry["paths"]) == 3
    assert np.array_equal(FeatureCache(tmp_path).load_images("k1"), to_uint8(images))
    assert cache.get("missing") is None
    with pytest.raises(KeyError, match="no cached"):
        cache.load_images("missing")


def test_inverse_class_agnostic_and_exemplar_through_service(tmp_path):
    run = FakeRun(tmp_path)
    inv = service.visualize_node(run, "relu2", None, 0, "inverse",
                                 {"steps": 64, "batch": 3, "channel": [0, 5], "level": [0.4, 0.6]})
    assert inv["metrics"]["fraction_within"] >= 2 / 3
    assert inv["target"]["channels"] == [0, 5]
    ca = service.visualize_node(run, "relu2", "g1", 1, "class-agnostic", {"steps": 10, "n_images": 2})
    assert len(ca["images"]) == 2 and len(ca["metrics"]["rows"]) == 2
    assert set(ca["metrics"]["rows"]) <= set(run._graph["nodes"][1]["members"])
    ex = service.visualize_exemplar(run, "relu2", 5, params={"steps": 10})
    assert ex["metrics"]["rows"] == [5] and len(ex["images"]) == 1
    units = service.visualize_units(run, "relu2", 3, "inverse", {"steps": 48, "batch": 2, "level": 0.5})
    assert units["metrics"]["fraction_within"] >= 0.5


def test_bad_requests_get_clear_errors(tmp_path):
    run = FakeRun(tmp_path)
    from topoact.errors import UnknownLayerError
    with pytest.raises(UnknownLayerError, match="unknown layer 'fc9'.*valid layers: relu2"):
        service.visualize_node(run, "fc9", None, 0)
    with pytest.raises(ValueError, match="node 7 not in graph"):
        service.visualize_node(run, "relu2", None, 7)
    with pytest.raises(ValueError, match="channel 40 out of range.*16 channels"):
        service.visualize_node(run, "relu2", None, 0, "inverse", {"channel": 40})
    with pytest.raises(ValueError, match="outside the observed range"):
        service.visualize_node(run, "relu2", None, 0, "inverse", {"level": 1.2})
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        service.visualize_node(run, "relu2", None, 0, "magic")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['stepz'\]"):
        service.visualize_node(run, "relu2", None, 0, "node", {"stepz": 3})
    with pytest.raises(ValueError, match="no generator trained for layer 'relu2'"):
        service.visualize_node(run, "relu2", None, 0, "dgn")
    with pytest.raises(ValueError, match="row 99 out of range"):
        service.visualize_exemplar(run, "relu2", 99)
    assert run.model_loads == 0  # every request was rejected before loading the model


def test_dgn_through_service_after_training(tmp_path):
    run = FakeRun(tmp_path)
    info = service.train_generator_for_run(run, "relu2", epochs=4, width=16, batch_size=16)
    assert service.generator_available(run, "relu2") and (run.path / info["path"]).is_file()
    res = service.visualize_node(run, "relu2", None, 1, "dgn", {"steps": 20, "batch": 2})
    assert len(res["images"]) == 2 and "generator" in res["metrics"]


def test_cli_writes_pngs(tmp_path, monkeypatch, capsys):
    run = FakeRun(tmp_path / "run")
    import topoact.store

    monkeypatch.setattr(topoact.store, "open_run", lambda path: run)
    parser = cli.add_visualize_arguments(argparse.ArgumentParser())
    out = tmp_path / "out"
    args = parser.parse_args([str(run.path), "--layer", "relu2", "--node", "1", "--graph", "g1",
                              "--method", "node", "--steps", "8", "--batch", "2", "--out", str(out)])
    assert cli.run_visualize_command(args) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == 2 and Image.open(written[0]).size == (16, 16)
    assert re.search(r"2 image\(s\), method node", capsys.readouterr().out)
    args = parser.parse_args([str(run.path), "--layer", "relu2", "--channel", "2", "--method",
                              "inverse", "--level", "0.5", "--steps", "8", "--batch", "2",
                              "--out", str(out)])
    assert len(cli.visualize_from_args(args)["written"]) == 2
    with pytest.raises(ValueError, match="give --node"):
        cli.visualize_from_args(parser.parse_args([str(run.path), "--layer", "relu2"]))


def test_fake_run_satisfies_the_protocol(tmp_path):
    from topoact.store import RunLike
    assert isinstance(FakeRun(tmp_path), RunLike)


def test_node_direction_is_the_stored_mean_and_only_member_rows_are_read(tmp_path):
    """Fails when the service averages the members itself (or loads the whole layer)."""
    run = FakeRun(tmp_path)
    acts = run._acts["relu2"]
    stored = np.zeros(acts.shape[1], np.float32)
    stored[3] = 1.0                                   # a stored mean unlike the members' mean
    run._node_means = np.stack([stored, stored])
    run._acts["relu2"] = layer = RowsOnly(acts)
    res = service.visualize_node(run, "relu2", "g1", 0, params={"steps": 2, "batch": 1})
    members = run._graph["nodes"][0]["members"]
    assert res["metrics"]["members_activation_mean"] == pytest.approx(acts[members, 3].mean(), rel=1e-6)
    assert layer.rows_read == len(members)
    assert not (tmp_path / "generators").exists()     # reading never creates folders


def test_generator_files_are_tensors_only_and_old_pickles_are_refused(tmp_path):
    import pickle
    from topoact.features.generator import GeneratorFormatError, load_generator
    run = FakeRun(tmp_path)
    info = service.train_generator_for_run(run, "relu2", n_images=12, epochs=1, width=16,
                                           batch_size=8)
    path = run.path / info["path"]
    tensors = torch.load(path, weights_only=True)     # loads without unpickling any object
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    meta = path.with_suffix(".json")
    assert meta.is_file() and '"reduce": "gap"' in meta.read_text()
    fit = load_generator(path)
    assert fit.reduce == "gap" and fit.code_mean.shape == (16 * 8 * 8,)   # spatial code (C, h, w)
    # a file of the old format: one pickled dict (numpy arrays inside), no JSON sidecar
    old = tmp_path / "old.pt"
    torch.save({"state_dict": fit.generator.state_dict(), "code_mean": np.zeros(16),
                "layer": "relu2"}, old)
    with pytest.raises(GeneratorFormatError, match="retrain"):
        load_generator(old)
    old.with_suffix(".json").write_text(meta.read_text())   # even with a JSON beside it
    with pytest.raises(GeneratorFormatError, match="retrain"):
        load_generator(old)
    assert not issubclass(pickle.UnpicklingError, GeneratorFormatError)


def test_preview_reaches_every_service_entry_point(tmp_path):
    """Each entry point hands ``preview`` down to the optimisation loop: a first picture after
    32 steps, of the batch's shape; a cached repeat computes nothing and shows no preview."""
    run = FakeRun(tmp_path)
    service.train_generator_for_run(run, "relu2", n_images=12, epochs=1, width=16, batch_size=8)
    calls = {
        "node": lambda p: service.visualize_node(run, "relu2", "g1", 1, "node",
                                                 {"steps": 40, "batch": 2}, preview=p),
        "dgn": lambda p: service.visualize_node(run, "relu2", "g1", 1, "dgn",
                                                {"steps": 40, "batch": 2}, preview=p),
        "class_agnostic": lambda p: service.visualize_node(
            run, "relu2", "g1", 1, "class_agnostic", {"steps": 40, "n_images": 2}, preview=p),
        "inverse": lambda p: service.visualize_units(run, "relu2", 3, "inverse",
                                                     {"steps": 40, "batch": 2}, preview=p),
        "exemplar": lambda p: service.visualize_exemplar(run, "relu2", 5, params={"steps": 40},
                                                         preview=p),
    }
    for name, call in calls.items():
        seen = []
        result = call(lambda step, images: seen.append((step, tuple(images.shape))))
        n = len(result["images"])
        assert seen == [(32, (n, 3, 16, 16))], name
        seen.clear()
        assert call(lambda step, images: seen.append(step))["cached"] and seen == [], name
