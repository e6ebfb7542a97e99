"""What an observer is asked to read: a per-image target built from a run's labels or attributes.

Three kinds, decided once here and used by probes and single-unit scores alike:

* ``categorical`` -- class labels and categorical attributes (integer codes). Probes classify.
* ``circular`` -- angles with a period (``run.attributes_meta[name]["period"]``, default 2 pi),
  e.g. the built-in gratings' orientation (period pi). A probe regresses ``(cos, sin)`` of
  ``2 pi value / period`` and its prediction is the angle of the predicted vector.
* ``linear`` -- continuous values. Probes classify them into ``n_bins`` equal-count bins
  (quantiles), so every target reports an accuracy with a chance level; single-unit scores use the
  raw values (rank correlation).

Rows where the target is NaN (an attribute that does not apply to that image, e.g. the
orientation of a circle) are left out.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["Target", "make_target", "available_targets"]

KINDS = ("categorical", "circular", "linear")


@dataclasses.dataclass(frozen=True)
class Target:
    """A probe target: ``values`` (n,) on the rows ``rows`` (n,) of the run.

    Attributes
    ----------
    name : "label" or the attribute name
    kind : "categorical" | "circular" | "linear"
    rows : (n,) int64 run rows where the target is defined
    values : (n,) float64 raw values (class codes, angles or numbers)
    period : the period of a circular target (else None)
    class_names : names of the class codes for categorical targets (may be empty; the run's
        ``label_names`` for class labels)
    """

    name: str
    kind: str
    rows: np.ndarray
    values: np.ndarray
    period: float | None = None
    class_names: tuple = ()

    def angles(self) -> np.ndarray:
        """(n,) values mapped to radians in [0, 2 pi) (circular targets)."""
        return np.mod(2 * np.pi * self.values / float(self.period), 2 * np.pi)

    def classes(self, n_bins: int = 4) -> np.ndarray:
        """(n,) int64 class codes: categorical codes, or quantile bins of a linear target."""
        if self.kind == "categorical":
            return self.values.astype(np.int64)
        if self.kind == "linear":
            edges = np.quantile(self.values, np.linspace(0, 1, n_bins + 1)[1:-1])
            return np.searchsorted(edges, self.values, side="right").astype(np.int64)
        raise ValueError("a circular target has no classes; use angles()")


def available_targets(run) -> list[str]:
    """``["label", <attribute names>...]`` of a run."""
    names = ["label"] if np.asarray(run.labels).size and (np.asarray(run.labels) >= 0).any() else []
    return names + sorted(getattr(run, "attributes", {}) or {})


def _kind_of(run, name: str, values: np.ndarray) -> str:
    kind = (getattr(run, "attribute_kinds", {}) or {}).get(name)
    if kind in KINDS:
        return kind
    finite = values[np.isfinite(values)]
    integral = finite.size and np.all(finite == np.round(finite))
    return "categorical" if integral and np.unique(finite).size <= 20 else "linear"


def make_target(run, name: str = "label") -> Target:
    """The :class:`Target` called ``name`` in ``run`` (``"label"`` = class labels).

    Raises
    ------
    InvalidParameterError
        When the run has no such attribute (the message lists the valid targets) or when fewer
        than two values / classes are present.
    """
    if name in ("label", "labels", "class"):
        labels = np.asarray(run.labels, dtype=np.float64)
        rows = np.flatnonzero(labels >= 0)
        target = Target("label", "categorical", rows, labels[rows],
                        class_names=tuple(run.label_names))
    else:
        attributes = getattr(run, "attributes", {}) or {}
        if name not in attributes:
            raise InvalidParameterError(f"unknown target {name!r}; this run has: "
                                        f"{', '.join(available_targets(run)) or 'no targets'}")
        raw = np.asarray(attributes[name])
        if raw.dtype.kind not in "biuf":
            raise InvalidParameterError(f"attribute {name!r} is not numeric ({raw.dtype}); "
                                        "store categories as integer codes")
        values = raw.astype(np.float64)
        kind = _kind_of(run, name, values)
        rows = np.flatnonzero(np.isfinite(values))
        meta = (getattr(run, "attributes_meta", {}) or {}).get(name, {}) or {}
        period = float(meta.get("period", 2 * math.pi)) if kind == "circular" else None
        names = tuple(meta.get("categories", ())) if kind == "categorical" else ()
        target = Target(name, kind, rows, values[rows], period=period, class_names=names)
    distinct = np.unique(target.values).size
    if target.rows.size < 4 or distinct < 2:
        raise InvalidParameterError(f"target {name!r} has {target.rows.size} defined rows and "
                                    f"{distinct} distinct value(s); a probe needs at least 2")
    return target
