"""Forward hooks that record layer outputs, removed in ``finally``; model state restored.

``resolve_module`` turns a dot-qualified layer name into its module; an unknown name raises
:class:`topoact.errors.UnknownLayerError` listing the valid names (through
:func:`topoact.models.layers.resolve_layers` when a bundle is given, closest matches first).
``recording`` registers hooks for the duration of a ``with`` block. ``frozen`` puts a model in
eval mode with ``requires_grad=False`` on its parameters and restores training flags,
``requires_grad`` flags and ``.grad`` tensors after, even when the body raises.

Thread safety (several optimisations may share one model object in one process, e.g. two
threads of a script, or the tests): a recording hook only records forward passes made by the
thread that registered it, and ``frozen`` is reference-counted per model (the first block to
enter saves the state, the last to leave restores it), so concurrent optimisations neither see
each other's activations nor restore each other's temporary state.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

import torch
from torch import nn

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["SPECIAL_LAYERS", "resolve_module", "valid_layer_names", "recording", "frozen"]

#: names objectives may use that are not modules: the image in [0, 1] and the model output.
SPECIAL_LAYERS = ("input", "logits")


def valid_layer_names(model: nn.Module) -> list[str]:
    """Dot-qualified names of every submodule of ``model`` (the hookable layers)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_module(model: nn.Module, name: str, bundle: Optional[ModelBundle] = None) -> nn.Module:
    """The submodule called ``name``.

    Parameters
    ----------
    model : nn.Module
    name : str
        Dot-qualified module path (``layer3.2.conv1``).
    bundle : ModelBundle, optional
        When given, the name is checked by :func:`topoact.models.layers.resolve_layers`.

    Returns
    -------
    nn.Module

    Raises
    ------
    topoact.errors.UnknownLayerError
        (a ``ValueError`` and ``KeyError``) listing the valid names.
    """
    if bundle is not None:
        from topoact.models.layers import resolve_layers

        resolve_layers(bundle, [name])
    modules = dict(model.named_modules())
    if not name or name not in modules:
        from topoact.errors import UnknownLayerError

        raise UnknownLayerError(name, valid_layer_names(model), where="the model")
    return modules[name]


@contextmanager
def recording(model: nn.Module, layers: Iterable[str],
              bundle: Optional[ModelBundle] = None) -> Iterator[dict]:
    """Record the outputs of ``layers`` into the yielded dict on every forward pass.

    Parameters
    ----------
    model : nn.Module
    layers : iterable of str
        Layer names (``"input"`` and ``"logits"`` are skipped: the caller fills them).
    bundle : ModelBundle, optional
        For layer-name checks (see :func:`resolve_module`).

    Yields
    ------
    dict
        ``{layer: output tensor}`` of the last forward pass made by this thread.
    """
    store: dict[str, torch.Tensor] = {}
    handles = []
    owner = threading.get_ident()
    try:
        for name in dict.fromkeys(layers):
            if name in SPECIAL_LAYERS:
                continue
            module = resolve_module(model, name, bundle)

            def hook(_module, _inputs, output, _name=name):
                if threading.get_ident() != owner:
                    return
                store[_name] = output[0] if isinstance(output, (tuple, list)) else output

            handles.append(module.register_forward_hook(hook))
        yield store
    finally:
        for handle in handles:
            handle.remove()
        store.clear()


_FROZEN_LOCK = threading.Lock()
_FROZEN: "weakref.WeakKeyDictionary[nn.Module, list]" = weakref.WeakKeyDictionary()


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters inside the block; everything restored afterwards.

    Parameters
    ----------
    model : nn.Module

    Yields
    ------
    nn.Module
        ``model`` itself.
    """
    with _FROZEN_LOCK:
        entry = _FROZEN.get(model)
        if entry is None:
            modes = {m: m.training for m in model.modules()}
            flags = [(p, p.requires_grad, p.grad) for p in model.parameters()]
            model.eval()
            for p, _, _ in flags:
                p.requires_grad_(False)
            _FROZEN[model] = entry = [modes, flags, 0]
        entry[2] += 1
    try:
        yield model
    finally:
        with _FROZEN_LOCK:
            entry[2] -= 1
            if entry[2] == 0:
                modes, flags, _ = _FROZEN.pop(model)
                for m, mode in modes.items():
                    m.training = mode
                for p, flag, grad in flags:
                    p.requires_grad_(flag)
                    p.grad = grad
