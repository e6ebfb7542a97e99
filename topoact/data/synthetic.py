"""The built-in ``shapes`` image set: generated, deterministic, no download, topology built in.

Design choices (the issue asks for a set that "makes topology visible"):

* 32x32 RGB images, 8 classes in two families, alternating by index (even ``i`` -> shape,
  odd ``i`` -> grating) so every prefix ``shapes:N`` is balanced between families:

  - ``circle``, ``square``, ``triangle``, ``cross``: one filled shape of a random hue, size,
    position and rotation on a dark noisy background (shape kind = ``(i // 2) % 4``).
  - ``grating-0``, ``grating-45``, ``grating-90``, ``grating-135``: a full-field sinusoidal
    grating whose **orientation** ``theta`` is drawn uniformly from ``[0, pi)``. ``theta`` is the
    direction of the wave vector (stripes run at ``theta + pi/2``); a grating at ``theta`` and
    at ``theta + pi`` is the same image up to phase, so orientation is a circular factor of
    period ``pi``. The class is the nearest of the four canonical orientations, i.e. the labels
    cut the circle into four arcs - a classifier has to represent orientation continuously and
    its activations of the grating images trace a loop.

* Image ``i`` depends only on ``(seed, i)``: its generator is ``np.random.default_rng([seed, i])``
  so images are regenerated lazily in any order, and ``attributes()`` is computed from the
  parameters alone without rendering.
* Generative attributes per image (``attributes()``; NaN where an attribute does not apply to the
  image's family): ``family`` (categorical: 0 shape, 1 grating), ``hue`` (circular, period 1),
  ``orientation`` (circular, period pi, gratings), ``phase`` (circular, 2 pi, gratings),
  ``frequency`` (cycles/pixel, gratings), ``contrast`` (gratings), ``size`` (radius in pixels,
  shapes), ``x``/``y`` (centre in pixels, shapes), ``rotation`` (circular, recorded with period
  2 pi although a square is already symmetric under pi/2, shapes), ``background`` (grey level).
* Shapes are rendered with 4x4 supersampling (anti-aliased edges); pixel noise sigma 0.02.
* ``N`` defaults to 2,000 and is capped at 1,000,000 (images are generated on demand, so the cap
  only bounds the attribute arrays).
"""
from __future__ import annotations

import colorsys
import math
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from .base import ImageSet

__all__ = ["ShapesDataset", "SHAPE_CLASSES", "DEFAULT_N", "MAX_N"]

SHAPE_KINDS = ("circle", "square", "triangle", "cross")
GRATING_CLASSES = ("grating-0", "grating-45", "grating-90", "grating-135")
SHAPE_CLASSES = list(SHAPE_KINDS + GRATING_CLASSES)
DEFAULT_N = 2000
MAX_N = 1_000_000
SIZE = 32
_SS = 4  # supersampling factor for shape edges
_ATTRS = ("family", "hue", "orientation", "phase", "frequency", "contrast", "size", "x", "y",
          "rotation", "background")


def _hue_rgb(hue: float, saturation: float = 0.85, value: float = 0.95) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float64)


