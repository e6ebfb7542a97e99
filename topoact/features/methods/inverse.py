"""Inverse sets of neurons (paper 000): diverse inputs whose activation sits at a chosen level.

A :class:`LevelTarget` names one measured quantity — a ``channel`` (reduced with the run's
reduction), a ``neuron`` (channel at a position) or a ``direction`` (plain projection on a
unit vector) — and a level given as a **fraction of the real exemplars' range** ``[low,
high]`` (``level = low + fraction * (high - low)``). Several targets make an intersection of
inverse sets (each at its own level).

Objective: ``sum_t level(measure_t, level_t, scale=range_t)`` plus ``diversity`` times the
batch-diversity term on the layer, annealed to zero over the first ``anneal`` fraction of the
steps; the robustness transforms are also applied only during that fraction, so the final
steps pull every (untransformed) sample precisely back onto its level. A sample is *within
tolerance* when ``|measure - level| <= tolerance * (high - low)`` for every target. Metrics:
fraction of samples within tolerance (all targets and per target), mean pairwise pixel (RMS)
and feature (cosine) distance.

``init_sd`` is the spread of the random start (Lucid's 0.01 by default). Note: with post-ReLU
units, near-grey starts can all sit where the unit is 0 with zero gradient; the diversity
term pushes samples out of that dead zone, independent restarts from such starts cannot
(see benchmarks/featvis.py), a larger ``init_sd`` helps them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import ArrayLike

from ...progress import CancelFn, ProgressFn
from .. import param
from ..objectives import Objective, annealed, channel, direction, diversity as diversity_obj, \
    level, neuron, resolve_reduce
from ..objectives import reduce as reduce_output
from ..render import PreviewFn, evaluate, optimize
from .base import FeatureMethod, FeatureResult, check_layer, feature_diversity, layer_features, \
    pixel_diversity

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["LevelTarget", "InverseSet"]


@dataclass
class LevelTarget:
    """One level constraint. ``kind`` is 'channel' | 'neuron' | 'direction'; ``index`` the
    channel (channel/neuron), ``vector`` the direction (D,), ``position`` (y, x) for a neuron
    (default centre); ``low``/``high`` the range observed on real exemplars."""

    kind: str
    fraction: float
    low: float
    high: float
    index: int | None = None
    vector: list | None = None
    position: tuple | None = None

    @classmethod
    def from_values(cls, kind: str, values: ArrayLike, fraction: float, **kwargs) -> "LevelTarget":
        """Target whose range is that of ``values`` (N,), the measure on real exemplars."""
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError("reference activations must be a non-empty finite array")
        return cls(kind, float(fraction), float(values.min()), float(values.max()), **kwargs)

    @property
    def level(self) -> float:
        """The target value ``low + fraction * (high - low)``."""
        return self.low + self.fraction * (self.high - self.low)

    @property
    def span(self) -> float:
        """The exemplars' range ``high - low``."""
        return self.high - self.low

    def validate(self) -> None:
        """Raise ``ValueError`` naming the problem when the target cannot be reached."""
        if self.kind not in ("channel", "neuron", "direction"):
            raise ValueError(f"target kind must be 'channel', 'neuron' or 'direction', got {self.kind!r}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(
                f"level fraction {self.fraction} is outside the observed range: use a fraction in "
                f"[0, 1] of the exemplars' range [{self.low:.4g}, {self.high:.4g}]")
        if not self.span > 0:
            raise ValueError(f"observed activation range [{self.low}, {self.high}] is empty; "
                             "cannot set a level")
        if self.kind in ("channel", "neuron") and (self.index is None or self.index < 0):
            raise ValueError(f"{self.kind} target needs a non-negative channel index")
        if self.kind == "direction" and self.vector is None:
            raise ValueError("direction target needs a vector")

    def measure(self, layer: str, reduce: str = "gap") -> Objective:
        """The measured quantity as an objective on ``layer`` with the run's ``reduce``."""
        if self.kind == "channel":
            return channel(layer, int(self.index), reduce)
        if self.kind == "neuron":
            y, x = self.position if self.position is not None else (None, None)
            return neuron(layer, int(self.index), y, x)
        return direction(layer, np.asarray(self.vector, dtype=np.float32), reduce, 0.0)

    def to_json(self) -> dict:
        """JSON-able dict of the target (the vector as a list)."""
        d = asdict(self)
        if d["vector"] is not None:
            d["vector"] = [float(v) for v in np.asarray(d["vector"]).ravel()]
        return d


