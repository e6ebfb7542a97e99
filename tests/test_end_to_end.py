"""End to end on real data: the CIFAR ResNet-20 checkpoint on the shared CIFAR-10 images, through
the command line (layers, collect, mapper) and the Python API."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import topoact
from conftest import CIFAR_IMAGES, CIFAR_RESNET20, requires_shared_data


def topoact_cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "topoact", *map(str, args)], capture_output=True, text=True,
                            timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"topoact {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    if not (CIFAR_IMAGES.is_dir() and CIFAR_RESNET20.is_file()):
        pytest.skip("shared CIFAR data absent")
    out = tmp_path_factory.mktemp("e2e") / "r20"
    topoact_cli("collect", "--model", "cifar-resnet20", "--weights", CIFAR_RESNET20, "--data", CIFAR_IMAGES,
                "--layers", "layer1,layer3", "--out", out, "--reduce", "gap")
    return topoact.open_run(out)


@requires_shared_data
def test_checkpoint_accuracy_and_run_contents(cifar_run):
    run = cifar_run
    assert run.n == 5000
    assert run.class_names[:3] == ["airplane", "automobile", "bird"]
    accuracy = float((run.predictions == run.labels).mean())
    assert accuracy > 0.78, accuracy  # measured 81.0% on these JPEG re-encodings
    assert run.activations("layer1").shape == (5000, 16)
    assert run.activations("layer3").shape == (5000, 64)
    assert np.isfinite(run.activations("layer3")).all()
    assert run.paths[0].endswith(".jpg") and run.ids[0].startswith("airplane/")
    assert run.image(0).size == (32, 32)


@requires_shared_data
def test_mapper_purity_grows_with_depth(cifar_run):
    run = cifar_run
    purity = {}
    for layer in ("layer1", "layer3"):
        result = topoact_cli("mapper", run.path, "--layer", layer)
        assert layer in result.stdout
        graph = run.graph(layer).to_dict()
        sizes = np.array([node["size"] for node in graph["nodes"]])
        assert len(sizes) >= 3
        for node in graph["nodes"]:
            members = np.asarray(node["members"])
            assert members.min() >= 0 and members.max() < run.n
            assert len(members) == node["size"] == sum(node["label_counts"].values())
        purity[layer] = float(np.mean([node["purity"] for node in graph["nodes"]]))
    assert purity["layer3"] > purity["layer1"], purity


def test_cli_layers_and_bad_layer_error(tmp_path):
    result = topoact_cli("layers", "--model", "cifar-resnet20")
    assert "layer3.2.conv2" in result.stdout and "(64, 8, 8)" in result.stdout
    bad = topoact_cli("collect", "--model", "cifar-resnet20", "--data", "shapes:10", "--layers", "layer9",
                      "--out", tmp_path / "run", check=False)
    assert bad.returncode == 2
    assert "unknown layer 'layer9'" in bad.stderr and "layer3" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_help_for_every_command(capsys):
    from topoact.cli import main

    for command in ("layers", "collect", "check", "mapper", "sweep", "persistence", "visualize", "serve", "demo"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert f"usage: topoact {command}" in capsys.readouterr().out


def test_demo_prepares_a_mapped_run(tmp_path, monkeypatch):
    from topoact.demo import DEMO_LAYERS, prepare_demo

    run = prepare_demo(tmp_path / "demo", progress=False)
    assert run.layers == DEMO_LAYERS
    for layer in DEMO_LAYERS:
        assert run.graph(layer).n_nodes, layer
    accuracy = float((run.predictions == run.labels).mean())
    assert accuracy > 0.6, accuracy
    # A second call finds everything cached (same run, same graphs).
    again = prepare_demo(tmp_path / "demo", progress=False)
    assert again.graph(DEMO_LAYERS[-1]).key == run.graph(DEMO_LAYERS[-1]).key


def test_cli_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    from topoact.cli import main

    def fails(*args):
        code = main([str(a) for a in args])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err, err
        lines = [line for line in err.splitlines() if line.startswith(f"topoact {args[0]}: error: ")]
        assert len(lines) == 1, err
        return lines[0]

    collect = ["collect", "--model", "cifar-resnet20", "--data", "shapes:12", "--layers", "layer1,layer2"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "is a file, not a directory" in fails(*collect, "--out", a_file)
    assert "limit must be in [1, " in fails(*collect, "--out", tmp_path / "neg", "--limit", -5)
    assert not (tmp_path / "neg").exists()
    assert "unknown layer 'layer9'" in fails("collect", "--model", "cifar-resnet20", "--data", "shapes:12",
                                             "--layers", "layer9", "--out", tmp_path / "bad")

    run_dir = tmp_path / "run"
    assert main([*collect, "--out", str(run_dir)]) == 0
    assert "images collected" in capsys.readouterr().out

    activations = run_dir / "activations" / "layer1.npy"
    whole = activations.read_bytes()
    activations.write_bytes(whole[: len(whole) // 2])
    line = fails("serve", run_dir)
    assert str(activations) in line and "truncated" in line and "--overwrite" in line
    activations.write_bytes(whole)

    meta = run_dir / "meta.json"
    good = meta.read_text()
    meta.write_text(good[:-40])
    line = fails("serve", run_dir)
    assert str(meta) in line and "not valid JSON" in line
    meta.write_text(good)

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(run_dir), "--port", "99999"])
    assert exit_info.value.code == 2 and "must be in 1..65535" in capsys.readouterr().err
