"""Parameter handling shared by lenses, covers, clusterers and ``Mapper``: scikit-learn's protocol.

Every step derives from :class:`Params`, which implements scikit-learn's estimator protocol the
way ``sklearn.base.BaseEstimator`` does: ``__init__`` only stores its arguments, the parameter
names come from the ``__init__`` signature, ``get_params(deep=True)`` adds nested
``lens__k``-style names, ``set_params`` accepts them, and ``sklearn.base.clone`` works (it
needs only ``get_params``; tested on every step and on ``Mapper``). Validation happens in
``fit`` / ``prepare``; learned attributes end in ``_``.

Why not inherit ``BaseEstimator`` itself: importing ``sklearn.base`` loads scikit-learn's core
(measured on this 2-core machine: ``import topoact.mapper`` went from 2.3 s / 70 MB peak RSS to
7.5-10.9 s / 160 MB under load), and the Mapper fit with a given eps, the CLI start-up and the
benchmark's fit rows never need scikit-learn otherwise. scikit-learn is imported only where it
does work (k-nearest neighbours for the automatic eps and the KNN lens, wrapped clusterers).
"""
from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any

import numpy as np

__all__ = ["Params", "resolve_seed"]


class Params:
    """scikit-learn estimator protocol (``get_params`` / ``set_params`` / clone-able) and a name."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        return sorted(p.name for p in params if p.name != "self"
                      and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this step; with ``deep``, also those of nested steps as ``name__param``."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params(deep=True).items())
            out[key] = value
        return out

    def set_params(self, **params: Any) -> "Params":
        """Set parameters, nested ones as ``name__param`` (as scikit-learn). Returns self."""
        valid = self.get_params(deep=True)
        nested: dict[str, dict] = defaultdict(dict)
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if name not in self._get_param_names():
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid "
                                 f"parameters: {', '.join(self._get_param_names())}")
            if delim:
                nested[name][sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    @property
    def name(self) -> str:
        """The class name, used in the graph JSON's ``params``."""
        return type(self).__name__

    def __repr__(self) -> str:
        def short(v: Any) -> str:
            if isinstance(v, np.ndarray):
                return f"<array {v.shape} {v.dtype}>"
            return repr(v)
        args = ", ".join(f"{k}={short(v)}" for k, v in self.get_params(deep=False).items())
        return f"{self.name}({args})"


def resolve_seed(seed: int | None, random_state: int | None, owner: str) -> int | None:
    """``seed``, or the deprecated ``random_state`` when that one was given (with a warning)."""
    if random_state is not None:
        import warnings

        warnings.warn(f"{owner}: 'random_state' is deprecated, use 'seed'", DeprecationWarning,
                      stacklevel=3)
        return random_state
    return seed
