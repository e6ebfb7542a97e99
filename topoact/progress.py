"""One progress / cancel protocol for every engine (collection, Mapper, topology, features,
observers, anomalies) and for the app's background jobs.

- ``progress(done, total, message="")``: ``done`` of ``total`` units of work are finished
  (floats allowed; ``total`` > 0). Engines call it between steps; a caller that wants a fraction
  divides. ``None`` means nobody listens.
- ``should_cancel() -> bool``: polled between steps; when it answers True the engine raises
  :class:`Cancelled`, leaving no partial result behind (caches are written only on success).

``Stage`` maps a sub-step's own ``(done, total)`` onto a slice of a larger job, so a pipeline of
steps reports one monotone bar without each step knowing where it sits.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol

__all__ = ["Cancelled", "ProgressFn", "CancelFn", "report", "check_cancelled", "Stage"]


class Cancelled(RuntimeError):
    """Raised by an engine when its ``should_cancel()`` callback answered True."""


class ProgressFn(Protocol):
    def __call__(self, done: float, total: float, message: str = "") -> None: ...


CancelFn = Callable[[], bool]


def report(progress: Optional[ProgressFn], done: float, total: float, message: str = "") -> None:
    """Call ``progress`` when there is one (``total`` of 0 is reported as 1 to avoid 0/0)."""
    if progress is not None:
        progress(float(done), float(total) if total else 1.0, message)


def check_cancelled(should_cancel: Optional[CancelFn], what: str = "computation") -> None:
    """Raise :class:`Cancelled` when ``should_cancel()`` answers True."""
    if should_cancel is not None and should_cancel():
        raise Cancelled(f"{what} cancelled")


class Stage:
    """A slice ``[start, stop]`` (fractions of the whole job) of a parent progress callback.

    Examples
    --------
    >>> seen = []
    >>> stage = Stage(lambda d, t, m="": seen.append((d, t, m)), 0.5, 1.0, "bootstrap")
    >>> stage(1, 4)
    >>> seen
    [(0.625, 1.0, 'bootstrap')]
    """

    def __init__(self, parent: Optional[ProgressFn], start: float, stop: float, label: str = ""):
        self.parent, self.start, self.stop, self.label = parent, float(start), float(stop), label

    def __call__(self, done: float, total: float, message: str = "") -> None:
        if self.parent is None:
            return
        fraction = min(max(float(done) / float(total or 1.0), 0.0), 1.0)
        self.parent(self.start + (self.stop - self.start) * fraction, 1.0, message or self.label)
