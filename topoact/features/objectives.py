"""Objectives: small factories returning callables over a dict of recorded activations.

An :class:`Objective` maps ``acts`` — a dict with one entry per hooked layer (the layer's raw
output, e.g. (B, C, H, W)), plus ``"input"`` (the untransformed images in [0, 1], (B, 3, H, W)),
``"logits"`` (model output, (B, K)) and ``"progress"`` (float in [0, 1], the fraction of
optimisation steps done) — to a value to **maximise** (lucent's convention; the render loss is
``-objective(acts)``).

``objective.values(acts)`` returns either per-sample values (B,) or a batch-level scalar ();
``objective(acts)`` is their mean. Objectives compose with ``+``, ``-`` and ``*`` by a number;
``level(obj, target)`` wraps any per-sample objective.

Reductions are the run store's (:func:`topoact.reduce.reduce`, the very function collection
calls): a "unit" of a stored activation vector of a conv map (B, C, H, W) or a token sequence
(B, L, C) is a channel reduced over the positions, so ``channel``/``direction`` take ``reduce``:
``'gap'`` -> mean over positions, ``'center'`` -> the centre position (``(H // 2, W // 2)``,
token ``L // 2``), ``'random'`` -> mean over positions (a documented approximation: the store
read one random position per *real* image, chosen by its id; a synthesized image has no id,
and the mean is that position's expectation). The old keyword ``reduction=`` still works for one
release, with a ``DeprecationWarning``.

Scale conventions: norm penalties and ``reference_distance`` are per-element means (so weights
do not depend on image size); ``reference_distance`` is the mean squared pixel difference
(smooth at zero, so it can start from the reference itself).
"""
from __future__ import annotations

import warnings
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from ..reduce import REDUCTIONS, check_reduce
from ..reduce import reduce as reduce_positions

__all__ = [
    "Objective", "reduce", "neuron", "channel", "direction", "layer_activation", "class_logit",
    "diversity", "reference_distance", "l1", "l2", "total_variation", "level", "annealed",
    "REDUCTIONS", "resolve_reduce",
]



class Objective:
    """A value to maximise, computed from recorded activations.

    Parameters
    ----------
    fn : callable ``acts -> tensor`` of shape (B,) or ().
    layers : names of the layers ``fn`` reads (hooks are registered for these).
    name : readable description.
    """

    def __init__(self, fn: Callable[[dict], torch.Tensor], layers: Iterable[str] = (),
                 name: str = "objective"):
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))
        self.name = name

    def values(self, acts: dict) -> torch.Tensor:
        """Per-sample values (B,) or a batch-level scalar () for recorded ``acts``."""
        return self.fn(acts)

    def __call__(self, acts: dict) -> torch.Tensor:
        """The mean of :meth:`values`: the scalar the render loop maximises."""
        return self.values(acts).mean()

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    def __add__(self, other):
        if isinstance(other, (int, float)):
            if other == 0:
                return self
            return Objective(lambda a: self.values(a) + other, self.layers, f"{self.name} + {other}")
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(lambda a: self.values(a) + other.values(a),
                         self.layers + other.layers, f"{self.name} + {other.name}")

    __radd__ = __add__  # sum([...]) starts from 0

    def __neg__(self):
        return -1.0 * self

    def __sub__(self, other):
        return self + (-other)

    def __mul__(self, weight):
        if not isinstance(weight, (int, float)):
            return NotImplemented
        return Objective(lambda a: weight * self.values(a), self.layers, f"{weight:g}*{self.name}")

    __rmul__ = __mul__


def resolve_reduce(reduce: str, reduction: str | None = None, where: str = "reduce") -> str:
    """The reduction to use: ``reduce``, or the deprecated ``reduction`` keyword when given.

    Parameters
    ----------
    reduce : {'gap', 'center', 'random'}
    reduction : str, optional
        Deprecated alias (warns).
    where : str
        Name of the caller, for the warning.

    Returns
    -------
    str
        A valid reduction (``ValueError`` listing them otherwise).
    """
    if reduction is not None:
        warnings.warn(f"{where}(reduction=...) is deprecated; use reduce=...", DeprecationWarning,
                      stacklevel=3)
        reduce = reduction
    return check_reduce(reduce)


def _reduce(t: torch.Tensor, how: str) -> torch.Tensor:
    return reduce_positions(t, "gap" if how == "random" else how)


