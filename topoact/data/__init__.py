"""Image sets: ``open_dataset(spec)`` turns a data spec into an ``ImageSet``.

Accepted specs
--------------
``"shapes"`` / ``"shapes:N"``
    Built-in generated shapes and gratings (``ShapesDataset``; default N=2000; ``seed=`` kwarg).
``"digits"``
    scikit-learn handwritten digits as 32x32 RGB (``DigitsDataset``).
``"PATH"`` (an existing directory), ``"folder:PATH"`` or a ``pathlib.Path``
    ``ImageFolder`` of class sub-folders.
``dict``
    An ``ImageSet.spec`` (``{"kind": "shapes"|"digits"|"folder", ...}``) - round trip.
``ImageSet``
    Returned as is.
torchvision-style dataset object
    Anything with ``__len__`` and ``__getitem__`` returning ``(image, label)`` -> ``WrappedDataset``
    (``spec`` None).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .base import CorruptImageError, ImageSet
from .digits import DigitsDataset
from .folder import IMAGE_EXTENSIONS, ImageFolder
from .synthetic import ShapesDataset
from .wrap import WrappedDataset

__all__ = [
    "open_dataset", "ImageSet", "CorruptImageError", "ShapesDataset", "DigitsDataset",
    "ImageFolder", "WrappedDataset", "IMAGE_EXTENSIONS",
]

ACCEPTED = ("'shapes', 'shapes:N', 'digits', a directory path, 'folder:PATH', a spec dict "
            "{'kind': 'shapes'|'digits'|'folder', ...}, an ImageSet, or a torchvision-style "
            "dataset object (len() and ds[i] -> (image, label))")


def _from_dict(spec: dict[str, Any], kw: dict[str, Any]) -> ImageSet:
    kind = spec.get("kind")
    args = {k: v for k, v in spec.items() if k != "kind"}
    args.update(kw)
    if kind == "shapes":
        return ShapesDataset(**args)
    if kind == "digits":
        return DigitsDataset(**args)
    if kind == "folder":
        if "root" not in args:
            raise ValueError("folder data spec needs a 'root' entry")
        return ImageFolder(**args)
    raise ValueError(f"unknown data spec kind {kind!r} in {spec!r}; accepted: {ACCEPTED}")


def open_dataset(spec: Any, **kw: Any) -> ImageSet:
    """Open an image set from a spec (see the module docstring for the accepted forms).

    Parameters
    ----------
    spec : str, dict, os.PathLike, ImageSet or dataset object
    **kw
        Passed to the dataset class (e.g. ``seed=`` for shapes, ``extensions=`` for folders,
        ``class_names=`` for wrapped datasets).

    Examples
    --------
    >>> ds = open_dataset("shapes:100")
    >>> len(ds), ds.class_names[:2]
    (100, ['circle', 'square'])
    >>> open_dataset(ds.spec).spec == ds.spec
    True
    """
    if isinstance(spec, ImageSet):
        return spec
    if isinstance(spec, dict):
        return _from_dict(spec, kw)
    if isinstance(spec, os.PathLike):
        return ImageFolder(spec, **kw)
    if isinstance(spec, str):
        text = spec.strip()
        if text == "shapes":
            return ShapesDataset(**kw)
        if text.startswith("shapes:"):
            try:
                n = int(text.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"bad data spec {spec!r}: expected 'shapes:N' with an integer N"
                                 ) from None
            return ShapesDataset(n=n, **kw)
        if text == "digits":
            return DigitsDataset(**kw)
        if text.startswith("folder:"):
            return ImageFolder(text[len("folder:"):], **kw)
        if Path(text).expanduser().is_dir():
            return ImageFolder(text, **kw)
        raise ValueError(f"unknown data spec {spec!r} (not a built-in name and not an existing "
                         f"directory); accepted: {ACCEPTED}")
    if hasattr(spec, "__len__") and hasattr(spec, "__getitem__"):
        return WrappedDataset(spec, **kw)
    raise ValueError(f"unknown data spec of type {type(spec).__name__}; accepted: {ACCEPTED}")
