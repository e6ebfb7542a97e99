"""Scale-out: Zarr store, collection on a 2-process Dask LocalCluster (equal to one process, a
worker killed mid-run), Mapper cover elements, bootstrap resamples, probes, k-NN blocks and sweep
settings as Dask tasks (each equal to in-process), ``topoact convert``, ``--scheduler``."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from tiny_models import TinyCNN

import topoact
from topoact.data.synthetic import SHAPE_CLASSES
from topoact.models import load_model

pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")


class SlowCNN(TinyCNN):
    """TinyCNN whose forward pass takes 40 ms more (so a worker can be killed mid-run)."""

    def forward(self, x):
        time.sleep(0.04)
        return super().forward(x)


def _bundle(cls=TinyCNN):
    torch.manual_seed(0)
    return load_model(cls(len(SHAPE_CLASSES)).eval(), class_names=list(SHAPE_CLASSES), input_size=(32, 32))


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """An ImageFolder of 90 generated images, two of them truncated (skipped by collect)."""
    from topoact.data import open_dataset

    root = tmp_path_factory.mktemp("images")
    shapes = open_dataset("shapes:90")
    for i in range(len(shapes)):
        target = root / SHAPE_CLASSES[int(shapes.labels()[i])] / f"{i:03d}.png"
        target.parent.mkdir(exist_ok=True)
        shapes.load(i).convert("RGB").save(target)
        if i in (7, 52):  # truncated files: in the first and a middle chunk
            target.write_bytes(target.read_bytes()[:40])
    return root


def _assert_same_run(a, b):
    assert a.n == b.n and a.layers == b.layers
    for layer in a.layers:
        np.testing.assert_array_equal(a.activations(layer), b.activations(layer))  # bit-identical
        assert a.fingerprint(layer) == b.fingerprint(layer)
    for name in ("labels", "predictions", "source_index", "probabilities"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.ids == b.ids and a.report["skipped"] == b.report["skipped"]


def test_distributed_collection_equals_one_process_with_skipped_images(tmp_path, folder, client):
    bundle = _bundle()
    common = dict(layers=["conv1", "conv2", "output"], chunk_size=20, batch_size=8, num_workers=0)
    single = topoact.collect(bundle, str(folder), out=tmp_path / "single", **common)
    seen = []
    dist = topoact.collect(bundle, str(folder), out=tmp_path / "dask", scheduler=client, store="zarr",
                           progress=lambda done, total, message="": seen.append((done, total)), **common)
    assert single.n == 88 and len(single.report["skipped"]) == 2
    _assert_same_run(single, dist)
    assert dist.store == "zarr" and single.store == "npy"
    # the zarr arrays are plain Zarr v3: zarr and dask read them without topoact
    import dask.array as da

    path = dist.activation_path("conv2")
    np.testing.assert_array_equal(zarr.open_array(str(path), mode="r")[:], single.activations("conv2"))
    np.testing.assert_array_equal(da.from_zarr(str(path)).compute(), single.activations("conv2"))
    assert seen[-1] == (90, 90) and all(d <= t for d, t in seen)  # one aggregated count


def test_random_positions_are_identical_on_workers(tmp_path, client):
    bundle = _bundle()
    common = dict(layers=["conv2"], reduce="random", seed=3, chunk_size=32, batch_size=16, num_workers=0)
    single = topoact.collect(bundle, "shapes:96", out=tmp_path / "single", **common)
    dist = topoact.collect(bundle, "shapes:96", out=tmp_path / "dask", scheduler=client, **common)
    _assert_same_run(single, dist)


def test_cli_collect_on_a_running_scheduler_rebuilds_the_model_on_the_workers(tmp_path, client):
    from topoact.cli import main
    from topoact.models.script import save_torchscript

    path = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    save_torchscript(TinyCNN(len(SHAPE_CLASSES)).eval(), path, input_size=(32, 32), mean=(0.5,) * 3,
                     std=(0.25,) * 3, class_names=list(SHAPE_CLASSES))
    args = ["collect", "--model", f"torchscript:{path}", "--data", "shapes:48", "--layers", "output",
            "--chunk-size", "16", "--batch-size", "8", "--workers", "0"]
    assert main(args + ["--out", str(tmp_path / "single")]) == 0
    assert main(args + ["--out", str(tmp_path / "dask"), "--store", "zarr", "--scheduler", client.scheduler.address]) == 0
    _assert_same_run(topoact.open_run(tmp_path / "single"), topoact.open_run(tmp_path / "dask"))


def test_a_worker_killed_mid_run_leaves_no_missing_or_duplicated_rows(tmp_path, client):
    bundle = _bundle(SlowCNN)
    common = dict(layers=["conv1", "conv2"], chunk_size=12, batch_size=4, num_workers=0)
    out = tmp_path / "dask"
    errors = []

    def run():
        try:
            topoact.collect(bundle, "shapes:240", out=out, scheduler=client, store="zarr", **common)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    before = client.run(os.getpid)
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            progress = json.loads((out / "progress.json").read_text())
        except (OSError, ValueError):
            progress = {}
        if progress.get("chunks_done", 0) >= 2:
            break
        time.sleep(0.05)
    assert progress.get("chunks_done", 0) < 20, "the run finished before a worker could be killed"
    victim = sorted(before.values())[0]
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive() and not errors, errors
    assert victim not in client.run(os.getpid).values()  # the worker really died (and was replaced)
    single = topoact.collect(bundle, "shapes:240", out=tmp_path / "single", **common)
    dist = topoact.open_run(out)
    _assert_same_run(single, dist)
    np.testing.assert_array_equal(dist.source_index, np.arange(240))


def test_mapper_cover_elements_on_dask_give_the_same_graph(tmp_path_factory, client):
    from tiny_runs import tiny_conv2_run

    from topoact.distributed import use_scheduler
    from topoact.distributed.tasks import _open_npy
    from topoact.mapper import DBSCAN, L2Norm, Mapper, UniformCover

    X = topoact.open_run(tiny_conv2_run(tmp_path_factory)).activations("conv2")

    def mapper(**kw):
        return Mapper(L2Norm(), UniformCover(6, 0.3), DBSCAN(eps="auto", min_samples=3), **kw)

    local = mapper(n_jobs=1).fit(X).graph_
    client.run(_open_npy.cache_clear)
    remote = mapper(scheduler=client).fit(X).graph_
    # the workers read their rows from the run's .npy file themselves (the layer is not shipped)
    assert sum(client.run(lambda: _open_npy.cache_info().currsize).values()) >= 1
    in_memory = mapper(scheduler=client).fit(np.array(X)).graph_  # rows sent with each task
    with use_scheduler(client):  # the default scheduler of a block (what `topoact mapper --scheduler` sets)
        block = mapper().fit(X).graph_
    # the same run as a Zarr store: the workers open the Zarr array and read their rows of it
    from topoact.cli import main
    from topoact.distributed.tasks import ZarrRows, _open_zarr, file_rows
    from topoact.mapper.sweep import sweep
    from topoact.storage.zarr_array import zarr_source

    run_dir = tiny_conv2_run(tmp_path_factory)
    assert main(["convert", str(run_dir), "--store", "zarr"]) == 0
    Xz = topoact.open_run(run_dir).activations("conv2")
    assert isinstance(file_rows(Xz), ZarrRows) and zarr_source(Xz[1:]) is None and zarr_source(np.array(Xz)) is None
    client.run(_open_zarr.cache_clear)
    from_zarr = mapper(scheduler=client).fit(Xz).graph_
    assert sum(client.run(lambda: _open_zarr.cache_info().currsize).values()) >= 1
    grid = dict(n_intervals=[4, 6], overlaps=[0.3], eps_scales=[1.0], return_graphs=True)
    for x, y in zip(sweep(X, **grid), sweep(Xz, scheduler=client, **grid)):  # workers read the whole array
        assert all(np.array_equal(p, q) for p, q in zip(x["graph"].members, y["graph"].members))
    assert local.n_nodes > 3
    for graph in (remote, in_memory, block, from_zarr):
        assert len(graph.members) == len(local.members)
        for a, b in zip(local.members, graph.members):
            np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def two_layers(tmp_path_factory):
    """A run of TinyCNN's conv1 and conv2 on shapes:240 (npy store)."""
    out = tmp_path_factory.mktemp("two") / "run"
    return topoact.collect(_bundle(), "shapes:240", ["conv1", "conv2"], out=out, num_workers=0, progress=False,
                           chunk_size=120, batch_size=60)


