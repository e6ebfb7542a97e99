"""Parameter handling shared by lenses, covers and clusterers (scikit-learn conventions)."""
from __future__ import annotations


class Params:
    """``get_params`` from ``__init__`` attributes (learned ones end in ``_``, private ones start
    with ``_``), a name, a repr."""

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{self.name}({args})"
