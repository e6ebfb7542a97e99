"""Models: ``load_model(spec)`` turns a model spec into a ``ModelBundle``.

Accepted specs
--------------
``"demo"``
    Built-in CNN trained on ``shapes`` on first use and cached (``topoact.models.demo``).
``"cifar-resnet20"`` | ``32`` | ``44`` | ``56`` | ``110``
    He et al. 2016 CIFAR ResNets (option A); ``weights=FILE`` loads a state dict (``state_dict``
    wrappers and ``module.`` prefixes handled); without weights they are random (seeded) and a
    WARNING is logged. 32x32 input, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225),
    CIFAR-10 class names.
``"torchvision:NAME"`` / ``"torchvision:NAME:WEIGHTS"``
    Any torchvision classification model (``topoact.models.tv``).
``"torchscript:PATH"`` or a path ending ``.pt``/``.ts``/``.torchscript`` that is a TorchScript
    archive (``topoact.models.script``).
``ModelBundle``
    Returned as is.
``nn.Module``
    Wrapped (put in eval mode); ``weights=FILE`` loads a state dict into it. Defaults:
    ``input_size=(224, 224)``, ImageNet ``mean``/``std``, class names ``class_i`` from one dummy
    forward. Its ``spec`` is ``"module:ClassName"``, which cannot be reloaded from a string.

``bundle.hash`` is the sha256 (16 hex) of the weights file, or of the state dict bytes when
there is no file (demo, random weights, in-memory modules).
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..hashing import file_sha256
from .base import ModelBundle
from .checkpoints import (extract_state_dict, load_state_dict_strict, read_weights,
                          state_dict_sha256)
from .cifar_resnet import CIFAR10_CLASSES, DEPTHS, CifarResNet, cifar_resnet
from .demo import DemoCNN, load_demo
from .layers import hooks_supported, layer_names, list_layers, resolve_layers
from .script import is_torchscript_file, load_torchscript, save_torchscript
from .tv import IMAGENET_MEAN, IMAGENET_STD, load_torchvision

__all__ = [
    "load_model", "ModelBundle", "list_layers", "resolve_layers", "layer_names",
    "hooks_supported", "wrap_module", "cifar_resnet", "CifarResNet", "DemoCNN", "load_demo",
    "load_torchvision", "load_torchscript", "save_torchscript", "read_weights",
    "extract_state_dict", "load_state_dict_strict", "CIFAR10_CLASSES",
]

log = logging.getLogger(__name__)

ACCEPTED = ("'demo', 'cifar-resnet20|32|44|56|110' (+ weights=FILE), 'torchvision:NAME' "
            "(+ weights=FILE, or 'torchvision:NAME:DEFAULT' for cached pretrained weights), "
            "'torchscript:PATH' or a .pt/.ts/.torchscript TorchScript file, a ModelBundle, "
            "or any torch.nn.Module (Python API)")
CIFAR_MEAN = (0.485, 0.456, 0.406)
CIFAR_STD = (0.229, 0.224, 0.225)
SCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript", ".pth", ".jit")


def wrap_module(module: nn.Module, weights: str | os.PathLike | None = None, *,
                class_names: list[str] | None = None, input_size: tuple[int, int] = (224, 224),
                mean: tuple = IMAGENET_MEAN, std: tuple = IMAGENET_STD,
                spec: str | None = None) -> ModelBundle:
    """Wrap any ``nn.Module`` as a ModelBundle (put in eval mode).

    Parameters
    ----------
    module : nn.Module
    weights : str or PathLike, optional
        Local state dict to load into it.
    class_names : list of str, optional
        Default ``class_0 .. class_{C-1}`` from one dummy forward.
    input_size : (H, W)
    mean, std : 3-tuples of float
        Input normalisation (default ImageNet).
    spec : str, optional
        Default ``module:ClassName`` (not reloadable from a string).

    Returns
    -------
    ModelBundle
    """
    weights_path = None
    if weights is not None:
        weights_path = os.path.abspath(os.fspath(weights))
        load_state_dict_strict(module, read_weights(weights_path), source=weights_path)
    module.eval()
    if class_names is None:
        with torch.no_grad():
            out = module(torch.zeros(1, 3, *input_size))
        n = out.shape[-1] if isinstance(out, torch.Tensor) else 0
        class_names = [f"class_{i}" for i in range(n)]
    is_script = isinstance(module, torch.jit.ScriptModule)
    return ModelBundle(
        module=module, input_size=(int(input_size[0]), int(input_size[1])), mean=tuple(mean),
        std=tuple(std), class_names=list(class_names),
        spec=spec or f"module:{type(module).__name__}", weights=weights_path,
        hash=file_sha256(weights_path) if weights_path else state_dict_sha256(module),
        info={"source": "module", "hooks_supported": not is_script,
              "random_weights": None})


def _cifar(depth: int, weights, class_names) -> ModelBundle:
    if depth not in DEPTHS:
        raise ValueError(f"cifar-resnet depth must be one of {DEPTHS}, got {depth}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cifar_resnet(depth)
    info: dict[str, Any] = {"source": "cifar-resnet", "depth": depth}
    if weights is not None:
        path = os.path.abspath(os.fspath(weights))
        load_state_dict_strict(model, read_weights(path), source=path)
        digest, info["random_weights"] = file_sha256(path), False
    else:
        log.warning("cifar-resnet%d has RANDOM weights (no weights file given); pass "
                    "weights=FILE / --weights FILE with a trained state dict", depth)
        path, digest, info["random_weights"] = None, state_dict_sha256(model), True
    model.eval()
    return ModelBundle(module=model, input_size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD,
                       class_names=list(class_names or CIFAR10_CLASSES),
                       spec=f"cifar-resnet{depth}", weights=path, hash=digest, info=info)


def load_model(spec: Any, weights: str | os.PathLike | None = None, *,
               class_names: list[str] | None = None, **kw: Any) -> ModelBundle:
    """Load a model spec into a ``ModelBundle`` (see the module docstring for the forms).

    Parameters
    ----------
    spec : str, os.PathLike, ModelBundle or nn.Module
    weights : path, optional
        Local state dict (``torch.load(..., weights_only=True)``).
    class_names : list of str, optional
        Override the model's class names.
    **kw
        ``input_size``, ``mean``, ``std`` for ``nn.Module`` / torchvision / TorchScript models.

    Examples
    --------
    >>> bundle = load_model("cifar-resnet20")  # random weights, logs a warning
    >>> bundle.input_size, bundle.class_names[0]
    ((32, 32), 'airplane')
    """
    if isinstance(spec, ModelBundle):
        return spec
    if isinstance(spec, nn.Module):
        return wrap_module(spec, weights, class_names=class_names, **kw)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise ValueError(f"unknown model spec of type {type(spec).__name__}; accepted: {ACCEPTED}")
    text = spec.strip()
    if text == "demo":
        if kw:
            raise ValueError(f"the demo model takes no options {sorted(kw)}")
        bundle = load_demo()
        if weights is not None:
            path = os.path.abspath(os.fspath(weights))
            load_state_dict_strict(bundle.module, read_weights(path), source=path)
            bundle.weights, bundle.hash = path, file_sha256(path)
        if class_names is not None:
            bundle.class_names = list(class_names)
        return bundle
    match = re.fullmatch(r"cifar-?resnet(\d+)", text, flags=re.IGNORECASE)
    if match:
        if kw:
            raise ValueError(f"cifar-resnet models take no options {sorted(kw)}")
        return _cifar(int(match.group(1)), weights, class_names)
    if text.startswith("torchvision:"):
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[1]:
            raise ValueError(f"bad model spec {spec!r}: expected 'torchvision:NAME' or "
                             "'torchvision:NAME:WEIGHTS' (e.g. torchvision:resnet18:DEFAULT)")
        pretrained = parts[2] if len(parts) == 3 else None
        return load_torchvision(parts[1], weights, pretrained=pretrained,
                                class_names=class_names, **kw)
    if text.startswith("torchscript:"):
        if weights is not None:
            raise ValueError("a TorchScript archive carries its own weights; drop weights=")
        return load_torchscript(text[len("torchscript:"):], class_names=class_names, **kw)
    if text.startswith("module:"):
        raise ValueError(f"{spec!r} names an in-memory nn.Module, which cannot be reloaded from "
                         "a string; pass the module object to load_model() instead")
    if text.lower().endswith(SCRIPT_SUFFIXES) and Path(text).is_file():
        if is_torchscript_file(text):
            if weights is not None:
                raise ValueError("a TorchScript archive carries its own weights; drop weights=")
            return load_torchscript(text, class_names=class_names, **kw)
        raise ValueError(f"{text} is not a TorchScript archive (probably a state dict): name the "
                         "architecture and pass the file as weights, e.g. "
                         f"load_model('cifar-resnet20', weights={text!r}) or "
                         f"--model torchvision:resnet18 --weights {text}")
    raise ValueError(f"unknown model spec {spec!r}; accepted: {ACCEPTED}")