def test_bootstrap_probes_knn_and_sweep_on_dask_equal_in_process(two_layers, client):
    from topoact.mapper.sweep import sweep
    from topoact.observers.probes import probe_layers
    from topoact.topology.run_persistence import compute_persistence

    run = two_layers
    X = run.activations("conv2")
    params = dict(n_landmarks=50, n_bootstrap=4, max_dim=1, seed=2)
    a = compute_persistence(np.asarray(X), **params)
    b = compute_persistence(np.asarray(X), scheduler=client, **params)
    assert a.bootstrap["c"] == b.bootstrap["c"] and a.band == b.band and a.band[1] is not None

    local, remote = (probe_layers(run, cache=False, scheduler=s) for s in (None, client))
    assert list(remote.layers) == ["conv1", "conv2"]
    for layer in run.layers:
        assert local.layers[layer]["accuracy"] == remote.layers[layer]["accuracy"]
        assert local.layers[layer]["coef"] == remote.layers[layer]["coef"]

    # exact search, and a reference sample (exact_max) with the projection candidates
    for extra in ({}, {"exact_max": 100}):
        pd_testing = pytest.importorskip("pandas").testing
        pd_testing.assert_frame_equal(topoact.anomalies(run, cache=False, **extra),
                                      topoact.anomalies(run, cache=False, scheduler=client, **extra))

    grid = dict(n_intervals=[4, 6], overlaps=[0.3], eps_scales=[1.0, 1.25], return_graphs=True)
    for x, y in zip(sweep(X, **grid), sweep(X, scheduler=client, **grid)):
        assert {k: x[k] for k in ("n_intervals", "overlap", "eps_scale", "eps", "nodes", "edges")} == \
            {k: y[k] for k in ("n_intervals", "overlap", "eps_scale", "eps", "nodes", "edges")}
        assert all(np.array_equal(p, q) for p, q in zip(x["graph"].members, y["graph"].members))


