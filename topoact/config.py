"""Frozen, typed parameter objects with a stable hash: one configuration language for all engines.

Each engine declares its parameters once as a frozen dataclass deriving from :class:`Config`;
the Python API, the CLI, the app and the result caches all use that object:

- validation happens once, in ``__post_init__`` (``_validate``), with messages that state the
  allowed range (:class:`~topoact.errors.InvalidParameterError`);
- ``to_dict()`` / ``from_dict()`` give the JSON form stored with every result;
- ``key`` is ``stable_hash`` of the JSON form plus the class name: equal parameters, equal key,
  whatever process computed it.

Renamed options keep a deprecation alias for one release through ``_aliases`` (old name -> new
name), accepted by ``from_dict`` with a ``DeprecationWarning``.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, ClassVar, Mapping, TypeVar

from .errors import InvalidParameterError
from .hashing import stable_hash

__all__ = ["Config", "check_range", "check_choice"]

C = TypeVar("C", bound="Config")


def check_range(name: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> Any:
    """Return ``value`` as int/float when it lies in the stated range, else raise with the range.

    Examples
    --------
    >>> check_range("overlap", 0.3, 0, 1, lo_open=True, hi_open=True)
    0.3
    """
    try:
        number = int(value) if integer and not isinstance(value, bool) else float(value)
        if integer and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise InvalidParameterError(f"{name} must be {kind}, got {value!r}") from None
    if not integer and not math.isfinite(number):
        raise InvalidParameterError(f"{name} must be finite, got {value!r}")
    low_ok = lo is None or (number > lo if lo_open else number >= lo)
    high_ok = hi is None or (number < hi if hi_open else number <= hi)
    if not (low_ok and high_ok):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise InvalidParameterError(f"{name} must be in {left}{lo_s}, {hi_s}{right}, got {value!r}")
    return number


def check_choice(name: str, value: Any, choices) -> Any:
    """Return ``value`` when it is one of ``choices``, else raise listing them."""
    if value not in choices:
        raise InvalidParameterError(f"unknown {name} {value!r}; choose from {', '.join(map(str, choices))}")
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every engine's parameter object (see module docstring)."""

    _aliases: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        """Check ranges; subclasses override (use ``object.__setattr__`` to normalise values)."""

    def to_dict(self) -> dict:
        """JSON-able dict of the fields (nested configs become dicts)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Config):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any] | None = None, **overrides) -> C:
        """Build from a dict (unknown keys are an error naming the valid ones)."""
        data = {**dict(data or {}), **overrides}
        names = {f.name for f in dataclasses.fields(cls)}
        for old, new in cls._aliases.items():
            if old in data:
                warnings.warn(f"{cls.__name__}: {old!r} is deprecated, use {new!r}",
                              DeprecationWarning, stacklevel=2)
                data.setdefault(new, data.pop(old))
                data.pop(old, None)
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidParameterError(f"unknown {cls.__name__} parameter(s) {unknown}; "
                                        f"valid: {sorted(names)}")
        return cls(**data)

    def replace(self: C, **changes) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def key(self) -> str:
        """Stable hash of the class name and the JSON form."""
        return stable_hash({"config": type(self).__name__, **self.to_dict()})
