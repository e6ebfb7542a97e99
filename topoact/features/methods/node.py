"""Node visualization (TopoAct): maximise a Mapper node's mean activation direction.

Objective: lucent's cosine-weighted direction (``dot(a, v/|v|) * cos(a, v) ** cossim_pow``)
on the node's layer with the run's spatial reduction, divided by ``|v|`` so that real
members score about 1, plus ``diversity`` times the batch-diversity term on the same layer,
so that a batch shows several facets of the node. Metrics report the plain projection
``dot(a, v/|v|)`` reached by each image (compare with the node members' projections).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ...progress import CancelFn, ProgressFn
from ..objectives import Objective, direction, diversity as diversity_obj, resolve_reduce
from ..render import PreviewFn, optimize
from .base import FeatureMethod, FeatureResult, check_layer, feature_diversity, layer_features, \
    pixel_diversity

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["NodeVisualization", "projection"]


def projection(features: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Plain projection (N,) of features (N, D) on the unit vector along ``vector`` (D,)."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    return np.asarray(features, dtype=np.float64) @ (v / np.linalg.norm(v))


class NodeVisualization(FeatureMethod):
    """Diverse images maximising a direction (e.g. a node's mean activation) in a layer."""

    name = "node"

    def __init__(self, steps: int = 256, batch: int = 4, lr: float = 0.05, seed: int = 0,
                 fft: bool = True, transforms: str = "standard", cossim_pow: float = 1.0,
                 diversity: float = 0.5):
        super().__init__(steps, batch, lr, seed, fft, transforms)
        self.cossim_pow = cossim_pow
        self.diversity = diversity

    def objective(self, layer: str, vector: ArrayLike, reduce: str = "gap") -> Objective:
        """The objective maximised (see the module docstring).

        Parameters
        ----------
        layer : str
        vector : array-like of shape (D,)
            The direction, in the stored vector space.
        reduce : {'gap', 'center', 'random'}
            The run's reduction.

        Returns
        -------
        Objective
        """
        v = np.asarray(vector, dtype=np.float32).ravel()
        obj = direction(layer, v, reduce, self.cossim_pow) * (1.0 / float(np.linalg.norm(v)))
        if self.diversity and self.batch > 1:
            obj = obj + self.diversity * diversity_obj(layer)
        return obj

    def visualize(self, bundle: ModelBundle, layer: str, vector: ArrayLike, reduce: str = "gap",
                  progress: ProgressFn | None = None, should_cancel: CancelFn | None = None, *,
                  reduction: str | None = None, preview: PreviewFn | None = None) -> FeatureResult:
        """Images maximising ``vector`` in ``layer``.

        Parameters
        ----------
        bundle : ModelBundle
        layer : str
        vector : array-like of shape (D,)
            Direction in the stored vector space (e.g. a node's mean activation).
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
            ``batch`` images (B, 3, H, W) and metrics (projections, diversity, predictions).
        """
        self._validate_common()
        check_layer(bundle, layer)
        reduce = resolve_reduce(reduce, reduction, "visualize")
        v = np.asarray(vector, dtype=np.float32).ravel()
        if not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
            raise ValueError("node direction must be finite and non-zero")
        images = optimize(bundle, self.objective(layer, v, reduce), self._param_f(bundle),
                          self._transform_list(bundle), self.steps, self.lr, self.seed,
                          progress, should_cancel, preview=preview)
        feats, probs = layer_features(bundle, images, layer, reduce)
        if feats.shape[1] != v.size:
            raise ValueError(f"vector has {v.size} entries but layer {layer!r} has {feats.shape[1]}")
        proj = projection(feats, v)
        metrics = {"activation": proj.round(6).tolist(), "activation_mean": float(proj.mean()),
                   "activation_max": float(proj.max()),
                   "pixel_diversity": pixel_diversity(images),
                   "feature_diversity": feature_diversity(feats),
                   **self._prediction_metrics(probs)}
        return FeatureResult(images, metrics)
