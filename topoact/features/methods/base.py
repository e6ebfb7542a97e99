"""Shared base of the feature-visualization methods: parameters, validation, metrics.

Each method is one class over :class:`FeatureMethod` (captum style): ``__init__`` only stores
parameters, ``visualize(...)`` validates its inputs and returns a :class:`FeatureResult`.
``get_params()`` gives the JSON-able parameters that enter the cache key.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .. import param as param_mod
from ...reduce import check_reduce
from ..hooks import resolve_module
from ..objectives import reduce as reduce_output
from ..render import evaluate
from ..transforms import standard_transforms

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["FeatureMethod", "FeatureResult", "pixel_diversity", "feature_diversity",
           "layer_features", "check_layer", "check_reduce"]


@dataclass
class FeatureResult:
    """Synthesized images (B, 3, H, W) float in [0, 1] and JSON-able metrics."""

    images: torch.Tensor
    metrics: dict = field(default_factory=dict)


def check_layer(bundle: ModelBundle, layer: str) -> None:
    """Raise ``ValueError`` listing valid layers when ``layer`` is not in the model.

    Parameters
    ----------
    bundle : ModelBundle
    layer : str
    """
    resolve_module(bundle.module, layer, bundle)


def layer_features(bundle: ModelBundle, images: torch.Tensor, layer: str, reduce: str = "gap",
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Stored-vector features and class probabilities of images.

    Parameters
    ----------
    bundle : ModelBundle
    images : tensor of shape (B, 3, H, W)
        Images in [0, 1].
    layer : str
        Layer name.
    reduce : {'gap', 'center', 'random'}
        The run's reduction (:func:`topoact.features.objectives.reduce`).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    features : ndarray (B, D) and probabilities : ndarray (B, K)
    """
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        acts = evaluate(bundle, images[start:start + batch_size], [layer])
        feats.append(reduce_output(acts[layer], reduce).flatten(1).numpy())
        probs.append(torch.softmax(acts["logits"].flatten(1), 1).numpy())
    return np.concatenate(feats), np.concatenate(probs)


def pixel_diversity(images: torch.Tensor) -> float:
    """Mean pairwise RMS pixel distance between batch members (0 for one image)."""
    x = images.flatten(1).double()
    if len(x) < 2:
        return 0.0
    d = torch.cdist(x, x) / np.sqrt(x.shape[1])
    return float(d.sum() / (len(x) * (len(x) - 1)))


def feature_diversity(features: np.ndarray) -> float:
    """Mean pairwise cosine distance between feature vectors (B, D) (0 for one vector)."""
    f = F.normalize(torch.as_tensor(np.asarray(features, dtype=np.float64)), dim=1)
    b = len(f)
    if b < 2:
        return 0.0
    sim = f @ f.T
    return float(1.0 - (sim.sum() - sim.diagonal().sum()) / (b * (b - 1)))


class FeatureMethod:
    """Base: stores common optimisation parameters."""

    name = "base"

    def __init__(self, steps: int = 256, batch: int = 4, lr: float = 0.05, seed: int = 0,
                 fft: bool = True, transforms: str = "standard"):
        self.steps = steps
        self.batch = batch
        self.lr = lr
        self.seed = seed
        self.fft = fft
        self.transforms = transforms

    def get_params(self) -> dict:
        """The constructor's parameters by name (JSON-able; they enter the cache key)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def _validate_common(self) -> None:
        if int(self.steps) < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if int(self.batch) < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.transforms not in ("standard", "none"):
            raise ValueError(f"transforms must be 'standard' or 'none', got {self.transforms!r}")

    def _transform_list(self, bundle):
        return standard_transforms(bundle.input_size) if self.transforms == "standard" else []

    def _param_f(self, bundle, batch=None, init=None):
        return param_mod.image_param(bundle.input_size, batch or self.batch, fft=self.fft, init=init)

    @staticmethod
    def _prediction_metrics(probs: np.ndarray) -> dict:
        return {"predicted": probs.argmax(1).tolist(),
                "confidence": probs.max(1).round(6).tolist()}