def test_cli_scheduler_for_persistence_probe_anomalies_and_sweep(two_layers, client, tmp_path):
    import shutil

    import pandas as pd

    from topoact.cli import main

    local, remote = tmp_path / "local", tmp_path / "remote"
    for path in (local, remote):
        shutil.copytree(two_layers.path, path)
    address = ["--scheduler", client.scheduler.address]
    commands = {"persistence": ["--layers", "conv2", "--landmarks", "40", "--bootstrap", "3"],
                "probe": ["--out", "{out}/probe.json"], "anomalies": ["--out", "{out}/anomalies.csv"],
                "sweep": ["--layer", "conv2", "--n-intervals", "4,6", "--overlaps", "0.3", "--eps-scales", "1",
                          "--out", "{out}/sweep.json"]}
    for command, args in commands.items():
        for run, extra in ((local, []), (remote, address)):
            assert main([command, str(run), *[a.format(out=tmp_path / run.name) for a in args], *extra]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local/anomalies.csv"),
                                  pd.read_csv(tmp_path / "remote/anomalies.csv"))
    probes = [json.loads((tmp_path / name / "probe.json").read_text()) for name in ("local", "remote")]
    assert [v["accuracy"] for v in probes[0]["layers"].values()] == \
        [v["accuracy"] for v in probes[1]["layers"].values()]
    sweeps = [json.loads((tmp_path / name / "sweep.json").read_text()) for name in ("local", "remote")]
    assert [(r["nodes"], r["edges"]) for r in sweeps[0]] == [(r["nodes"], r["edges"]) for r in sweeps[1]]
    bands = [topoact.open_run(run).results_dir("persistence") for run in (local, remote)]
    assert [sorted(p.name for p in d.rglob("*.json")) for d in bands][0]
    contents = [[json.loads(p.read_text())["band"] for p in sorted(d.rglob("*.json")) if "band" in p.read_text()]
                for d in bands]
    assert contents[0] == contents[1] and contents[0]


def test_zarr_store_convert_and_resume_rules(tmp_path, capsys):
    from topoact.cli import main

    bundle = _bundle()
    common = dict(layers=["conv2"], chunk_size=25, batch_size=25, num_workers=0)
    npy = topoact.collect(bundle, "shapes:60", out=tmp_path / "npy", **common)
    zrun = topoact.collect(bundle, "shapes:60", out=tmp_path / "zarr", store="zarr", **common)
    _assert_same_run(npy, zrun)
    # a finished .npy run converts with one command, keeps its fingerprint, and converts back
    fingerprint = npy.fingerprint("conv2")
    assert main(["convert", str(tmp_path / "npy"), "--store", "zarr"]) == 0
    converted = topoact.open_run(tmp_path / "npy")
    assert converted.store == "zarr" and not (tmp_path / "npy" / "activations" / "conv2.npy").exists()
    assert converted.fingerprint("conv2") == fingerprint
    np.testing.assert_array_equal(converted.activations("conv2"), zrun.activations("conv2"))
    assert main(["convert", str(tmp_path / "npy"), "--store", "npy"]) == 0
    assert topoact.open_run(tmp_path / "npy").store == "npy"
    assert "stored as npy" in capsys.readouterr().out
    # an unfinished run resumes only in its own store
    from topoact.store import RunWriter

    meta = {"config_hash": "h", "chunk_size": 4, "store": "zarr"}
    RunWriter(tmp_path / "part", meta=meta, n_rows=8, layer_dims={"l": 2}, n_classes=2)
    with pytest.raises(FileExistsError, match="--store zarr"):
        RunWriter(tmp_path / "part", meta={**meta, "store": "npy"}, n_rows=8, layer_dims={"l": 2}, n_classes=2)
    # `topoact check` reads zarr layers; a damaged one is named by open_run and by check
    from topoact.check import check_run
    from topoact.errors import DamagedRunError

    assert not [p for p in check_run(tmp_path / "zarr") if p.severity == "error"]
    (zrun.activation_path("conv2") / "zarr.json").unlink()
    with pytest.raises(DamagedRunError, match="zarr.json"):
        topoact.open_run(tmp_path / "zarr")
    assert any("conv2.zarr" in str(p) for p in check_run(tmp_path / "zarr"))


