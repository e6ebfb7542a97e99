"""Robustness transforms: pure functions ``t(images, generator) -> images``, composed in a list.

Every transform keeps the image size (so models with a fixed-size classifier head still accept
the result) and draws its randomness only from the ``torch.Generator`` it is given, so a render
is reproducible from its seed. Geometric transforms pad by *reflection* by default, which keeps
the borders of small (32 px) images free of the constant-colour frames lucent's 224-px recipe
leaves behind. :func:`standard_transforms` scales lucent's recipe (pad 12, jitter 8, scale
±5 %, rotate ±10°, jitter 4 at 224 px) to the image size, with a floor of one pixel.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["Transform", "compose", "pad", "jitter", "random_scale", "random_rotate",
           "random_affine", "standard_transforms"]

Transform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def _choice(values: Sequence[float], n: int, generator) -> torch.Tensor:
    idx = torch.randint(len(values), (n,), generator=generator)
    return torch.as_tensor(list(values), dtype=torch.float32)[idx]


def compose(transforms: Sequence[Transform]) -> Transform:
    """Chain transforms left to right."""
    transforms = list(transforms)

    def inner(images: torch.Tensor, generator=None) -> torch.Tensor:
        for t in transforms:
            images = t(images, generator)
        return images

    return inner


def pad(width: int, mode: str = "reflect", value: float = 0.5) -> Transform:
    """Pad by ``width`` pixels on every side; ``mode`` is 'reflect', 'replicate' or 'constant'.

    Unlike the other transforms this one *grows* the image by ``2 * width``: use it only with
    models that accept any input size (global pooling before the classifier).
    """
    if mode not in ("reflect", "replicate", "constant"):
        raise ValueError(f"pad mode must be 'reflect', 'replicate' or 'constant', got {mode!r}")

    def inner(images, generator=None):
        if width <= 0:
            return images
        kwargs = {"value": value} if mode == "constant" else {}
        return F.pad(images, (width,) * 4, mode=mode, **kwargs)

    return inner


def jitter(d: int, mode: str = "reflect") -> Transform:
    """Translate the batch by a random integer offset in [-d, d] px (size preserved)."""

    def inner(images, generator=None):
        if d <= 0:
            return images
        h, w = images.shape[-2:]
        padded = F.pad(images, (d,) * 4, mode=mode)
        oy, ox = (int(v) for v in torch.randint(0, 2 * d + 1, (2,), generator=generator))
        return padded[..., oy:oy + h, ox:ox + w]

    return inner


def _affine(images, scale, angle_deg, mode):
    n = images.shape[0]
    a = angle_deg * math.pi / 180.0
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    theta = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos.to(theta), -sin.to(theta)
    theta[:, 1, 0], theta[:, 1, 1] = sin.to(theta), cos.to(theta)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=mode, align_corners=False)


def random_scale(scales: Sequence[float], mode: str = "reflection") -> Transform:
    """Zoom each image by a factor drawn from ``scales`` (size preserved)."""

    def inner(images, generator=None):
        s = _choice(scales, images.shape[0], generator)
        return _affine(images, s, torch.zeros_like(s), mode)

    return inner


def random_rotate(angles: Sequence[float], mode: str = "reflection") -> Transform:
    """Rotate each image by an angle in degrees drawn from ``angles`` (size preserved)."""

    def inner(images, generator=None):
        a = _choice(angles, images.shape[0], generator)
        return _affine(images, torch.ones_like(a), a, mode)

    return inner


def random_affine(shift: int, scales: Sequence[float], angles: Sequence[float],
                  mode: str = "reflection") -> Transform:
    """Jitter, zoom and rotation in ONE resampling: per image, a shift by an integer number of
    pixels in [-shift, shift] on each axis, a zoom from ``scales`` and a rotation (degrees)
    from ``angles``, composed into one affine matrix and applied by one ``grid_sample``
    (size preserved, ``mode`` padding). Equivalent in distribution to lucent's chain
    ``jitter, scale, rotate, jitter`` up to the order of the shifts, at the cost of one
    bilinear resampling instead of two plus two pads.

    Parameters
    ----------
    shift : int
        Largest shift in pixels.
    scales, angles : sequence of float
        Zoom factors and rotation angles (degrees) drawn uniformly per image.
    mode : {'reflection', 'border', 'zeros'}
        ``grid_sample`` padding.

    Returns
    -------
    Transform
    """

    def inner(images, generator=None):
        n, _, h, w = images.shape
        s = _choice(scales, n, generator)
        a = _choice(angles, n, generator) * (math.pi / 180.0)
        d = torch.randint(-shift, shift + 1, (n, 2), generator=generator).float()
        cos, sin = torch.cos(a) / s, torch.sin(a) / s
        theta = torch.stack([torch.stack([cos, -sin, d[:, 0] * (2.0 / w)], 1),
                             torch.stack([sin, cos, d[:, 1] * (2.0 / h)], 1)], 1)
        grid = F.affine_grid(theta.to(images), [n, 3, h, w], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode=mode, align_corners=False)

    return inner


def standard_transforms(size: int | tuple[int, int]) -> list[Transform]:
    """lucent's standard robustness recipe scaled to an image of ``size`` px, as ONE transform.

    At 224 px: jitter 8, scale 0.95-1.05, rotate ±10°, jitter 4 (lucent's values, with
    reflection instead of grey padding). At 32 px: jitter 1, scale 0.98-1.02, rotate ±4°,
    jitter 1. The four are applied as one :func:`random_affine` (shift up to the sum of the
    two jitters, one resampling: see there).
    """
    side = min(size) if isinstance(size, (tuple, list)) else int(size)
    f = side / 224.0
    j1, j2 = max(1, round(8 * f)), max(1, round(4 * f))
    max_scale = 0.05 if side >= 64 else 0.02
    max_angle = 10 if side >= 64 else 4
    scales = [1 + max_scale * (i - 5) / 5 for i in range(11)]
    angles = list(range(-max_angle, max_angle + 1)) + [0] * 5
    return [random_affine(j1 + j2, scales, angles)]
