"""A small real run with planted anomalies (imported by the tests; no conftest.py so that
tests/conftest.py is not shadowed).

Three colour classes (``blue``, ``green``, ``red``: one dominant channel plus noise), 30 images
each, collected with the real ``topoact.collect`` through a tiny real model whose answer is known:
a 1x1 convolution ``features`` (channels and their negatives, ReLU) and a linear ``fc`` that
scores each class by its channel. Planted:

- ``green/planted-mislabel.png``: a red image filed under green;
- ``blue/planted-far.png``: a white image, unlike every class;
- ``red/planted-copy.png``: a byte-for-byte copy of ``red/img-003.png``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

CLASSES = ("blue", "green", "red")            # ImageFolder sorts: blue=0, green=1, red=2
CHANNEL = {"red": 0, "green": 1, "blue": 2}
PER_CLASS = 30
SIZE = 16
LAYERS = ["features", "fc"]


class ColourNet(nn.Module):
    """features: ReLU([x; -x]) by a 1x1 conv, global average pool; fc: class c scored by its channel."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.cat([torch.eye(3), -torch.eye(3)]).reshape(6, 3, 1, 1))
            self.features[0].bias.zero_()
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            for index, name in enumerate(CLASSES):
                self.fc.weight[index, CHANNEL[name]] = 12.0

    def forward(self, x):
        return self.fc(self.features(x))


def colour_image(name: str, rng: np.random.Generator) -> Image.Image:
    base = np.full(3, 0.15) + rng.uniform(-0.05, 0.05, 3)
    base[CHANNEL[name]] = 0.75 + rng.uniform(-0.1, 0.1)
    pixels = np.clip(base + rng.normal(0, 0.04, (SIZE, SIZE, 3)), 0, 1)
    return Image.fromarray((pixels * 255).astype(np.uint8))


def write_planted_folder(folder: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            colour_image(name, rng).save(folder / name / f"img-{i:03d}.png")
    colour_image("red", rng).save(folder / "green" / "planted-mislabel.png")
    Image.fromarray(np.full((SIZE, SIZE, 3), 250, np.uint8)).save(folder / "blue" / "planted-far.png")
    shutil.copyfile(folder / "red" / "img-003.png", folder / "red" / "planted-copy.png")
    return folder


def planted_bundle():
    from topoact.models import load_model

    return load_model(ColourNet().eval(), class_names=list(CLASSES), input_size=(SIZE, SIZE),
                      mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


@pytest.fixture(scope="session")
def planted_run_dir(tmp_path_factory) -> Path:
    import topoact

    folder = write_planted_folder(tmp_path_factory.mktemp("planted") / "images")
    out = tmp_path_factory.mktemp("runs") / "planted"
    topoact.collect(planted_bundle(), str(folder), LAYERS, out=out, num_workers=0, progress=False)
    return out


def row_of(run, name: str) -> int:
    return next(i for i, path in enumerate(run.paths) if path and path.endswith(name))