def test_slots_commit_in_any_order_resume_and_close_gaps(tmp_path):
    """The slot layout (parallel writers): out-of-order commits, a new writer resuming, gaps closed."""
    from topoact.store import RunWriter

    rng = np.random.default_rng(0)
    values = rng.normal(size=(10, 3)).astype(np.float32)
    keep = [np.array([0, 1, 3]), np.array([4, 5, 6, 7]), np.array([9])]  # rows 2 and 8 unreadable

    def chunk_rows(c):
        index = keep[c]
        return dict(source_index=index, labels=index % 2, predictions=index % 2,
                    probabilities=np.ones((len(index), 2), np.float32), activations={"l": values[index]})

    for store in ("npy", "zarr"):
        meta = {"config_hash": "h", "chunk_size": 4, "store": store, "layers": {"l": {"dim": 3}}}
        writer = RunWriter(tmp_path / store, meta=meta, n_rows=10, layer_dims={"l": 3}, n_classes=2)
        assert writer.pending_chunks(3) == [0, 1, 2]
        writer.commit_slot(2, **chunk_rows(2))
        writer.commit_slot(0, **chunk_rows(0))
        with pytest.raises(ValueError, match="--scheduler"):
            writer.write_chunk(**chunk_rows(1))
        resumed = RunWriter(tmp_path / store, meta=meta, n_rows=10, layer_dims={"l": 3}, n_classes=2)
        assert resumed.pending_chunks(3) == [1]
        resumed.commit_slot(1, **chunk_rows(1))
        resumed.finish(index={"ids": [str(i) for i in range(8)], "paths": [None] * 8}, attributes={},
                       report={"n_rows": 8})
        run = topoact.open_run(tmp_path / store)
        rows = np.concatenate(keep)
        np.testing.assert_array_equal(run.source_index, rows)
        np.testing.assert_array_equal(run.activations("l"), values[rows])

    # a run started by one process switches to slots when nothing was skipped, else is refused
    meta = {"config_hash": "s", "chunk_size": 4, "layers": {"l": {"dim": 3}}}
    full = dict(chunk_rows(1), source_index=np.arange(4, 8))
    sequential = RunWriter(tmp_path / "seq", meta=meta, n_rows=10, layer_dims={"l": 3}, n_classes=2)
    sequential.write_chunk(**full)
    assert sequential.pending_chunks(3) == [1, 2]
    skipping = RunWriter(tmp_path / "skip", meta=meta, n_rows=10, layer_dims={"l": 3}, n_classes=2)
    skipping.write_chunk(**chunk_rows(0))
    with pytest.raises(ValueError, match="without --scheduler"):
        skipping.pending_chunks(3)


def test_scheduler_values_are_checked(tmp_path, capsys):
    from topoact.cli import main
    from topoact.distributed import check_scheduler
    from topoact.errors import InvalidParameterError

    assert check_scheduler("local") == "local" and check_scheduler("local:3") == "local:3"
    assert check_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    for bad in ("local:0", "locale", "http://x:1", "tcp://"):
        with pytest.raises(InvalidParameterError, match="local:N|N >= 1"):
            check_scheduler(bad)
    with pytest.raises(InvalidParameterError, match="tcp://HOST:PORT"):
        topoact.collect(_bundle(), "shapes:4", ["conv2"], out=tmp_path / "r", scheduler="dask")
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit):
        main(["collect", "--model", "demo", "--data", "shapes", "--layers", "conv2", "--out", str(tmp_path / "r"),
              "--scheduler", "nowhere"])
    assert "unknown scheduler 'nowhere'" in capsys.readouterr().err


def _worker_malloc_state(_shared, item):
    import os

    from topoact.allocator import malloc_tuned
    return item, os.environ.get("MALLOC_TRIM_THRESHOLD_"), malloc_tuned()


def test_dask_tasks_run_with_tuned_malloc(client):
    """Dask gives workers MALLOC_TRIM_THRESHOLD_ (every large block faulted in afresh); every
    task topoact submits first sets the thresholds of topoact.allocator in its worker."""
    from topoact.distributed.tasks import map_tasks

    results = dict(map_tasks(client, _worker_malloc_state, [0, 1, 2, 3], shared=[None]))
    assert len(results) == 4
    for item, trim, tuned in results.values():
        assert trim == "65536" and tuned is True
