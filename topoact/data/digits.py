"""sklearn's handwritten digits (1,797 images, bundled with scikit-learn: no download).

Each 8x8 image (ink values 0..16) is kept as light ink on a
dark background (value 16 -> 255), upsampled to 32x32 with bilinear interpolation and replicated
to 3 grey RGB channels. 10 classes ``"0"``..``"9"``. Attribute ``ink`` (linear): mean ink of the
8x8 original in [0, 1].
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from .base import ImageSet

__all__ = ["DigitsDataset"]

SIZE = 32


class DigitsDataset(ImageSet):
    """scikit-learn ``load_digits`` rendered as 32x32 RGB images."""

    def __init__(self):
        self.class_names = [str(d) for d in range(10)]

    @cached_property
    def _data(self):
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images.astype(np.float64) / 16.0, bunch.target.astype(np.int64)

    def __len__(self) -> int:
        return len(self._data[1])

    def __repr__(self) -> str:
        return "DigitsDataset()"

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "digits"}

    def load(self, index: int) -> Image.Image:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for digits (n={len(self)})")
        small = Image.fromarray((self._data[0][index] * 255.0 + 0.5).astype(np.uint8), mode="L")
        return small.resize((SIZE, SIZE), Image.BILINEAR).convert("RGB")

    def labels(self) -> np.ndarray:
        return self._data[1].copy()

    def item_id(self, index: int) -> str:
        return f"digits:{int(index)}"

    def attributes(self) -> dict[str, np.ndarray]:
        return {"ink": self._data[0].mean(axis=(1, 2))}

    def attribute_kinds(self) -> dict[str, str]:
        return {"ink": "linear"}