def shape_params(seed: int, index: int) -> dict[str, float]:
    """Generative parameters of image ``index``; a pure function of ``(seed, index)``.

    Parameters
    ----------
    seed : int
        Seed of the set.
    index : int
        Image position.

    Returns
    -------
    dict of str to float
        ``family``, ``hue``, ``size``, ``orientation``, ... (NaN where they do not apply).
    """
    rng = np.random.default_rng([seed, index])
    nan = float("nan")
    p = dict.fromkeys(_ATTRS, nan)
    p["background"] = float(rng.uniform(0.05, 0.3))
    p["hue"] = float(rng.uniform(0.0, 1.0))
    if index % 2 == 0:
        kind = (index // 2) % len(SHAPE_KINDS)
        radius = float(rng.uniform(5.0, 11.0))
        p.update(family=0.0, size=radius, rotation=float(rng.uniform(0.0, 2 * math.pi)),
                 x=float(rng.uniform(radius + 1.0, SIZE - 1.0 - radius)),
                 y=float(rng.uniform(radius + 1.0, SIZE - 1.0 - radius)))
        p["label"] = kind
    else:
        theta = float(rng.uniform(0.0, math.pi))
        p.update(family=1.0, orientation=theta, frequency=float(rng.uniform(0.08, 0.16)),
                 phase=float(rng.uniform(0.0, 2 * math.pi)), contrast=float(rng.uniform(0.6, 1.0)))
        p["label"] = len(SHAPE_KINDS) + int(round(theta / (math.pi / 4))) % 4
    return p


def _shape_mask(kind: str, p: dict[str, float]) -> np.ndarray:
    """Anti-aliased coverage (SIZE, SIZE) in [0, 1] of one shape."""
    n = SIZE * _SS
    coords = (np.arange(n) + 0.5) / _SS
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    dx, dy = xx - p["x"], yy - p["y"]
    c, s = math.cos(p["rotation"]), math.sin(p["rotation"])
    u, v = c * dx + s * dy, -s * dx + c * dy
    r = p["size"]
    if kind == "circle":
        mask = u * u + v * v <= r * r
    elif kind == "square":
        half = r * 0.8
        mask = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif kind == "triangle":
        mask = np.ones_like(u, dtype=bool)
        for k in range(3):  # inside all three edges of an equilateral triangle of circumradius r
            a = 2 * math.pi * k / 3
            mask &= (math.cos(a) * u + math.sin(a) * v) <= r / 2
    elif kind == "cross":
        arm = r * 0.32
        mask = ((np.abs(u) <= r) & (np.abs(v) <= arm)) | ((np.abs(v) <= r) & (np.abs(u) <= arm))
    else:  # pragma: no cover - kinds are fixed
        raise ValueError(kind)
    return mask.reshape(SIZE, _SS, SIZE, _SS).mean(axis=(1, 3))


def render(seed: int, index: int) -> np.ndarray:
    """Pixels of image ``index`` of the set with ``seed``.

    Parameters
    ----------
    seed : int
    index : int

    Returns
    -------
    ndarray of uint8, shape (32, 32, 3)
    """
    p = shape_params(seed, index)
    # noise comes from a second stream so parameters never depend on rendering
    noise_rng = np.random.default_rng([seed, index, 1])
    colour = _hue_rgb(p["hue"])
    if p["family"] == 0.0:
        alpha = _shape_mask(SHAPE_KINDS[p["label"]], p)[..., None]
        img = alpha * colour + (1.0 - alpha) * p["background"]
    else:
        yy, xx = np.meshgrid(np.arange(SIZE) + 0.5 - SIZE / 2, np.arange(SIZE) + 0.5 - SIZE / 2,
                             indexing="ij")
        proj = xx * math.cos(p["orientation"]) + yy * math.sin(p["orientation"])
        wave = np.sin(2 * math.pi * p["frequency"] * proj + p["phase"])
        lum = 0.5 + 0.5 * p["contrast"] * wave
        img = lum[..., None] * colour + (1.0 - lum[..., None]) * p["background"]
    img = img + noise_rng.normal(0.0, 0.02, size=img.shape)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class ShapesDataset(ImageSet):
    """Generated coloured shapes and oriented gratings (see the module docstring).

    Parameters
    ----------
    n : int, default 2000
        Number of images, 1 <= n <= 1,000,000.
    seed : int, default 0
        Non-negative seed; image ``i`` is a pure function of ``(seed, i)``.
    """

    class_names = SHAPE_CLASSES

    def __init__(self, n: int = DEFAULT_N, seed: int = 0):
        n, seed = int(n), int(seed)
        if not 1 <= n <= MAX_N:
            raise ValueError(f"shapes: n must be in [1, {MAX_N}], got {n}")
        if seed < 0:
            raise ValueError(f"shapes: seed must be >= 0, got {seed}")
        self.n = n
        self.seed = seed
        self.class_names = list(SHAPE_CLASSES)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"ShapesDataset(n={self.n}, seed={self.seed})"

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "shapes", "n": self.n, "seed": self.seed}

    def _check(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self!r}")
        return index

    def load(self, index: int) -> Image.Image:
        return Image.fromarray(render(self.seed, self._check(index)), mode="RGB")

    def array(self, index: int) -> np.ndarray:
        """Pixels of image ``index`` (no PIL round trip).

        Parameters
        ----------
        index : int

        Returns
        -------
        ndarray of uint8, shape (32, 32, 3)
        """
        return render(self.seed, self._check(index))

    def item_id(self, index: int) -> str:
        return f"shapes:{self._check(index)}"

    @cached_property
    def _params(self) -> dict[str, np.ndarray]:
        rows = [shape_params(self.seed, i) for i in range(self.n)]
        out = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in _ATTRS}
        out["label"] = np.array([r["label"] for r in rows], dtype=np.int64)
        return out

    def labels(self) -> np.ndarray:
        return self._params["label"].copy()

    def attributes(self) -> dict[str, np.ndarray]:
        return {k: self._params[k].copy() for k in _ATTRS}

    def attribute_kinds(self) -> dict[str, str]:
        kinds = dict.fromkeys(_ATTRS, "linear")
        kinds.update(family="categorical", hue="circular", orientation="circular",
                     phase="circular", rotation="circular")
        return kinds

    def attributes_meta(self) -> dict[str, dict[str, Any]]:
        return {
            "family": {"categories": ["shape", "grating"]},
            "hue": {"period": 1.0},
            "orientation": {"period": math.pi, "unit": "rad",
                            "note": "wave-vector direction; stripes run at orientation + pi/2"},
            "phase": {"period": 2 * math.pi, "unit": "rad"},
            "rotation": {"period": 2 * math.pi, "unit": "rad"},
            "frequency": {"unit": "cycles/pixel"},
            "size": {"unit": "pixels (radius)"},
            "x": {"unit": "pixels"},
            "y": {"unit": "pixels"},
        }
