"""topoact.npyfile: np.load under one lock (npy header parsing is not thread-safe on CPython 3.11)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from topoact import npyfile


def test_load_reads_and_maps_like_np_load(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "x.npy", X)
    read = npyfile.load(tmp_path / "x.npy")
    mapped = npyfile.load(tmp_path / "x.npy", mmap_mode="r")
    assert type(read) is np.ndarray and np.array_equal(read, X)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, X) and not mapped.flags.writeable
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        npyfile.load(tmp_path / "objects.npy")


def test_load_npz_reads_every_member(tmp_path):
    np.savez(tmp_path / "a.npz", hue=np.linspace(0, 1, 5), size=np.arange(5))
    data = npyfile.load_npz(tmp_path / "a.npz")
    assert sorted(data) == ["hue", "size"] and np.array_equal(data["size"], np.arange(5))


def test_loads_from_many_threads_never_overlap(tmp_path, monkeypatch):
    """The lock is what keeps two header parses apart: no two np.load calls run at once."""
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    inside, most = [0], [0]
    guard = threading.Lock()
    real_load = np.load

    def slow_load(*args, **kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)  # long enough for another thread to enter if nothing stops it
        try:
            return real_load(*args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(np, "load", slow_load)
    threads = [threading.Thread(target=npyfile.load, args=(tmp_path / "x.npy", "r")) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_run_reads_go_through_the_lock(tmp_path_factory, monkeypatch):
    """A run's activations (what the app's request threads read) are loaded by npyfile.load."""
    from tiny_runs import tiny_conv2_run

    from topoact.store import open_run

    run = open_run(tiny_conv2_run(tmp_path_factory, 20))
    calls = []
    real = npyfile.load
    monkeypatch.setattr(npyfile, "load", lambda path, mmap_mode=None: calls.append(str(path)) or real(path, mmap_mode))
    assert run.activations("conv2").shape[0] == 20
    assert any(path.endswith("conv2.npy") for path in calls)
