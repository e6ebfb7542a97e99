"""Wrap a torchvision-style dataset object (``len(ds)``, ``ds[i] -> (image, label)``).

Choices:

* ``image`` may be a PIL image, a (C, H, W) torch tensor (float in [0, 1] or uint8; 1 or 3
  channels) or an (H, W[, C]) numpy array; it is converted to 8-bit RGB. A normalising
  ``transform`` on the dataset makes pixel values meaningless: pass the dataset without one.
* ``labels()`` uses ``ds.targets`` (or ``ds.labels``) when present, also through
  ``torch.utils.data.Subset``; otherwise it loads every item once (cached). Labels that are not
  integers become -1.
* ``class_names``: ``ds.classes`` if present, else ``class_0 .. class_{max label}``.
* ``spec`` is None (an in-memory object cannot be reopened; the run store keeps thumbnails);
  ``item_id(i)`` is ``str(i)``. Any exception while reading an item becomes ``CorruptImageError``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .base import CorruptImageError, ImageSet

__all__ = ["WrappedDataset", "to_pil_rgb"]


def to_pil_rgb(image: Any) -> Image.Image:
    """PIL image, (C, H, W) tensor or (H, W[, C]) array -> 8-bit RGB PIL image.

    Parameters
    ----------
    image : PIL image, torch.Tensor of shape (C, H, W) or ndarray of shape (H, W[, C])
        Floats in [0, 1] (or 0..255) or uint8; 1, 3 or 4 channels.

    Returns
    -------
    PIL.Image.Image
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    try:
        import torch

        if isinstance(image, torch.Tensor):
            arr = image.detach().cpu()
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
                arr = arr.permute(1, 2, 0)
            image = arr.numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise TypeError(f"cannot interpret an array of shape {arr.shape} as an image")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        if arr.max(initial=0.0) > 1.0 + 1e-6:  # 0..255 floats
            arr = arr / 255.0
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def _targets(ds: Any) -> Any:
    for name in ("targets", "labels"):
        value = getattr(ds, name, None)
        if value is not None and not callable(value):
            return value
    inner, indices = getattr(ds, "dataset", None), getattr(ds, "indices", None)
    if inner is not None and indices is not None:
        value = _targets(inner)
        if value is not None:
            return np.asarray(value)[np.asarray(indices)]
    return None


class WrappedDataset(ImageSet):
    """An ``ImageSet`` view of a torchvision-style dataset object."""

    def __init__(self, dataset: Any, class_names: list[str] | None = None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"{type(dataset).__name__} has no __len__/__getitem__")
        self.dataset = dataset
        self._labels: np.ndarray | None = None
        names = class_names if class_names is not None else getattr(dataset, "classes", None)
        self._names = list(names) if names is not None else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"WrappedDataset({type(self.dataset).__name__}, n={len(self)})"

    def _item(self, index: int):
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {self!r}")
        try:
            item = self.dataset[index]
        except Exception as exc:
            raise CorruptImageError(f"item {index}: {type(exc).__name__}: {exc}") from exc
        if isinstance(item, (tuple, list)) and len(item) >= 2:
            return item[0], item[1]
        return item, -1

    def load(self, index: int) -> Image.Image:
        image, _ = self._item(index)
        try:
            return to_pil_rgb(image)
        except Exception as exc:
            raise CorruptImageError(f"item {index}: {exc}") from exc

    def labels(self) -> np.ndarray:
        if self._labels is None:
            raw = _targets(self.dataset)
            if raw is None:
                raw = [self._item(i)[1] for i in range(len(self))]
            out = np.full(len(self), -1, dtype=np.int64)
            for i, value in enumerate(np.asarray(raw, dtype=object).reshape(-1)[: len(self)]):
                try:
                    out[i] = int(value)
                except (TypeError, ValueError):
                    pass
            self._labels = out
        return self._labels.copy()

    @property
    def class_names(self) -> list[str]:  # type: ignore[override]
        if self._names is None:
            top = int(self.labels().max(initial=-1))
            self._names = [f"class_{i}" for i in range(top + 1)]
        return self._names
