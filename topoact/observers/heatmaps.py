"""Relevance heat maps: how much each unit, and each position of a conv map, matters to a probe.

A probe (:class:`~topoact.observers.probes.LayerProbe`) scores a standardised activation vector
``z = (x - mean) / scale`` for output ``k`` as ``w_k . z + b_k``. The relevance of unit ``u`` is
its term ``w_k[u] * z[u]`` (probe weight x activation); the terms add up to the score.

* :func:`unit_relevance` -- per unit, averaged over a set of images (e.g. one class): which
  channels matter.
* :func:`spatial_relevance` -- per spatial position of a conv layer for ONE image: the layer's
  full (C, H, W) map is recomputed with the model through a forward hook (removed in
  ``finally``) and the probe is applied at every position, ``R[h, w] = sum_u w_k[u] *
  (a[u, h, w] - mean[u]) / scale[u]``. With the run's ``gap`` reduction the mean of ``R`` over
  positions is exactly the probe's score without its intercept. The map is upsampled to the
  image and returned with it for an overlay.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..results import Result

__all__ = ["unit_relevance", "SpatialRelevance", "spatial_relevance", "layer_map"]


def _probe_arrays(probe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = probe.to_dict() if hasattr(probe, "to_dict") else probe
    if data.get("coef") is None:
        raise ValueError(f"probe of layer {data.get('layer')!r} ({data.get('model')}) has no linear "
                         "weights; relevance needs a linear probe (logistic, sgd or ridge)")
    return (np.asarray(data["coef"], np.float64), np.asarray(data["mean"], np.float64),
            np.asarray(data["scale"], np.float64))


def _output_index(probe, output) -> int:
    data = probe.to_dict() if hasattr(probe, "to_dict") else probe
    coef = np.asarray(data["coef"])
    if coef.shape[0] == 1:          # binary logistic: one row scores the second class
        return 0
    classes = list(data.get("classes") or range(coef.shape[0]))
    if output not in classes:
        raise ValueError(f"output {output!r} is not one of the probe's outputs {classes}")
    return classes.index(output)


def unit_relevance(probe, X: np.ndarray, output) -> np.ndarray:
    """(D,) mean relevance ``w_k[u] * z[u]`` of each unit over the rows of ``X``.

    Parameters
    ----------
    probe : LayerProbe (or its dict)
    X : (n, D) raw activations of the layer (e.g. the images of one class)
    output : the class code (or "cos" / "sin" for a circular probe) whose score is explained
    """
    coef, mean, scale = _probe_arrays(probe)
    w = coef[_output_index(probe, output)]
    Z = (np.asarray(X, np.float64) - mean) / scale
    return (Z * w).mean(axis=0)


def layer_map(bundle, image, layer: str) -> np.ndarray:
    """(C, H, W) float32 output of ``layer`` for one PIL image (hook removed afterwards)."""
    import torch

    modules = dict(bundle.module.named_modules())
    if layer not in modules:
        from ..errors import UnknownLayerError

        raise UnknownLayerError(layer, [n for n in modules if n], where="this model")
    captured = {}

    def hook(_module, _inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        captured["map"] = out.detach()

    handle = modules[layer].register_forward_hook(hook)
    training = bundle.module.training
    try:
        bundle.module.eval()
        with torch.inference_mode():
            bundle.module(bundle.preprocess(image).unsqueeze(0))
    finally:
        handle.remove()
        bundle.module.train(training)
    out = captured["map"][0].float().numpy()
    if out.ndim == 1:
        out = out[:, None, None]
    if out.ndim != 3:
        raise ValueError(f"layer {layer!r} has output shape {tuple(out.shape)}; spatial relevance "
                         "needs a conv map (C, H, W)")
    return out


@dataclasses.dataclass
class SpatialRelevance(Result):
    """Relevance per position of one image: ``map`` (H, W) at the layer's resolution,
    ``upsampled`` (image H, W), ``image`` as uint8 (H, W, 3) nested lists, ``score`` = mean of the
    map (the probe's score without intercept under GAP)."""

    kind = "spatial_relevance"

    layer: str
    row: int
    output: object
    map: list
    upsampled: list
    image: list
    score: float


def spatial_relevance(run, layer: str, row: int, probe, output) -> SpatialRelevance:
    """Relevance map of probe output ``output`` over the positions of ``layer`` for image ``row``."""
    import torch
    import torch.nn.functional as F

    coef, mean, scale = _probe_arrays(probe)
    w = coef[_output_index(probe, output)]
    bundle = run.model()
    image = run.image(int(row)).convert("RGB")
    A = layer_map(bundle, image, layer)
    if A.shape[0] != len(w):
        raise ValueError(f"probe has {len(w)} weights but layer {layer!r} has {A.shape[0]} channels")
    R = np.einsum("c,chw->hw", w / scale, A - mean[:, None, None]).astype(np.float32)
    size = image.size[::-1]
    up = F.interpolate(torch.from_numpy(R)[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return SpatialRelevance(layer=layer, row=int(row), output=output, map=R.tolist(),
                            upsampled=up.numpy().round(5).tolist(), image=np.asarray(image).tolist(),
                            score=float(R.mean()))