def reduce(t: torch.Tensor, how: str = "gap", *, reduction: str | None = None) -> torch.Tensor:
    """The stored vector of a layer output: :func:`topoact.reduce.reduce` (``'random'`` -> mean).

    Parameters
    ----------
    t : tensor of shape (B, C, H, W), (B, L, C) or (B, D)
        A recorded layer output.
    how : {'gap', 'center', 'random'}
        The run's reduction (see the module docstring for ``'random'``).
    reduction : str, optional
        Deprecated alias of ``how``.

    Returns
    -------
    tensor of shape (B, C) (or (B, D) unchanged), differentiable.
    """
    return _reduce(t, resolve_reduce(how, reduction, "reduce"))


def _check_channel(t: torch.Tensor, layer: str, index: int) -> None:
    if not 0 <= index < t.shape[1]:
        raise ValueError(f"channel {index} out of range for layer {layer!r} with {t.shape[1]} channels")


def neuron(layer: str, index: int, y: int | None = None, x: int | None = None) -> Objective:
    """One unit at one position. Per-sample.

    Parameters
    ----------
    layer : str
        Layer name.
    index : int
        Channel of a conv map (B, C, H, W) or token sequence (B, L, C), unit of a flat layer.
    y, x : int, optional
        Position in a conv map (default the centre ``(H // 2, W // 2)``); for a token sequence
        ``y`` is the token (default ``L // 2``) and ``x`` is ignored.

    Returns
    -------
    Objective
    """

    def fn(acts):
        t = acts[layer]
        if t.dim() == 3:                                   # tokens (B, L, C)
            _check_channel(t.transpose(1, 2), layer, index)
            n_tokens = t.shape[1]
            pos = n_tokens // 2 if y is None else y
            if not 0 <= pos < n_tokens:
                raise ValueError(f"token {pos} outside layer {layer!r} of {n_tokens} tokens")
            return t[:, pos, index]
        _check_channel(t, layer, index)
        if t.dim() == 2:
            return t[:, index]
        h, w = t.shape[-2:]
        yy, xx = (h // 2 if y is None else y), (w // 2 if x is None else x)
        if not (0 <= yy < h and 0 <= xx < w):
            raise ValueError(f"position ({yy}, {xx}) outside layer {layer!r} of size {h}x{w}")
        return t[:, index, yy, xx]

    return Objective(fn, [layer], f"neuron({layer}:{index})")


def channel(layer: str, index: int, reduce: str = "gap", *,
            reduction: str | None = None) -> Objective:
    """Unit ``index`` of the stored (reduced) vector of ``layer``. Per-sample.

    Parameters
    ----------
    layer : str
        Layer name.
    index : int
        Channel of a conv map / token sequence, or unit of a flat layer.
    reduce : {'gap', 'center', 'random'}
        The run's reduction over positions.
    reduction : str, optional
        Deprecated alias of ``reduce``.

    Returns
    -------
    Objective
    """
    how = resolve_reduce(reduce, reduction, "channel")

    def fn(acts):
        a = _reduce(acts[layer], how)
        _check_channel(a, layer, index)
        return a[:, index]

    return Objective(fn, [layer], f"channel({layer}:{index})")


def direction(layer: str, vector: ArrayLike, reduce: str = "gap", cossim_pow: float = 0.0, *,
              reduction: str | None = None) -> Objective:
    """Projection of the stored (reduced) vector of ``layer`` on a direction. Per-sample.

    ``cossim_pow = 0`` is the plain dot product with the unit vector; ``cossim_pow > 0``
    multiplies it by ``max(cos, 0.1) ** cossim_pow`` (lucent's ``direction_neuron`` with
    cosine weighting, used by TopoAct / Activation Atlas for a node's mean activation).

    Parameters
    ----------
    layer : str
        Layer name.
    vector : array-like of shape (D,)
        Finite, non-zero direction in the stored vector space.
    reduce : {'gap', 'center', 'random'}
        The run's reduction over positions.
    cossim_pow : float
        Cosine weighting exponent (see above).
    reduction : str, optional
        Deprecated alias of ``reduce``.

    Returns
    -------
    Objective
    """
    how = resolve_reduce(reduce, reduction, "direction")
    v = torch.as_tensor(np.asarray(vector, dtype=np.float32)).flatten()
    norm = float(v.norm())
    if norm == 0 or not np.isfinite(norm):
        raise ValueError("direction vector must be finite and non-zero")
    v = v / norm

    def fn(acts):
        a = _reduce(acts[layer], how)
        if a.shape[1] != v.numel():
            raise ValueError(f"direction has {v.numel()} entries but layer {layer!r} has "
                             f"{a.shape[1]} channels")
        u = v.to(a)
        dot = a @ u
        if cossim_pow == 0:
            return dot
        cos = dot / a.norm(dim=1).clamp_min(1e-8)
        return dot * cos.clamp_min(0.1) ** cossim_pow

    return Objective(fn, [layer], f"direction({layer}, pow={cossim_pow:g})")


def layer_activation(layer: str, mode: str = "squared") -> Objective:
    """Overall activation of a layer: mean of squares (DeepDream, ``'squared'``) or mean
    (``'mean'``) over all units and positions. Per-sample."""
    if mode not in ("squared", "mean"):
        raise ValueError(f"mode must be 'squared' or 'mean', got {mode!r}")

    def fn(acts):
        t = acts[layer].flatten(1)
        return (t * t).mean(1) if mode == "squared" else t.mean(1)

    return Objective(fn, [layer], f"layer_activation({layer}, {mode})")


def class_logit(index: int) -> Objective:
    """Logit of class ``index`` (model output). Per-sample."""

    def fn(acts):
        out = acts["logits"]
        _check_channel(out, "logits", index)
        return out[:, index]

    return Objective(fn, ["logits"], f"class_logit({index})")


def diversity(layer: str) -> Objective:
    """Minus the mean pairwise cosine similarity between batch members (batch-level scalar).

    Conv layers and token sequences compare channel Gram matrices (lucent's style diversity);
    flat layers compare feature vectors. Zero for a batch of one.
    """

    def fn(acts):
        t = acts[layer]
        b = t.shape[0]
        if b < 2:
            return t.new_zeros(())
        if t.dim() == 3:                   # tokens (B, L, C): channels first, as maps
            t = t.transpose(1, 2)
        if t.dim() > 2:
            f = t.flatten(2)
            f = torch.bmm(f, f.transpose(1, 2)).flatten(1) / f.shape[-1]
        else:
            f = t
        f = F.normalize(f, dim=1)
        sim = f @ f.T
        off = sim.sum() - sim.diagonal().sum()
        return -off / (b * (b - 1))

    return Objective(fn, [layer], f"diversity({layer})")


def reference_distance(references: torch.Tensor) -> Objective:
    """Minus the mean squared pixel difference between each image and its reference
    (B, 3, H, W) in [0, 1] (a (1, 3, H, W) reference is broadcast). Per-sample."""
    ref = torch.as_tensor(references, dtype=torch.float32)

    def fn(acts):
        x = acts["input"]
        return -((x - ref.to(x)) ** 2).flatten(1).mean(1)

    return Objective(fn, ["input"], "reference_distance")


def l1(layer: str = "input", constant: float = 0.0) -> Objective:
    """Minus mean |x - constant| (a penalty). Per-sample."""
    return Objective(lambda a: -(a[layer] - constant).abs().flatten(1).mean(1), [layer], f"l1({layer})")


def l2(layer: str = "input", constant: float = 0.0) -> Objective:
    """Minus mean (x - constant)^2 (a penalty). Per-sample."""
    return Objective(lambda a: -((a[layer] - constant) ** 2).flatten(1).mean(1), [layer], f"l2({layer})")


def total_variation(layer: str = "input") -> Objective:
    """Minus the mean absolute difference between neighbouring pixels. Per-sample."""

    def fn(acts):
        x = acts[layer]
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
        return -(dx + dy)

    return Objective(fn, [layer], f"total_variation({layer})")


def level(objective: Objective, target: float, scale: float = 1.0) -> Objective:
    """``-((objective - target) / scale) ** 2``: drive a per-sample value to a level.

    Parameters
    ----------
    objective : Objective
        A per-sample measure (inverse sets).
    target : float
        The level.
    scale : float
        Positive unit (e.g. the observed activation range), which makes levels of different
        units comparable when several are summed (intersections).

    Returns
    -------
    Objective
    """
    if scale <= 0:
        raise ValueError("scale must be positive")

    def fn(acts):
        return -((objective.values(acts) - target) / scale) ** 2

    return Objective(fn, objective.layers, f"level({objective.name}={target:g})")


def annealed(objective: Objective, until: float = 0.75) -> Objective:
    """Weight an objective by ``max(0, 1 - progress / until)``: full strength at the start,
    switched off for the final ``1 - until`` of the steps (lets a diversity term spread the
    batch early without pulling the samples off their level at the end)."""

    def fn(acts):
        w = max(0.0, 1.0 - float(acts.get("progress", 0.0)) / until)
        return w * objective.values(acts)

    return Objective(fn, objective.layers, f"annealed({objective.name})")
