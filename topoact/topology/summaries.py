"""Diagram summaries: JSON-able diagrams and barcodes, scalar summaries, vectorisations.

Conventions
-----------
A diagram is a float array of shape (k, 2) of (birth, death); ``inf`` deaths are bars that never
die (the one H0 component) or are truncated at the computation threshold. Persistence of an
infinite bar is taken as ``threshold - birth`` (a lower bound) where a finite number is needed;
vectorisations clip infinite deaths at ``threshold``. In JSON, ``inf`` is written as ``null``.

Significance: a bar is significant when its persistence exceeds ``2 c`` (the bootstrap band,
:mod:`.bootstrap`); infinite bars are always significant. So "two blobs" gives two significant H0
bars: the infinite one plus one finite bar (the merge of the blobs).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike


def as_diagram(dgm: ArrayLike) -> np.ndarray:
    """Coerce to float64 (k, 2); ``None`` in JSON becomes ``inf``."""
    if dgm is None or len(dgm) == 0:
        return np.zeros((0, 2))
    a = np.array([[np.inf if v is None else v for v in row] for row in dgm], dtype=np.float64)
    return a.reshape(-1, 2)


def diagram_to_json(dgm: ArrayLike) -> list:
    """JSON form of a diagram (k, 2): ``[[birth, death], ...]`` with ``None`` for ``inf``."""
    return [[float(b), None if not np.isfinite(d) else float(d)] for b, d in as_diagram(dgm)]


def persistence(dgm: ArrayLike, threshold: float | None = None) -> np.ndarray:
    """Bar lengths (k,); infinite deaths count as ``threshold`` when given (else ``inf``)."""
    dgm = as_diagram(dgm)
    death = dgm[:, 1].copy()
    if threshold is not None:
        death[np.isinf(death)] = max(threshold, 0.0)
    return death - dgm[:, 0]


def significant_mask(dgm: ArrayLike, band: float | None) -> np.ndarray:
    """True for bars with persistence > band (band = 2c) and for infinite bars."""
    dgm = as_diagram(dgm)
    if band is None:
        return np.isinf(dgm[:, 1])
    return np.isinf(dgm[:, 1]) | (dgm[:, 1] - dgm[:, 0] > band)


def barcode(dgm: ArrayLike, band: Optional[float] = None, dim: int = 0) -> list[dict]:
    """Bars sorted by decreasing persistence: [{dim, birth, death (None=inf), persistence,
    significant, index}] where ``index`` is the row in the diagram."""
    dgm = as_diagram(dgm)
    sig = significant_mask(dgm, band)
    pers = dgm[:, 1] - dgm[:, 0]
    out = []
    for k in np.argsort(-pers, kind="stable"):
        b, d = dgm[k]
        out.append({"dim": dim, "birth": float(b), "death": None if np.isinf(d) else float(d),
                    "persistence": None if np.isinf(d) else float(d - b),
                    "significant": bool(sig[k]), "index": int(k)})
    return out


def scalar_summaries(diagrams: Sequence[ArrayLike],
                     band: Union[None, float, Sequence[Optional[float]]] = None,
                     threshold: Optional[float] = None) -> dict:
    """Per dimension: number of bars, significant bars, total and max finite persistence,
    infinite bars; plus ``longest_h1`` (the longest H1 bar's persistence, or 0)."""
    out = {}
    for dim, dgm in enumerate(diagrams):
        dgm = as_diagram(dgm)
        fin = np.isfinite(dgm[:, 1])
        p = dgm[fin, 1] - dgm[fin, 0]
        band_d = band[dim] if isinstance(band, (list, tuple)) else band
        out[f"h{dim}"] = {
            "n_bars": int(len(dgm)),
            "n_infinite": int((~fin).sum()),
            "n_significant": int(significant_mask(dgm, band_d).sum()),
            "total_persistence": float(p.sum()),
            "max_persistence": float(p.max()) if len(p) else 0.0,
        }
    if len(diagrams) > 1:
        p1 = persistence(diagrams[1], threshold)
        out["longest_h1"] = float(p1.max()) if len(p1) else 0.0
    return out


def _finite(dgm, threshold):
    dgm = as_diagram(dgm).copy()
    if threshold is None:
        return dgm[np.isfinite(dgm[:, 1])]
    dgm[np.isinf(dgm[:, 1]), 1] = threshold
    return dgm


def landscape(dgm: ArrayLike, *, num_landscapes: int = 5, resolution: int = 100,
              sample_range: Optional[Sequence[float]] = None,
              threshold: Optional[float] = None) -> np.ndarray:
    """gudhi.representations.Landscape vector of shape (num_landscapes * resolution,)."""
    from gudhi.representations import Landscape
    d = _finite(dgm, threshold)
    if len(d) == 0:
        return np.zeros(num_landscapes * resolution)
    kw = {} if sample_range is None else {"sample_range": list(sample_range)}
    return Landscape(num_landscapes=num_landscapes, resolution=resolution, **kw).fit_transform([d])[0]


def persistence_image(dgm: ArrayLike, *, bandwidth: Optional[float] = None,
                      resolution: tuple[int, int] = (20, 20),
                      im_range: Optional[Sequence[float]] = None,
                      threshold: Optional[float] = None) -> np.ndarray:
    """gudhi.representations.PersistenceImage vector of shape (prod(resolution),).

    ``bandwidth`` defaults to 1/20 of the largest finite death (scale-free across layers).
    """
    from gudhi.representations import PersistenceImage
    d = _finite(dgm, threshold)
    if len(d) == 0:
        return np.zeros(int(np.prod(resolution)))
    if bandwidth is None:
        bandwidth = max(float(d[:, 1].max()) / 20, 1e-12)
    kw = {} if im_range is None else {"im_range": list(im_range)}
    return PersistenceImage(bandwidth=bandwidth, resolution=list(resolution),
                            **kw).fit_transform([d])[0]
