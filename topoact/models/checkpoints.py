"""Reading weight files: unwrap common checkpoint layouts and load state dicts strictly.

* Every file is read with ``torch.load(path, map_location="cpu", weights_only=True)``: no
  arbitrary code runs. A file holding a whole pickled module therefore fails with an
  explanation (save ``model.state_dict()`` or a TorchScript archive instead).
* Wrappers: nested dicts under ``state_dict``, ``model``, ``model_state_dict``, ``net``,
  ``network``, ``weights`` or ``params`` are unwrapped (repeatedly) until a mapping of tensors
  is found.
* Prefixes: ``module.`` (``DataParallel`` / DDP) and ``_orig_mod.`` (``torch.compile``) are
  stripped when every key carries them.
* ``load_state_dict_strict`` compares keys and shapes first and raises ``ValueError`` listing
  the missing, unexpected and mis-shaped keys. BatchNorm ``num_batches_tracked`` counters absent
  from old (pre-0.4) checkpoints are tolerated (set to 0; they do not affect eval outputs).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["read_weights", "extract_state_dict", "strip_prefixes", "load_state_dict_strict",
           "WRAPPER_KEYS"]

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
PREFIXES = ("module.", "_orig_mod.")


def _is_state_dict(obj: Any) -> bool:
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) for k in obj)
            and all(isinstance(v, torch.Tensor) for v in obj.values()))


def extract_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the state dict inside a loaded checkpoint object and strip wrapper prefixes.

    Parameters
    ----------
    obj : Any
        What ``torch.load`` returned: a state dict, a dict wrapping one (``state_dict``,
        ``model``, ...) or an ``nn.Module``.
    source : str
        Name of the checkpoint in error messages.

    Returns
    -------
    dict of str to torch.Tensor
        Parameter name -> tensor, ``module.`` / ``_orig_mod.`` prefixes removed.
    """
    seen = 0
    while not _is_state_dict(obj):
        if isinstance(obj, nn.Module):
            obj = obj.state_dict()
            continue
        if not isinstance(obj, Mapping) or seen > 5:
            raise ValueError(f"{source}: no state dict found (got {type(obj).__name__}); expected "
                             f"a mapping of parameter names to tensors, possibly under one of "
                             f"the keys {', '.join(WRAPPER_KEYS)}")
        for key in WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], (Mapping, nn.Module)):
                obj = obj[key]
                break
        else:
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors and len(tensors) >= len(obj) / 2:
                obj = tensors  # e.g. a state dict plus a few metadata entries
            else:
                raise ValueError(f"{source}: no state dict found; top-level keys are "
                                 f"{sorted(map(str, obj))[:20]} (expected a mapping of tensors, "
                                 f"possibly under one of {', '.join(WRAPPER_KEYS)})")
        seen += 1
    return strip_prefixes(dict(obj))


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``module.`` / ``_orig_mod.`` prefixes present on every key.

    Parameters
    ----------
    state : dict of str to torch.Tensor

    Returns
    -------
    dict of str to torch.Tensor
    """
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a weights file safely (``weights_only=True``) and return its state dict.

    Parameters
    ----------
    path : str or PathLike
        A ``torch.save`` file of a state dict (possibly wrapped, see :func:`extract_state_dict`).

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; a file that is not a safely loadable state dict (e.g. a pickled module).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"cannot read weights file {path} with torch.load(weights_only=True): {exc}\n"
            "Save a state dict (torch.save(model.state_dict(), path)) - whole pickled modules "
            "are not loaded for safety; for a self-contained model use TorchScript "
            "('torchscript:PATH').") from exc
    return extract_state_dict(obj, source=path)


def _fmt(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor],
                           source: str = "weights") -> None:
    """``module.load_state_dict(state, strict=True)`` with a readable error.

    Parameters
    ----------
    module : nn.Module
    state : mapping of str to torch.Tensor
    source : str
        Name of the weights in error messages.

    Raises
    ------
    ValueError
        Listing missing keys, unexpected keys and shape mismatches.
    """
    expected = module.state_dict()
    state = dict(state)
    for key, value in expected.items():  # pre-0.4 checkpoints have no BN batch counters
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} (file {tuple(state[k].shape)} vs model {tuple(v.shape)})"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = [f"{source} does not match {type(module).__name__}:"]
        if missing:
            parts.append(f"  missing keys ({len(missing)}): {_fmt(missing)}")
        if unexpected:
            parts.append(f"  unexpected keys ({len(unexpected)}): {_fmt(unexpected)}")
        if shapes:
            parts.append(f"  shape mismatches ({len(shapes)}): {_fmt(shapes, 6)}")
        raise ValueError("\n".join(parts))
    module.load_state_dict(state, strict=True)


def state_dict_sha256(module_or_state: nn.Module | Mapping[str, torch.Tensor],
                      length: int = 16) -> str:
    """sha256 of a state dict's keys, dtypes, shapes and bytes (sorted by key).

    Parameters
    ----------
    module_or_state : nn.Module or mapping of str to torch.Tensor
    length : int
        Hex digits kept.

    Returns
    -------
    str
    """
    import hashlib

    state = (module_or_state.state_dict() if isinstance(module_or_state, nn.Module)
             else module_or_state)
    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:length]
