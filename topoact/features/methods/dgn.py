"""DGN-AM (paper 003): activation maximisation in the code space of a learned generator.

Optimises codes ``y`` (B, D) for ``objective(G(y)) - lam * |y / s|`` where ``s`` is the mean
per-unit std of the training codes (so ``lam`` does not depend on the layer's scale; the
paper's ``lam ~ 0.005``), with normalised-gradient steps of size ``lr * s`` and ``y`` clipped
per unit to the fit's bounds after each step (``[0, 3 std]`` for non-negative codes).
Codes start at the training mean plus 0.5 std of seeded noise per batch member. No image
transforms by default: the generator is the prior.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import ArrayLike

from ...progress import CancelFn, ProgressFn
from ..objectives import Objective, direction, diversity as diversity_obj, resolve_reduce
from ..render import PreviewFn, optimize
from .base import FeatureMethod, FeatureResult, check_layer, feature_diversity, layer_features, \
    pixel_diversity
from .node import projection

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

    from ..generator import GeneratorFit

__all__ = ["DGNAM"]


class DGNAM(FeatureMethod):
    """Synthesis through a trained :class:`~topoact.features.generator.GeneratorFit`."""

    name = "dgn"

    def __init__(self, steps: int = 200, batch: int = 4, lr: float = 0.05, seed: int = 0,
                 fft: bool = False, transforms: str = "none", lam: float = 0.005,
                 cossim_pow: float = 1.0, diversity: float = 0.0):
        super().__init__(steps, batch, lr, seed, fft, transforms)
        self.lam = lam
        self.cossim_pow = cossim_pow
        self.diversity = diversity

    def synthesize(self, bundle: ModelBundle, fit: GeneratorFit, objective: Objective,
                   progress: ProgressFn | None = None,
                   should_cancel: CancelFn | None = None, *,
                   preview: PreviewFn | None = None) -> torch.Tensor:
        """Images maximising any ``objective`` through the generator.

        Parameters
        ----------
        bundle : ModelBundle
        fit : GeneratorFit
            The trained generator and its code statistics.
        objective : Objective
        progress, should_cancel : callable, optional
            :mod:`topoact.progress` protocol.
        preview : callable, optional
            ``preview(step, images)`` called every 32 steps with the current images
            (B, 3, H, W) in [0, 1] (see :func:`~topoact.features.render.optimize`).

        Returns
        -------
        tensor of shape (B, 3, H, W)
            Images in [0, 1].
        """
        self._validate_common()
        G = fit.generator.eval()
        for p in G.parameters():
            p.requires_grad_(False)
        mean = torch.as_tensor(fit.code_mean, dtype=torch.float32)
        low = torch.as_tensor(fit.code_low, dtype=torch.float32)
        high = torch.as_tensor(fit.code_high, dtype=torch.float32)
        s = float(np.mean(fit.code_std))
        holder = {}

        def param_f(generator=None, device="cpu"):
            y0 = mean + 0.5 * torch.as_tensor(fit.code_std) * torch.randn(
                (self.batch, mean.numel()), generator=generator)
            y = torch.maximum(torch.minimum(y0, high), low).to(device).requires_grad_(True)
            holder["y"] = y
            G.to(device)
            return [y], lambda: G(y)

        def penalty(acts):
            return -self.lam * (holder["y"] / s).norm(dim=1)

        def clip():
            with torch.no_grad():
                y = holder["y"]
                y.copy_(torch.maximum(torch.minimum(y, high.to(y)), low.to(y)))

        obj = objective + Objective(penalty, [], f"code_norm(lam={self.lam:g})")
        images = optimize(bundle, obj, param_f, self._transform_list(bundle), self.steps,
                          self.lr * s, self.seed, progress, should_cancel,
                          optimizer="normalized", after_step=clip, preview=preview)
        G.to("cpu")
        return images

    def visualize(self, bundle: ModelBundle, fit: GeneratorFit, layer: str, vector: ArrayLike,
                  reduce: str = "gap", progress: ProgressFn | None = None,
                  should_cancel: CancelFn | None = None, *,
                  reduction: str | None = None, preview: PreviewFn | None = None) -> FeatureResult:
        """Maximise a direction (e.g. a node's mean activation) in ``layer`` through ``fit``.

        Parameters
        ----------
        bundle : ModelBundle
        fit : GeneratorFit
        layer : str
        vector : array-like of shape (D,)
            Direction in the stored vector space.
        reduce : {'gap', 'center', 'random'}
            The run's reduction (``reduction=`` is its deprecated alias).
        progress, should_cancel : callable, optional
            :mod:`topoact.progress` protocol.
        preview : callable, optional
            ``preview(step, images)`` called every 32 steps with the current images
            (B, 3, H, W) in [0, 1] (see :func:`~topoact.features.render.optimize`).

        Returns
        -------
        FeatureResult
        """
        check_layer(bundle, layer)
        reduce = resolve_reduce(reduce, reduction, "visualize")
        v = np.asarray(vector, dtype=np.float32).ravel()
        if not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
            raise ValueError("direction must be finite and non-zero")
        obj = direction(layer, v, reduce, self.cossim_pow) * (1.0 / float(np.linalg.norm(v)))
        if self.diversity and self.batch > 1:
            obj = obj + self.diversity * diversity_obj(layer)
        images = self.synthesize(bundle, fit, obj, progress, should_cancel, preview=preview)
        feats, probs = layer_features(bundle, images, layer, reduce)
        proj = projection(feats, v)
        metrics = {"activation": proj.round(6).tolist(), "activation_mean": float(proj.mean()),
                   "activation_max": float(proj.max()), "pixel_diversity": pixel_diversity(images),
                   "feature_diversity": feature_diversity(feats),
                   "generator": dict(fit.metrics), **self._prediction_metrics(probs)}
        return FeatureResult(images, metrics)
