"""TorchScript archives: ``torchscript:PATH`` (or a ``.pt``/``.ts``/``.torchscript`` path).

Choices:

* Loaded with ``torch.jit.load(path, map_location="cpu")``. If the archive carries an extra
  file ``topoact.json`` (written by ``save_torchscript``) with ``input_size``, ``mean``, ``std``,
  ``class_names``, those are used; keyword arguments override them; otherwise the defaults are
  224x224 and ImageNet mean/std, and class names ``class_i`` from one dummy forward.
* Limitation: Python forward hooks do not fire inside TorchScript (registering one raises
  ``NotImplementedError``), so ``list_layers`` lists the module names with shape None and the
  layers cannot be collected by hooks; use the eager ``nn.Module`` through the Python API for
  layer activations. ``bundle.info["hooks_supported"]`` is False.
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
from typing import Any

import torch
from torch import nn

from ..hashing import file_sha256
from .base import ModelBundle

__all__ = ["load_torchscript", "save_torchscript", "is_torchscript_file"]

META_FILE = "topoact.json"


def is_torchscript_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a TorchScript zip archive (has a ``code/`` directory).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    bool
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in n for n in archive.namelist()[:2000])
    except (OSError, zipfile.BadZipFile):
        return False


def save_torchscript(module: nn.Module, path: str | os.PathLike, *, input_size: tuple[int, int] = (224, 224),
                     mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
                     std: tuple[float, float, float] = (0.229, 0.224, 0.225),
                     class_names: list[str] | None = None, trace: bool = False) -> str:
    """Script (or trace) ``module`` and save it with its preprocessing in ``topoact.json``.

    Parameters
    ----------
    module : nn.Module
    path : str or PathLike
        Archive to write.
    input_size : (H, W)
    mean, std : 3-tuples of float
        Input normalisation.
    class_names : list of str, optional
    trace : bool
        ``torch.jit.trace`` with a zero input instead of ``torch.jit.script``.

    Returns
    -------
    str
        ``path``.
    """
    meta = {"input_size": list(input_size), "mean": list(mean), "std": list(std),
            "class_names": class_names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        was_training = module.training
        module.eval()
        try:
            if trace:
                example = torch.zeros(1, 3, *input_size)
                scripted = torch.jit.trace(module, example)
            else:
                scripted = torch.jit.script(module)
        finally:
            module.train(was_training)
        torch.jit.save(scripted, os.fspath(path), _extra_files={META_FILE: json.dumps(meta)})
    return os.fspath(path)


def load_torchscript(path: str | os.PathLike, *, class_names: list[str] | None = None,
                     input_size: tuple[int, int] | None = None, mean: tuple | None = None,
                     std: tuple | None = None) -> ModelBundle:
    """Load a TorchScript archive as a ModelBundle (only its output can be collected: no hooks).

    Parameters
    ----------
    path : str or PathLike
    class_names : list of str, optional
        Default: those saved in the archive, else ``class_i`` from one dummy forward.
    input_size : (H, W), optional
    mean, std : 3-tuples of float, optional
        Override what the archive's ``topoact.json`` says (default ImageNet, 224x224).

    Returns
    -------
    ModelBundle
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TorchScript file not found: {path}")
    extra = {META_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise ValueError(f"{path} is not a loadable TorchScript archive ({exc}); for a state "
                         "dict use a model spec with weights=FILE") from exc
    meta: dict[str, Any] = json.loads(extra[META_FILE]) if extra[META_FILE] else {}
    size = tuple(input_size or meta.get("input_size") or (224, 224))
    mu = tuple(mean or meta.get("mean") or (0.485, 0.456, 0.406))
    sigma = tuple(std or meta.get("std") or (0.229, 0.224, 0.225))
    names = class_names or meta.get("class_names")
    module.eval()
    if not names:
        with torch.no_grad():
            out = module(torch.zeros(1, 3, *size))
        n = out.shape[-1] if isinstance(out, torch.Tensor) else 0
        names = [f"class_{i}" for i in range(n)]
    return ModelBundle(module=module, input_size=(int(size[0]), int(size[1])), mean=mu, std=sigma,
                       class_names=list(names), spec=f"torchscript:{path}", weights=None,
                       hash=file_sha256(path),
                       info={"source": "torchscript", "hooks_supported": False,
                             "random_weights": False})
