"""Parameter handling shared by lenses, covers, clusterers and ``Mapper``: scikit-learn's own.

Every step derives from :class:`Params`, a :class:`sklearn.base.BaseEstimator`: ``__init__``
only stores its arguments, so ``get_params(deep=True)`` (nested ``lens__k`` names),
``set_params`` (nested too), ``sklearn.base.clone`` and the repr come from scikit-learn.
Validation happens in ``fit`` / ``prepare``; learned attributes end in ``_``.
"""
from __future__ import annotations

from sklearn.base import BaseEstimator

__all__ = ["Params", "resolve_seed"]


class Params(BaseEstimator):
    """scikit-learn estimator base with a short ``name`` (the class name)."""

    @property
    def name(self) -> str:
        """The class name, used in the graph JSON's ``params``."""
        return type(self).__name__


def resolve_seed(seed: int | None, random_state: int | None, owner: str) -> int | None:
    """``seed``, or the deprecated ``random_state`` when that one was given (with a warning)."""
    if random_state is not None:
        import warnings

        warnings.warn(f"{owner}: 'random_state' is deprecated, use 'seed'", DeprecationWarning,
                      stacklevel=3)
        return random_state
    return seed
