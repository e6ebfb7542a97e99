"""Per-image attributes from a user CSV: matching by id or path, kinds, unmatched rows, CLI."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import topoact
from topoact.attributes import import_attributes
from topoact.cli import main
from topoact.errors import InvalidParameterError
from topoact.observers.probes import probe_layers


@pytest.fixture()
def folder_run(tmp_path):
    """A real run on a small ImageFolder (file paths) of generated PNGs with a tiny CNN."""
    import torch
    from PIL import Image
    from tiny_models import TinyCNN

    from topoact.models import load_model

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for c, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(rng.normal(60 + 120 * c, 20, size=(16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    torch.manual_seed(0)
    bundle = load_model(TinyCNN(2).eval(), class_names=["dark", "light"], input_size=(16, 16))
    run = topoact.collect(bundle, str(root), ["conv1", "fc"], out=tmp_path / "run", num_workers=0, progress=False)
    return run, root


def _write(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_import_by_path_with_kinds_and_unmatched_rows(folder_run, tmp_path):
    run, root = folder_run
    rows = []
    for r, p in enumerate(run.paths):
        brightness = float(np.asarray(run.image(r)).mean())
        relative = "/".join(p.split("/")[-2:])               # "dark/001.png": matched by its tail
        rows.append([relative, brightness, "warm" if r % 3 else "cold", (r * 30) % 360])
    rows.append(["nowhere/999.png", 1.0, "warm", 0])
    csv_path = _write(tmp_path / "attrs.csv", ["path", "brightness", "tone", "angle"], rows[5:])
    done = import_attributes(run, csv_path, kinds={"angle": "circular"}, periods={"angle": 360})
    assert done.attributes == {"brightness": "linear", "tone": "categorical", "angle": "circular"}
    assert done.unmatched == 1 and done.unmatched_examples == ["nowhere/999.png"]
    assert done.matched == run.n - 5 and done.missing_images == 5
    reopened = topoact.open_run(run.path)
    values = reopened.attributes["brightness"]
    assert np.isnan(values[:5]).all() and np.isfinite(values[5:]).all()
    assert reopened.attribute_kinds["angle"] == "circular"
    assert reopened.attributes_meta["angle"]["period"] == 360
    assert reopened.attributes_meta["tone"]["categories"] == ["cold", "warm"]
    # a probe reads the stored attribute: brightness quartiles are easy from conv1
    result = probe_layers(reopened, ["conv1"], target="brightness")
    assert result.layers["conv1"]["accuracy"] > result.layers["conv1"]["shuffled"]


def test_import_by_id_through_the_cli_and_errors(folder_run, tmp_path, capsys):
    run, _ = folder_run
    csv_path = _write(tmp_path / "ids.csv", ["id", "score"], [[i, k * 0.5] for k, i in enumerate(run.ids)])
    assert main(["attributes", str(run.path), str(csv_path)]) == 0
    assert "score (linear)" in capsys.readouterr().out
    assert topoact.open_run(run.path).attributes["score"][3] == pytest.approx(1.5)
    bad = _write(tmp_path / "bad.csv", ["name", "score"], [["a", 1]])
    with pytest.raises(InvalidParameterError, match="'id' or 'path' column"):
        import_attributes(run, bad)
    nothing = _write(tmp_path / "none.csv", ["id", "score"], [["zzz", 1]])
    with pytest.raises(InvalidParameterError, match="no row .* matches"):
        import_attributes(run, nothing)
    assert main(["attributes", str(run.path), str(nothing)]) == 2
    assert "matches an image" in capsys.readouterr().err
    assert not math.isnan(topoact.open_run(run.path).attributes["score"][0])


def test_collect_takes_attributes_at_collect_time(tmp_path, capsys):
    from topoact.data import open_dataset

    ids = [open_dataset("shapes:40").item_id(i) for i in range(40)]
    csv_path = _write(tmp_path / "a.csv", ["id", "rating"], [[i, k % 3] for k, i in enumerate(ids)])
    out = tmp_path / "run"
    assert main(["collect", "--model", "demo", "--data", "shapes:40", "--layers", "block3", "--out", str(out),
                 "--workers", "0", "--attributes", str(csv_path)]) == 0
    assert "attributes rating stored" in capsys.readouterr().out
    run = topoact.open_run(out)
    assert run.attribute_kinds["rating"] == "categorical"
    assert run.attributes["rating"].tolist() == [k % 3 for k in range(40)]
    assert "orientation" in run.attributes          # the built-in attributes are kept
