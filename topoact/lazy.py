"""Lazy package exports: a package's public names are imported on first use (PEP 562).

Why: a package ``__init__`` that imports its submodules makes every ``import pkg.sub`` pay for
all of them. ``topoact.features`` pulled in torch (2 s) and ``topoact.topology`` scikit-learn
(2.6 s) for the command line's argument parser alone, before any command ran.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names_by_module: Mapping[str, Sequence[str]], submodules: Sequence[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list], list]:
    """Module-level ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package : the package's ``__name__``
    names_by_module : ``{submodule (relative, e.g. 'models.base'): public names it defines}``
    submodules : submodules that are public names themselves

    Returns
    -------
    (__getattr__, __dir__, __all__)
    """
    namespace = importlib.import_module(package).__dict__
    where = {name: module for module, names in names_by_module.items() for name in names}
    where.update({name: name for name in submodules})

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{where[name]}")
        value = module if name in submodules else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__, sorted(where)
