"""The exceptions a user can meet, one per kind of mistake, each naming what to do."""
from __future__ import annotations

from typing import Iterable

from .fileio import DamagedFileError
from .progress import Cancelled

__all__ = ["UnknownLayerError", "DamagedRunError", "DamagedFileError", "Cancelled",
           "InvalidParameterError"]


class UnknownLayerError(KeyError, ValueError):
    """A layer name that the model or run does not have; the message lists the valid ones.

    It is both a ``KeyError`` (a name looked up in a run) and a ``ValueError`` (a bad argument),
    so code written against either keeps working.
    """

    def __init__(self, layer: str, valid: Iterable[str], where: str = "this run"):
        self.layer = layer
        self.valid = list(valid)
        shown = ", ".join(self.valid[:60]) + (" ..." if len(self.valid) > 60 else "")
        super().__init__(f"unknown layer {layer!r} in {where}; valid layers: {shown}")

    def __str__(self) -> str:          # KeyError would quote the whole message
        return str(self.args[0])


class DamagedRunError(RuntimeError):
    """A run directory is missing a file or holds inconsistent ones; the message says how to repair."""


class InvalidParameterError(ValueError):
    """A parameter outside its allowed range; the message states the range."""
