"""Forward hooks that record layer outputs, removed in ``finally``; model state restored.

``resolve_module`` turns a dot-qualified layer name into its module and raises a
``ValueError`` listing the valid names (via ``topoact.models.layers.resolve_layers`` when a
bundle and that module are available). ``recording`` registers hooks for the duration of a
``with`` block. ``frozen`` puts a model in eval mode with ``requires_grad=False`` on its
parameters and restores training flags, ``requires_grad`` flags and ``.grad`` tensors after,
even when the body raises.

Thread safety (the app runs jobs in a thread pool on one shared model): a recording hook
only records forward passes made by the thread that registered it, and ``frozen`` is
reference-counted per model (the first block to enter saves the state, the last to leave
restores it), so concurrent optimisations neither see each other's activations nor restore
each other's temporary state.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import nn

__all__ = ["SPECIAL_LAYERS", "resolve_module", "valid_layer_names", "recording", "frozen"]

#: names objectives may use that are not modules: the image in [0, 1] and the model output.
SPECIAL_LAYERS = ("input", "logits")


def valid_layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def resolve_module(model: nn.Module, name: str, bundle=None) -> nn.Module:
    """Module called ``name`` in ``model`` or a ``ValueError`` listing the valid names."""
    if bundle is not None:
        try:
            from topoact.models.layers import resolve_layers
        except ImportError:  # models engineer's module not there yet
            resolve_layers = None
        if resolve_layers is not None:
            resolve_layers(bundle, [name])
    modules = dict(model.named_modules())
    if not name or name not in modules:
        valid = valid_layer_names(model)
        raise ValueError(f"unknown layer {name!r}; valid layers: {', '.join(valid)}")
    return modules[name]


@contextmanager
def recording(model: nn.Module, layers: Iterable[str], bundle=None) -> Iterator[dict]:
    """Record the outputs of ``layers`` into the yielded dict on every forward pass."""
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
    """Eval mode and frozen parameters inside the block; everything restored afterwards."""
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