class InverseSet(FeatureMethod):
    """Diverse samples at chosen activation levels of one or several units / directions."""

    name = "inverse"

    def __init__(self, steps: int = 256, batch: int = 8, lr: float = 0.05, seed: int = 0,
                 fft: bool = True, transforms: str = "standard", tolerance: float = 0.05,
                 diversity: float = 0.5, anneal: float = 0.75, init_sd: float = 0.01):
        super().__init__(steps, batch, lr, seed, fft, transforms)
        self.init_sd = init_sd
        self.tolerance = tolerance
        self.diversity = diversity
        self.anneal = anneal

    def visualize(self, bundle: ModelBundle, layer: str, targets: list[LevelTarget],
                  reduce: str = "gap", progress: ProgressFn | None = None,
                  should_cancel: CancelFn | None = None, *,
                  reduction: str | None = None, preview: PreviewFn | None = None) -> FeatureResult:
        """A batch of images whose measures sit at the targets' levels.

        Parameters
        ----------
        bundle : ModelBundle
        layer : str
        targets : list of LevelTarget
            One or several level constraints (an intersection when several).
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
            Images (B, 3, H, W) and metrics (values, errors, tolerance, diversity).
        """
        self._validate_common()
        check_layer(bundle, layer)
        reduce = resolve_reduce(reduce, reduction, "visualize")
        if not targets:
            raise ValueError("at least one level target is needed")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"tolerance must be in (0, 1), got {self.tolerance}")
        for t in targets:
            t.validate()
        # check channel indices against the layer before optimising
        shape_acts = evaluate(bundle, torch.full((1, 3, *bundle.input_size), 0.5), [layer])
        n_channels = reduce_output(shape_acts[layer], reduce).shape[1]
        for t in targets:
            if t.kind in ("channel", "neuron") and t.index >= n_channels:
                raise ValueError(f"channel {t.index} out of range for layer {layer!r} "
                                 f"with {n_channels} channels")
        measures = [t.measure(layer, reduce) for t in targets]
        obj = sum(level(m, t.level, t.span) for m, t in zip(measures, targets))
        if self.diversity and self.batch > 1:
            obj = obj + self.diversity * annealed(diversity_obj(layer), self.anneal)
        pf = param.image_param(bundle.input_size, self.batch, fft=self.fft, sd=self.init_sd)
        images = optimize(bundle, obj, pf, self._transform_list(bundle),
                          self.steps, self.lr, self.seed, progress, should_cancel,
                          transform_until=self.anneal, preview=preview)
        acts = evaluate(bundle, images, [layer])
        values = np.stack([m.values(acts).numpy().astype(np.float64) for m in measures], 1)
        levels = np.array([t.level for t in targets])
        spans = np.array([t.span for t in targets])
        within = np.abs(values - levels) <= self.tolerance * spans
        feats, probs = layer_features(bundle, images, layer, reduce)
        metrics = {
            "levels": levels.tolist(),
            "values": values.round(6).tolist(),
            "relative_error": (np.abs(values - levels) / spans).round(6).tolist(),
            "within_tolerance": within.all(1).tolist(),
            "fraction_within": float(within.all(1).mean()),
            "fraction_within_per_target": within.mean(0).tolist(),
            "pixel_diversity": pixel_diversity(images),
            "feature_diversity": feature_diversity(feats),
            "targets": [t.to_json() for t in targets],
            **self._prediction_metrics(probs),
        }
        return FeatureResult(images, metrics)
