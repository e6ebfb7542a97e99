"""On-disk cache of synthesized images: PNG files + a JSON manifest per request.

Layout (inside ``run.results_dir('features')`` or any directory)::

    <key>/manifest.json   {"key", "request", "images": ["000.png", ...], "metrics", "created"}
    <key>/000.png ...     8-bit RGB images

``key = stable_hash(request)`` where the request holds the model hash, layer, target, method,
parameters and seed (see :func:`make_key`). Images are quantised to 8 bits *before* they are
returned the first time, so a cache hit returns identical pixels. An entry is written into a
uniquely named temporary directory (its manifest through :func:`topoact.fileio.write_json`,
fsynced) that is renamed into place, so a crash never leaves a half-written entry and two
writers of the same key never share files (the first complete entry stays; a damaged one is
replaced).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from topoact.fileio import DamagedFileError, read_json, write_json
from topoact.hashing import stable_hash

__all__ = ["FeatureCache", "make_key", "to_uint8", "from_uint8"]


def make_key(model_hash: str, layer: str, target: Any, method: str, params: dict, seed: int) -> str:
    """Cache key of a request: ``stable_hash`` of all its parts.

    Parameters
    ----------
    model_hash, layer : str
    target : JSON-able
        What is visualized (node, channels, row ...).
    method : str
    params : dict
        The method's parameters.
    seed : int

    Returns
    -------
    str
    """
    return stable_hash({"model": model_hash, "layer": layer, "target": target,
                        "method": method, "params": params, "seed": seed})


def to_uint8(images: Any) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] (tensor or array) -> (B, H, W, 3) uint8."""
    a = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images)
    return (np.clip(a, 0, 1) * 255.0 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def from_uint8(images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    return images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


class FeatureCache:
    """Directory of cached feature-visualization results.

    Parameters
    ----------
    root : str or Path
        The folder; created on the first :meth:`put` (reading never creates it).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Folder of the entry ``key``."""
        return self.root / key

    def get(self, key: str) -> dict | None:
        """Manifest (with absolute ``paths``) or None when the key is not cached."""
        manifest = self.path(key) / "manifest.json"
        try:
            data = read_json(manifest)
        except (FileNotFoundError, NotADirectoryError, DamagedFileError):
            return None
        data["paths"] = [str(self.path(key) / name) for name in data["images"]]
        if not all(os.path.exists(p) for p in data["paths"]):
            return None
        return data

    def load_images(self, key: str) -> np.ndarray:
        """(B, H, W, 3) uint8 pixels of a cached entry."""
        entry = self.get(key)
        if entry is None:
            raise KeyError(f"no cached feature visualization {key!r} in {self.root}")
        return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in entry["paths"]])

    def put(self, key: str, images: Any, request: dict, metrics: dict) -> dict:
        """Store images; return the manifest (as :meth:`get` does).

        Parameters
        ----------
        key : str
        images : tensor/array (B, 3, H, W) float in [0, 1], or (B, H, W, 3) uint8
        request : dict
            What was asked (model hash, layer, target, method, parameters).
        metrics : dict
            JSON-able metrics of the result.
        """
        pixels = images if (isinstance(images, np.ndarray) and images.dtype == np.uint8) else to_uint8(images)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            names = []
            for i, img in enumerate(pixels):
                name = f"{i:03d}.png"
                Image.fromarray(img, "RGB").save(tmp / name)
                names.append(name)
            manifest = {"key": key, "request": request, "images": names, "metrics": metrics,
                        "created": time.time()}
            write_json(tmp / "manifest.json", manifest)
            final = self.path(key)
            try:
                tmp.rename(final)
            except OSError:
                if self.get(key) is not None:       # another writer stored this key first
                    shutil.rmtree(tmp, ignore_errors=True)
                else:                               # a damaged entry: replace it
                    shutil.rmtree(final, ignore_errors=True)
                    tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.get(key)

