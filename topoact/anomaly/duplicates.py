"""Duplicates: near-duplicates by late-layer cosine similarity, exact copies by pixel hash.

Two images are near-duplicates when the cosine similarity of their centred activation vectors in
the late layer is at least ``duplicate_similarity`` (default 0.995); near-duplicate pairs are
joined into groups (connected components). Exact copies have the same pixels, hence the same
activations: every exact copy is therefore already a near-duplicate candidate, and only those
candidates' images are loaded and hashed (SHA-256 of the RGB pixels) — a 100,000-image run is
not re-read to find a handful of copies.

The ``duplicate`` score is the similarity to the nearest other image clipped to [0, 1] (1 for
an exact copy); ``duplicate_of`` names the smallest other row of the image's group.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Optional

import numpy as np

from ..components import connected_components

__all__ = ["pixel_hash", "duplicate_groups"]


def pixel_hash(image) -> str:
    """SHA-256 of an image's RGB pixels and size (PIL image or (H, W, 3) array)."""
    array = np.ascontiguousarray(np.asarray(image.convert("RGB") if hasattr(image, "convert") else image,
                                            dtype=np.uint8))
    digest = hashlib.sha256(str(array.shape).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def duplicate_groups(similarity: np.ndarray, index: np.ndarray, *, threshold: float = 0.995,
                     image: Optional[Callable[[int], object]] = None) -> dict:
    """Group near-duplicates and mark exact copies.

    Parameters
    ----------
    similarity, index : (N, k) neighbour similarities (descending) and rows (:func:`.neighbors.knn`)
    threshold : cosine similarity from which a pair is a near-duplicate
    image : ``row -> PIL image``; when given, candidates are hashed to find exact copies

    Returns
    -------
    dict with ``score`` (N,) float in [0, 1], ``duplicate_of`` (N,) int64 (-1 = none),
    ``group`` (N,) int64 (smallest row of the group, -1 = none), ``exact`` (N,) bool
    """
    n = len(similarity)
    score = np.clip(similarity[:, 0].astype(np.float64), 0.0, 1.0)
    close = similarity >= threshold
    rows = np.repeat(np.arange(n), similarity.shape[1])[close.ravel()]
    cols = index.ravel()[close.ravel()]
    group = np.full(n, -1, np.int64)
    duplicate_of = np.full(n, -1, np.int64)
    exact = np.zeros(n, bool)
    if len(rows):
        comp = connected_components(n, rows, cols)
        members = np.unique(np.concatenate([rows, cols]))
        first = {}
        second = {}
        for row in members:  # members are sorted: first/second smallest row per component
            c = comp[row]
            if c not in first:
                first[c] = row
            elif c not in second:
                second[c] = row
        for row in members:
            c = comp[row]
            group[row] = first[c]
            duplicate_of[row] = first[c] if row != first[c] else second[c]
        if image is not None:
            copies: dict[tuple, list[int]] = {}
            for row in members:
                copies.setdefault((int(comp[row]), pixel_hash(image(int(row)))), []).append(int(row))
            for same in copies.values():
                if len(same) > 1:
                    for row in same:
                        exact[row] = True
                        score[row] = 1.0
                        duplicate_of[row] = min(other for other in same if other != row)
    return {"score": score, "duplicate_of": duplicate_of, "group": group, "exact": exact}
