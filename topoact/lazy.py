"""Lazy package exports: a package's public names are imported on first use (PEP 562).

Why: a package ``__init__`` that imports its submodules makes every ``import pkg.sub`` pay for
all of them. ``topoact.features`` pulled in torch (2 s) and ``topoact.topology`` scikit-learn
(2.6 s) for the command line's argument parser alone, before any command ran.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package : the package's ``__name__``
    exports : ``{public name: module that defines it}``; a name whose module is
        ``package.name`` is that submodule itself

    Returns
    -------
    (__getattr__, __dir__)
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        value = module if module.__name__ == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
