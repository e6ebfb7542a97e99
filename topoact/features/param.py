"""Image parameterizations: each returns ``(params, image_f)`` with ``image_f() -> (B, 3, H, W)``.

Two spaces, both followed by lucent's colour decorrelation and a sigmoid so that the image
always lies in [0, 1]:

* ``pixel_image``: one free value per pixel and channel.
* ``fft_image``: a Fourier spectrum scaled by ``1 / f ** decay_power`` (natural-image
  statistics), as in Lucid/lucent.

``from_images`` starts either parameterization from given images (exact inverse of the
decorrelation, the sigmoid and, for the Fourier space, the spectrum scaling), which the
class-agnostic method needs. ``image_param`` builds the ``param_f(generator, device)``
callable that :func:`topoact.features.render.optimize` expects; the image size comes from
``ModelBundle.input_size`` (32 px for CIFAR models, 224 px for ImageNet models).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import torch

__all__ = ["pixel_image", "fft_image", "from_images", "image_param", "ParamF", "ParamResult"]

#: what a parameterization returns: the tensors to optimise and ``image_f() -> (B, 3, H, W)``
ParamResult = tuple[list[torch.Tensor], Callable[[], torch.Tensor]]
ParamF = Callable[..., ParamResult]

# lucent's square root of the ImageNet colour covariance (columns normalised below).
_COLOR_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
_COLOR_MATRIX = _COLOR_SVD_SQRT / np.max(np.linalg.norm(_COLOR_SVD_SQRT, axis=0))
_FFT_MAGIC = 4.0  # lucent's fixed division of the inverse transform
_EPS = 1e-3


def _color_matrix(device, decorrelate: bool) -> torch.Tensor:
    matrix = _COLOR_MATRIX if decorrelate else np.eye(3, dtype=np.float32)
    return torch.as_tensor(matrix, device=device)


def _to_rgb(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) decorrelated, unbounded -> (B, 3, H, W) RGB in [0, 1]."""
    return torch.sigmoid(torch.einsum("ij,bjhw->bihw", matrix, t))


def _from_rgb(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_to_rgb` (images clamped away from 0 and 1)."""
    logits = torch.logit(images.clamp(_EPS, 1 - _EPS))
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(matrix), logits)


def _fft_scale(h: int, w: int, decay_power: float, device) -> torch.Tensor:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay_power
    return torch.as_tensor(scale, dtype=torch.float32, device=device)


def pixel_image(shape: tuple[int, ...], sd: float = 0.01, decorrelate: bool = True,
                generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                init: torch.Tensor | None = None) -> ParamResult:
    """Pixel-space parameterization.

    Parameters
    ----------
    shape : (B, 3, H, W)
    sd : standard deviation of the random start (ignored when ``init`` is given).
    init : optional (B, 3, H, W) images in [0, 1] to start from.

    Returns
    -------
    params : [tensor (B, 3, H, W)] and ``image_f() -> (B, 3, H, W)`` in [0, 1].
    """
    matrix = _color_matrix(device, decorrelate)
    if init is not None:
        t = _from_rgb(init.to(device=device, dtype=torch.float32), matrix)
    else:
        t = torch.randn(tuple(shape), generator=generator) * sd
    t = t.to(device).requires_grad_(True)
    return [t], lambda: _to_rgb(t, matrix)


def fft_image(shape: tuple[int, ...], sd: float = 0.01, decay_power: float = 1.0,
              decorrelate: bool = True, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu", init: torch.Tensor | None = None) -> ParamResult:
    """Fourier-space parameterization with colour decorrelation (Lucid's default).

    Parameters and returns as for :func:`pixel_image`.
    """
    b, c, h, w = shape
    matrix = _color_matrix(device, decorrelate)
    scale = _fft_scale(h, w, decay_power, device)
    if init is not None:
        t = _from_rgb(init.to(device=device, dtype=torch.float32), matrix) * _FFT_MAGIC
        spectrum = torch.view_as_real(torch.fft.rfft2(t, norm="ortho") / scale)
    else:
        spectrum = torch.randn((b, c) + tuple(scale.shape) + (2,), generator=generator) * sd
    spectrum = spectrum.to(device).contiguous().requires_grad_(True)
    scale_magic = (scale / _FFT_MAGIC).contiguous()     # one multiply per step, no division

    def image_f() -> torch.Tensor:
        z = torch.view_as_complex(spectrum) * scale_magic
        return _to_rgb(torch.fft.irfft2(z, s=(h, w), norm="ortho"), matrix)

    return [spectrum], image_f


def from_images(images: torch.Tensor, fft: bool = False, decorrelate: bool = True,
                generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> ParamResult:
    """Start a parameterization from (B, 3, H, W) images in [0, 1]."""
    f = fft_image if fft else pixel_image
    return f(tuple(images.shape), decorrelate=decorrelate, device=device, init=images)


def image_param(size: tuple[int, int], batch: int = 1, fft: bool = True, decorrelate: bool = True,
                sd: float = 0.01, init: torch.Tensor | None = None) -> ParamF:
    """``param_f(generator=..., device=...)`` for :func:`~topoact.features.render.optimize`.

    Parameters
    ----------
    size : (int, int)
        ``(H, W)``, normally ``bundle.input_size``.
    batch : int
        Images optimised together.
    fft : bool
        Fourier parameterization (else pixels).
    decorrelate : bool
        Optimise in lucent's decorrelated colour space.
    sd : float
        Spread of the random start.
    init : tensor of shape (B, 3, H, W), optional
        Start from these images in [0, 1] (then batch and size follow them).

    Returns
    -------
    callable
        ``param_f(generator=None, device='cpu') -> (params, image_f)``.
    """
    if init is not None:
        shape = tuple(init.shape)
    else:
        shape = (int(batch), 3, int(size[0]), int(size[1]))
    f = fft_image if fft else pixel_image
    return partial(f, shape, sd=sd, decorrelate=decorrelate, init=init)
