"""Activation collection: hooks, reductions, corrupt images, resume after kill -9, bounded memory."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import topoact
from topoact.data.base import CorruptImageError, ImageSet
from topoact.store import IncompleteRunError


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


class WideNet(nn.Module):
    """Wide enough that holding every image's vectors would dominate the memory peak."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 256, 3, padding=1)
        self.fc = nn.Linear(256, 3)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class ColourSet(ImageSet):
    """In-memory images; rows listed in ``broken`` cannot be read. Not reopenable (spec None)."""

    class_names = ["a", "b", "c"]

    def __init__(self, n, broken=()):
        self.n, self.broken = n, set(broken)

    def __len__(self):
        return self.n

    def load(self, index):
        if index in self.broken:
            raise CorruptImageError(f"item {index} is truncated")
        rng = np.random.default_rng(index)
        return Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8))

    def labels(self):
        return np.arange(self.n, dtype=np.int64) % 3

    def item_id(self, index):
        return f"colour:{index}"

    def attributes(self):
        return {"hue": np.linspace(0, 1, self.n)}

    def attribute_kinds(self):
        return {"hue": "circular"}


def tiny_bundle():
    return topoact.load_model(TinyNet(), input_size=(8, 8), class_names=["a", "b", "c"])


def test_collect_matches_a_manual_forward_and_skips_corrupt_images(tmp_path):
    data = ColourSet(23, broken={5, 17})
    bundle = tiny_bundle()
    run = topoact.collect(bundle, data, ["conv", "fc"], out=tmp_path / "run", batch_size=4, chunk_size=7,
                          progress=False)
    assert run.n == 21
    assert run.report["n_skipped"] == 2
    assert sorted(s["source_index"] for s in run.report["skipped"]) == [5, 17]
    assert all("truncated" in s["reason"] for s in run.report["skipped"])
    kept = [i for i in range(23) if i not in (5, 17)]
    assert run.source_index.tolist() == kept
    assert run.ids == [f"colour:{i}" for i in kept]
    np.testing.assert_array_equal(run.labels, np.array(kept) % 3)
    np.testing.assert_allclose(run.attributes["hue"], np.linspace(0, 1, 23)[kept])

    batch = torch.stack([bundle.preprocess(data.load(i)) for i in kept])
    with torch.no_grad():
        conv = bundle.module.conv(batch)
        logits = bundle.module(batch)
    np.testing.assert_allclose(run.activations("conv"), conv.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.activations("fc"), logits.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(run.predictions, logits.argmax(1).numpy())
    np.testing.assert_allclose(run.probabilities.sum(1), 1.0, rtol=1e-5)
    assert run.meta["layers"]["conv"] == {"shape": [4, 8, 8], "dim": 4, "reduce": "gap"}
    assert run.meta["layers"]["fc"]["reduce"] == "none"
    assert run.reduce_of("conv") == "gap" and run.reduce_of("fc") == "none"
    # Not reopenable: the images shown by the app come from stored thumbnails.
    assert np.array_equal(np.asarray(run.image(0)), np.asarray(data.load(0)))
    with pytest.raises(IndexError):
        run.image(21)


def test_random_reduction_is_independent_of_batching(tmp_path):
    data = ColourSet(30)
    a = topoact.collect(tiny_bundle(), data, ["conv"], out=tmp_path / "a", reduce="random", batch_size=3,
                        chunk_size=9, progress=False)
    b = topoact.collect(tiny_bundle(), data, ["conv"], out=tmp_path / "b", reduce="random", batch_size=16,
                        chunk_size=30, progress=False)
    np.testing.assert_array_equal(a.activations("conv"), b.activations("conv"))


def test_bad_layer_name_lists_valid_layers(tmp_path):
    with pytest.raises(ValueError) as error:
        topoact.collect(tiny_bundle(), ColourSet(4), ["conv", "fcc"], out=tmp_path / "r", progress=False)
    assert "fcc" in str(error.value) and "fc" in str(error.value) and "relu" in str(error.value)


def test_other_settings_in_an_existing_run_directory_are_refused(tmp_path):
    topoact.collect(tiny_bundle(), ColourSet(6), ["conv"], out=tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match="different run"):
        topoact.collect(tiny_bundle(), ColourSet(6), ["fc"], out=tmp_path / "r", reduce="center", progress=False)
    # The finished run is untouched, and the same call again is a no-op returning it.
    again = topoact.collect(tiny_bundle(), ColourSet(6), ["conv"], out=tmp_path / "r", progress=False)
    assert again.layers == ["conv"] and again.n == 6


RESUME_SCRIPT = textwrap.dedent("""
    import sys, time, topoact
    from topoact.data import open_dataset
    data = open_dataset("shapes:{n}")
    # Slow each image down a little so the parent can kill us mid-run.
    original = data.load
    def load(i):
        time.sleep({delay})
        return original(i)
    data.load = load
    topoact.collect("cifar-resnet20", data, ["layer1", "layer3"], out=sys.argv[1], weights=sys.argv[2],
                    reduce="random", batch_size=8, chunk_size=30, progress=False)
""")


def _collect_in_subprocess(run_dir, weights, n, delay):
    script = RESUME_SCRIPT.format(n=n, delay=delay)
    return subprocess.Popen([sys.executable, "-c", script, str(run_dir), str(weights)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_kill_9_then_resume_gives_identical_arrays(tmp_path):
    from topoact.models.cifar_resnet import cifar_resnet

    weights = tmp_path / "r20.th"
    torch.manual_seed(1)
    torch.save({"state_dict": {"module." + k: v for k, v in cifar_resnet(20).state_dict().items()}}, weights)
    n = 120
    killed = tmp_path / "killed"
    process = _collect_in_subprocess(killed, weights, n, delay=0.01)
    progress = killed / "progress.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if progress.exists():
            import json

            try:
                if json.loads(progress.read_text())["chunks_done"] >= 2:
                    break
            except ValueError:
                pass
        if process.poll() is not None:
            pytest.fail(f"collection ended before it could be killed: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with pytest.raises(IncompleteRunError, match="resume"):
        topoact.open_run(killed)

    resumed = _collect_in_subprocess(killed, weights, n, delay=0.0)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    fresh = _collect_in_subprocess(tmp_path / "fresh", weights, n, delay=0.0)
    assert fresh.wait(timeout=300) == 0, fresh.stderr.read().decode()[-2000:]

    a, b = topoact.open_run(killed), topoact.open_run(tmp_path / "fresh")
    assert a.n == b.n == n
    for layer in ("layer1", "layer3"):
        np.testing.assert_array_equal(a.activations(layer), b.activations(layer))
    for name in ("labels", "predictions", "source_index"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert a.ids == b.ids


def _peak_python_memory(tmp_path, n):
    tracemalloc.start()
    try:
        bundle = topoact.load_model(WideNet(), input_size=(8, 8), class_names=["a", "b", "c"])
        topoact.collect(bundle, ColourSet(n), ["conv"], out=tmp_path / f"m{n}", batch_size=50,
                        chunk_size=200, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_images(tmp_path):
    small = _peak_python_memory(tmp_path, 400)
    large = _peak_python_memory(tmp_path, 4000)
    # Ten times the images (4000 x 256 float32 = 4 MB if held at once): the peak is set by one chunk
    # (200 rows), plus ~100 bytes per image for the id and path lists written at the end.
    assert large < 1.3 * small + 100 * 3600, (small, large)


def test_torchscript_models_collect_their_output(tmp_path):
    from topoact.models.script import save_torchscript

    path = tmp_path / "tiny.pt"
    save_torchscript(TinyNet(), path, input_size=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="TorchScript"):
        topoact.collect(f"torchscript:{path}", ColourSet(5), ["conv"], out=tmp_path / "bad", progress=False)
    run = topoact.collect(f"torchscript:{path}", ColourSet(5), ["output"], out=tmp_path / "run", progress=False)
    assert run.activations("output").shape == (5, 3)
    np.testing.assert_array_equal(run.activations("output").argmax(1), run.predictions)


# -- the run directory is guarded ----------------------------------------------------------------
def test_overwrite_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("months of work")
    for overwrite in (True, False):
        with pytest.raises(FileExistsError, match="not empty and holds no topoact run"):
            topoact.collect(tiny_bundle(), ColourSet(4), ["conv"], out=precious, overwrite=overwrite,
                            progress=False)
    assert (precious / "chapter1.tex").read_text() == "months of work"
    assert sorted(p.name for p in precious.iterdir()) == ["chapter1.tex"]


def test_overwrite_replaces_a_previous_run(tmp_path):
    topoact.collect(tiny_bundle(), ColourSet(6), ["conv"], out=tmp_path / "r", progress=False)
    run = topoact.collect(tiny_bundle(), ColourSet(5), ["fc"], out=tmp_path / "r", reduce="center",
                          overwrite=True, progress=False)
    assert run.layers == ["fc"] and run.n == 5 and run.meta["reduce"] == "center"
    assert not (tmp_path / "r" / "activations" / "conv.npy").exists()


def test_bad_out_and_limit_leave_nothing_behind(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(FileExistsError, match="is a file, not a directory"):
        topoact.collect(tiny_bundle(), ColourSet(4), ["conv"], out=a_file, progress=False)
    for limit in (-5, 0):
        with pytest.raises(ValueError, match=r"limit must be in \[1, "):
            topoact.collect(tiny_bundle(), ColourSet(4), ["conv"], out=tmp_path / "neg", limit=limit,
                            progress=False)
    # the model has 3 outputs but only 2 names: fails in the first chunk, before anything is committed
    two_names = topoact.load_model(TinyNet(), input_size=(8, 8), class_names=["a", "b"])
    with pytest.raises(ValueError, match="outputs 3 classes"):
        topoact.collect(two_names, ColourSet(4), ["conv"], out=tmp_path / "fails", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_progress_callback_and_cancel_keep_the_run_resumable(tmp_path):
    from topoact.progress import Cancelled

    seen = []

    def cancel_after_first_chunk():
        return len(seen) > 3

    with pytest.raises(Cancelled):
        topoact.collect(tiny_bundle(), ColourSet(20), ["conv"], out=tmp_path / "r", batch_size=2, chunk_size=4,
                        progress=lambda done, total, message="": seen.append((done, total, message)),
                        should_cancel=cancel_after_first_chunk)
    assert seen[0] == (0.0, 20.0, "collect") and seen[-1][0] < 20
    assert json.loads((tmp_path / "r" / "progress.json").read_text())["chunks_done"] >= 1
    run = topoact.collect(tiny_bundle(), ColourSet(20), ["conv"], out=tmp_path / "r", batch_size=2, chunk_size=4,
                          progress=False)
    fresh = topoact.collect(tiny_bundle(), ColourSet(20), ["conv"], out=tmp_path / "f", progress=False)
    np.testing.assert_array_equal(run.activations("conv"), fresh.activations("conv"))


LOCK_SCRIPT = textwrap.dedent("""
    import sys, time, topoact
    from topoact.data import open_dataset
    data = open_dataset("shapes:40")
    original = data.load
    def load(i):
        time.sleep(0.1)
        return original(i)
    data.load = load
    topoact.collect("cifar-resnet20", data, ["layer1"], out=sys.argv[1], batch_size=4, chunk_size=8,
                    progress=False)
""")


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    from topoact.runlock import RunLockedError, lock_path

    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "progress.json").exists():
        if first.poll() is not None or time.time() > deadline:
            pytest.fail(f"first writer did not start: {first.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    # this test process is the second writer: refused at once, with the holder named
    with pytest.raises(RunLockedError, match=rf"being written by another process \(pid {first.pid} on "):
        topoact.collect(tiny_bundle(), ColourSet(6), ["fc"], out=out, reduce="center", overwrite=True,
                        progress=False)
    assert first.poll() is None, "the refusal must not disturb the first writer"
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()[-2000:]
    run = topoact.open_run(out)  # the first writer's run, whole
    assert run.n == 40 and run.layers == ["layer1"] and run.meta["reduce"] == "gap"
    assert not lock_path(out).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    import socket

    from topoact.runlock import lock_path

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "run"
    lock_path(out).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                          "started": time.time() - 60, "command": "killed -9"}))
    with caplog.at_level("WARNING", logger="topoact.runlock"):
        run = topoact.collect(tiny_bundle(), ColourSet(6), ["conv"], out=out, progress=False)
    assert run.n == 6 and "taking over the stale lock" in caplog.text
    assert not lock_path(out).exists()
