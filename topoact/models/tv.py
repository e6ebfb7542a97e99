"""``torchvision:NAME[:WEIGHTS]`` - any torchvision classification architecture.

Choices:

* ``NAME`` must be in ``torchvision.models.list_models(module=torchvision.models)`` (the
  classification models); the model is built with ``get_model(NAME, weights=None)``.
* ``weights=FILE`` (``--weights``): a local state dict, read with ``weights_only=True``
  (wrappers and ``module.`` prefixes handled). If the file's classifier has K != 1000 outputs the
  model is rebuilt with ``num_classes=K`` (fine-tuned checkpoints load as they are).
* No file: the weights are RANDOM (seeded with 0, so reloading gives the same model); a WARNING
  is logged and ``bundle.info["random_weights"] = True``.
* ``torchvision:NAME:DEFAULT`` (or a weights enum member such as ``IMAGENET1K_V1``) asks for the
  pretrained weights through torchvision's own path (``WeightsEnum.get_state_dict``), which uses
  the torch hub cache (``torch.hub.get_dir()/checkpoints``) and downloads only when the file is
  not there. Offline, a missing file raises ``RuntimeError`` saying where to put it.
* Preprocessing: the weights' own crop size (224 for most, 299 for inception_v3...) and
  ImageNet mean/std; images are resized straight to that size (no centre crop). Class names:
  the weights' ``meta["categories"]`` when the model has 1000 outputs, else ``class_i``.
"""
from __future__ import annotations

import difflib
import logging
import os
from typing import Any

import torch
from torch import nn

from ..hashing import file_sha256
from .base import ModelBundle
from .checkpoints import load_state_dict_strict, read_weights, state_dict_sha256

__all__ = ["load_torchvision", "classification_models", "IMAGENET_MEAN", "IMAGENET_STD"]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def classification_models() -> list[str]:
    """Names of torchvision's classification models (sorted).

    Returns
    -------
    list of str
    """
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _weights_enum(name: str):
    import torchvision

    try:
        return torchvision.models.get_model_weights(name)
    except Exception:  # noqa: BLE001 - some builders have no weights enum
        return None


def _preprocessing(enum) -> tuple[tuple[int, int], tuple, tuple, list[str] | None]:
    size, mean, std, categories = (224, 224), IMAGENET_MEAN, IMAGENET_STD, None
    if enum is not None:
        default = enum.DEFAULT
        categories = default.meta.get("categories")
        try:
            t = default.transforms()
            crop = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else t.crop_size
            size = (int(crop), int(crop))
            mean, std = tuple(t.mean), tuple(t.std)
        except Exception:  # noqa: BLE001 - non-standard transforms: keep ImageNet defaults
            pass
    return size, mean, std, categories


def _num_outputs_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> int | None:
    """K if the only shape mismatches are a classifier with K outputs instead of the default."""
    expected = model.state_dict()
    mism = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not mism:
        return None
    ks = {int(state[k].shape[0]) for k in mism if state[k].ndim >= 1}
    defaults = {int(expected[k].shape[0]) for k in mism if expected[k].ndim >= 1}
    if len(ks) == 1 and defaults == {1000}:
        return ks.pop()
    return None


def load_torchvision(name: str, weights: str | os.PathLike | None = None, *,
                     pretrained: str | None = None, class_names: list[str] | None = None,
                     input_size: tuple[int, int] | None = None, mean: tuple | None = None,
                     std: tuple | None = None) -> ModelBundle:
    """Build ``torchvision.models.get_model(name)`` and load weights (see module docstring).

    Parameters
    ----------
    name : str
        A name from :func:`classification_models`.
    weights : str or PathLike, optional
        Local state dict.
    pretrained : str, optional
        A torchvision weights name (e.g. ``DEFAULT``), loaded from the torch hub cache.
    class_names : list of str, optional
    input_size : (H, W), optional
    mean, std : tuples, optional
        Override the preprocessing of the weights' metadata.

    Returns
    -------
    ModelBundle
    """
    import torchvision

    available = classification_models()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown torchvision classification model {name!r}.{hint} "
                         f"Available: {', '.join(available)}")
    enum = _weights_enum(name)
    size, mu, sigma, categories = _preprocessing(enum)
    info: dict[str, Any] = {"source": "torchvision", "architecture": name}
    weights_path: str | None = None
    spec = f"torchvision:{name}"

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None)
    if weights is not None and pretrained is not None:
        raise ValueError("give either a weights file or a pretrained weights name, not both")
    if weights is not None:
        weights_path = os.path.abspath(os.fspath(weights))
        state = read_weights(weights_path)
        k = _num_outputs_mismatch(model, state)
        if k is not None:
            log.info("%s: weights have %d classes; rebuilding with num_classes=%d", name, k, k)
            model = torchvision.models.get_model(name, weights=None, num_classes=k)
        load_state_dict_strict(model, state, source=weights_path)
        model_hash = file_sha256(weights_path)
        info["random_weights"] = False
    elif pretrained is not None:
        if enum is None:
            raise ValueError(f"torchvision model {name!r} has no pretrained weights enum")
        try:
            member = enum[pretrained]
        except KeyError:
            raise ValueError(f"unknown weights {pretrained!r} for {name}; available: "
                             f"{', '.join(enum.__members__)}") from None
        try:
            state = member.get_state_dict(progress=True)
        except Exception as exc:  # URLError, socket errors, HTTP errors...
            target = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(member.url))
            raise RuntimeError(
                f"could not obtain pretrained weights {name}:{member.name} ({type(exc).__name__}: "
                f"{exc}). Downloads need internet access; offline, place the file from "
                f"{member.url} at {target}, or pass a local state dict with --weights FILE "
                f"(load_model('torchvision:{name}', weights=FILE)).") from exc
        load_state_dict_strict(model, state, source=f"{name}:{member.name}")
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(member.url))
        model_hash = file_sha256(cached) if os.path.isfile(cached) else state_dict_sha256(state)
        weights_path = cached if os.path.isfile(cached) else None
        spec = f"torchvision:{name}:{member.name}"
        info["random_weights"] = False
        info["pretrained"] = member.name
    else:
        log.warning("torchvision:%s has RANDOM weights (no weights file given; downloads are not "
                    "possible offline) - pass weights=FILE / --weights FILE with a local state "
                    "dict for meaningful activations", name)
        info["random_weights"] = True
        model_hash = state_dict_sha256(model)
    model.eval()
    n_out = None
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if last:
        n_out = last[-1].out_features
    if class_names is None:
        if categories is not None and n_out in (None, len(categories)):
            class_names = list(categories)
        else:
            class_names = [f"class_{i}" for i in range(n_out or 1000)]
    return ModelBundle(module=model, input_size=tuple(input_size or size), mean=tuple(mean or mu),
                       std=tuple(std or sigma), class_names=list(class_names), spec=spec,
                       weights=weights_path, hash=model_hash, info=info)
