"""Class-agnostic feature visualization (paper 001): push each image toward a layer's features.

For each source image ``x0`` the image ``x`` (started at ``x0``) maximises
``log(A(x) / A(x0)) - weight * mean((x - x0) ** 2) / 0.01``, where ``A`` is the layer's
overall activation (mean of squares by default, DeepDream style; ``mode='mean'`` for the
plain mean). The activation term is the log-gain over the source (0 at the start, and
saturating, so that the distance term can hold the image close; a plain ratio grows without
bound and drags the image far away for any weight), the distance is in units of an RMS
difference of 0.1: ``weight = 1`` trades "a factor e of activation" against "RMS 0.1";
``weight = 0`` is unconstrained. No generator and no change to the model: the cost is the
network's own forward/backward. Pixel parameterization and no transforms by default so that
the image stays aligned with its source. Metrics per image: activation gain ``A(x)/A(x0)``
and RMS pixel distance to the source.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ...progress import CancelFn, ProgressFn
from ..objectives import Objective, layer_activation, reference_distance
from ..render import PreviewFn, evaluate, optimize
from .base import FeatureMethod, FeatureResult, check_layer

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["ClassAgnostic"]


class ClassAgnostic(FeatureMethod):
    """Images that excite a layer more while staying close to their sources."""

    name = "class_agnostic"

    def __init__(self, steps: int = 128, batch: int = 1, lr: float = 0.05, seed: int = 0,
                 fft: bool = False, transforms: str = "none", weight: float = 1.0,
                 mode: str = "squared"):
        super().__init__(steps, batch, lr, seed, fft, transforms)
        self.weight = weight
        self.mode = mode

    def visualize(self, bundle: ModelBundle, layer: str, images: torch.Tensor,
                  progress: ProgressFn | None = None,
                  should_cancel: CancelFn | None = None, *,
                  preview: PreviewFn | None = None) -> FeatureResult:
        """Push each source image toward the layer's features, staying close to it.

        Parameters
        ----------
        bundle : ModelBundle
        layer : str
        images : tensor of shape (B, 3, H, W)
            Sources in [0, 1] at the model's input size.
        progress, should_cancel : callable, optional
            :mod:`topoact.progress` protocol.
        preview : callable, optional
            ``preview(step, images)`` called every 32 steps with the current images
            (B, 3, H, W) in [0, 1] (see :func:`~topoact.features.render.optimize`).

        Returns
        -------
        FeatureResult
            The optimised images and per-image gain, pixel distance and predictions.
        """
        self._validate_common()
        check_layer(bundle, layer)
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != tuple(bundle.input_size):
            raise ValueError(f"source images must be (B, 3, {bundle.input_size[0]}, "
                             f"{bundle.input_size[1]}), got {tuple(images.shape)}")
        act = layer_activation(layer, self.mode)
        a0 = act.values(evaluate(bundle, images, [layer])).clamp_min(1e-8)
        dist = reference_distance(images)
        w = float(self.weight)

        def fn(acts):
            ratio = act.values(acts).clamp_min(1e-8) / a0.to(acts["input"])
            return torch.log(ratio) + w * dist.values(acts) / 0.01

        obj = Objective(fn, [layer, "input"], f"class_agnostic({layer}, w={w:g})")
        out = optimize(bundle, obj, self._param_f(bundle, init=images), self._transform_list(bundle),
                       self.steps, self.lr, self.seed, progress, should_cancel, preview=preview)
        acts = evaluate(bundle, out, [layer])
        gain = (act.values(acts) / a0).numpy()
        distance = ((out - images) ** 2).flatten(1).mean(1).sqrt().numpy()
        probs = torch.softmax(acts["logits"].flatten(1), 1).numpy()
        metrics = {"gain": gain.round(6).tolist(), "gain_mean": float(gain.mean()),
                   "pixel_distance": distance.round(6).tolist(),
                   "pixel_distance_mean": float(distance.mean()),
                   **self._prediction_metrics(probs)}
        return FeatureResult(out, metrics)
