"""Layer names and output shapes, as torchvision's ``feature_extraction`` names them.

``list_layers`` runs ONE dummy forward (zeros, batch 1, ``torch.no_grad``, eval mode) with a
forward hook on every named submodule and reports, in forward execution order (first call), each
module's output shape without the batch dimension - the shape of its last call when a module is
called several times (e.g. torchvision's shared ``relu`` in ``BasicBlock``). Modules whose output
is not a tensor (tuples, dicts) get shape None; modules never called are appended at the end with
shape None. Hooks are removed and each module's ``training`` flag restored in ``finally``.

TorchScript modules do not support Python forward hooks (``NotImplementedError``): for them the
names of ``named_modules()`` are listed with shape None and a warning is logged
(``hooks_supported`` tells which case applies).
"""
from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable

import torch
from torch import nn

from .base import ModelBundle

__all__ = ["list_layers", "resolve_layers", "layer_names", "hooks_supported"]

log = logging.getLogger(__name__)

DEFAULT_INPUT_SIZE = (224, 224)


def _module(obj: ModelBundle | nn.Module) -> nn.Module:
    if isinstance(obj, ModelBundle):
        return obj.module
    if isinstance(obj, nn.Module):
        return obj
    raise TypeError(f"expected a ModelBundle or nn.Module, got {type(obj).__name__}")


def hooks_supported(obj: ModelBundle | nn.Module) -> bool:
    """False for TorchScript modules (Python forward hooks never fire inside them).

    Parameters
    ----------
    obj : ModelBundle or nn.Module

    Returns
    -------
    bool
    """
    return not isinstance(_module(obj), torch.jit.ScriptModule)


def layer_names(obj: ModelBundle | nn.Module) -> list[str]:
    """All named submodules (dot paths, root excluded) in registration order.

    Parameters
    ----------
    obj : ModelBundle or nn.Module

    Returns
    -------
    list of str
    """
    return [name for name, _ in _module(obj).named_modules() if name]


def list_layers(obj: ModelBundle | nn.Module,
                input_size: tuple[int, int] | None = None) -> list[tuple[str, tuple | None]]:
    """Every named submodule with its output shape (without batch), in execution order.

    Parameters
    ----------
    obj : ModelBundle or nn.Module
    input_size : (H, W), optional
        Dummy input size; default the bundle's ``input_size`` (224x224 for a bare module).

    Returns
    -------
    list of (name, shape)
        ``shape`` is a tuple such as ``(64, 8, 8)`` or None (non-tensor output / not called /
        TorchScript).

    Examples
    --------
    >>> from topoact.models import load_model
    >>> dict(list_layers(load_model("cifar-resnet20")))["layer3"]  # doctest: +SKIP
    (64, 8, 8)
    """
    module = _module(obj)
    if input_size is None:
        input_size = obj.input_size if isinstance(obj, ModelBundle) else DEFAULT_INPUT_SIZE
    names = layer_names(module)
    if not hooks_supported(module):
        log.warning("TorchScript module: forward hooks are not supported, layer shapes unknown "
                    "and layers cannot be collected; load the eager nn.Module for activations")
        return [(name, None) for name in names]

    order: list[str] = []
    shapes: dict[str, tuple | None] = {}

    def make_hook(name: str):
        def hook(_mod, _inp, out):
            if name not in shapes:
                order.append(name)
            shapes[name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        return hook

    try:
        param = next(module.parameters())
        device, dtype = param.device, param.dtype if param.is_floating_point() else torch.float32
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    training = {m: m.training for m in module.modules()}
    handles = []
    try:
        for name, sub in module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(make_hook(name)))
        module.eval()
        with torch.no_grad():
            module(torch.zeros(1, 3, int(input_size[0]), int(input_size[1]),
                               device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in training.items():
            m.training = flag
    return [(name, shapes[name]) for name in order] + [(n, None) for n in names if n not in shapes]


def resolve_layers(obj: ModelBundle | nn.Module, names: str | Iterable[str]) -> list[str]:
    """Check layer names against the model; returns them de-duplicated in the given order.

    Parameters
    ----------
    obj : ModelBundle or nn.Module
    names : str or iterable of str
        Module paths, or one comma-separated string.

    Returns
    -------
    list of str

    Raises
    ------
    topoact.errors.UnknownLayerError
        For the first unknown name; the message lists the valid layers, closest matches first.
    ValueError
        When no name is given.
    """
    from ..errors import UnknownLayerError

    if isinstance(names, str):
        names = [n for n in (p.strip() for p in names.split(",")) if n]
    names = list(names)
    valid = layer_names(obj)
    if not names:
        raise ValueError(f"no layers given; valid layers: {', '.join(valid)}")
    valid_set = set(valid)
    out: list[str] = []
    for name in names:
        if name not in valid_set:
            close = difflib.get_close_matches(str(name), valid, n=5, cutoff=0.5)
            where = f"model {obj.spec}" if isinstance(obj, ModelBundle) else "this model"
            raise UnknownLayerError(name, close + [v for v in valid if v not in close], where=where)
        if name not in out:
            out.append(name)
    return out
