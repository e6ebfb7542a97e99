"""Data for benchmarks/anomalies.py: out-of-distribution images and collected runs in /tmp.

Kept apart from the benchmark's measuring code; every run is collected with topoact's own
``collect`` through the same model and layers as the CIFAR-10 run it is mixed into.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def ood_images(n_per_source: int = 200, seed: int = 0) -> dict[str, list[Image.Image]]:
    """32 x 32 RGB images from three offline sources: built-in shapes, sklearn digits, and tiles
    cut from sklearn's two sample photographs (china, flower)."""
    from sklearn.datasets import load_digits, load_sample_images

    from topoact.data import open_dataset

    rng = np.random.default_rng(seed)
    shapes = open_dataset(f"shapes:{n_per_source}")
    out = {"shapes": [shapes.load(i).convert("RGB").resize((32, 32), Image.BILINEAR) for i in range(len(shapes))]}
    digits = load_digits().images
    picks = rng.choice(len(digits), n_per_source, replace=False)
    out["digits"] = [Image.fromarray((np.repeat(digits[i][..., None], 3, 2) * 255 / 16).astype(np.uint8))
                     .resize((32, 32), Image.NEAREST) for i in picks]
    tiles = []
    for photo in load_sample_images().images:
        h, w = photo.shape[:2]
        tiles += [photo[y:y + 32, x:x + 32] for y in range(0, h - 31, 32) for x in range(0, w - 31, 32)]
    picks = rng.choice(len(tiles), n_per_source, replace=False)
    out["photo-tiles"] = [Image.fromarray(np.ascontiguousarray(tiles[i])) for i in picks]
    return out


def write_ood_folder(folder: Path, n_per_source: int = 200, seed: int = 0) -> Path:
    """An ImageFolder of the OOD images, each under a random CIFAR-10 class (a contaminated
    dataset labels them somehow); file names start with the source."""
    folder = Path(folder)
    rng = np.random.default_rng(seed + 1)
    for source, images in ood_images(n_per_source, seed).items():
        for i, image in enumerate(images):
            target = folder / CIFAR_CLASSES[int(rng.integers(10))] / f"{source}-{i:04d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            image.save(target)
    for name in CIFAR_CLASSES:  # ImageFolder needs every class present to keep CIFAR's order
        (folder / name).mkdir(parents=True, exist_ok=True)
    return folder
