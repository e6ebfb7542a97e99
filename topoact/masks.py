"""Row and column indices of the set entries of a 2-D mask, faster than ``np.nonzero``.

``np.nonzero`` walks a 2-D mask element by element with a multi-index; the flat positions of
``np.flatnonzero`` split by ``divmod`` are the same indices in the same (row-major) order. On a
512 x 2,000 candidate mask with 0.5 % set: 0.46 ms against 4.5 ms. Used where thresholded
distance blocks are turned into pairs (Rips edge lists, the persistence certificate; the sweep's
band pass does the same inline, keeping the flat positions for a 1-D gather of the values).
"""
from __future__ import annotations

import numpy as np

__all__ = ["nonzero_2d"]


def nonzero_2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero(mask)`` of a 2-D boolean array: (rows, cols) int64 (intp) arrays."""
    if mask.ndim != 2:
        raise ValueError(f"nonzero_2d needs a 2-D mask, got {mask.ndim}-D")
    return np.divmod(np.flatnonzero(mask), mask.shape[1])
