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
    """Bar lengths.

    Parameters
    ----------
    dgm : array-like of shape (k, 2)
    threshold : float, optional
        Infinite deaths count as ``threshold`` (else they stay ``inf``).

    Returns
    -------
    ndarray of shape (k,)
    """
    dgm = as_diagram(dgm)
    death = dgm[:, 1].copy()
    if threshold is not None:
        death[np.isinf(death)] = max(threshold, 0.0)
    return death - dgm[:, 0]


def significant_mask(dgm: ArrayLike, band: float | None) -> np.ndarray:
    """Which bars are significant.

    Parameters
    ----------
    dgm : array-like of shape (k, 2)
    band : float or None
        The bootstrap band 2c (None: only infinite bars count).

    Returns
    -------
    ndarray of bool, shape (k,)
        True for bars with persistence > band and for infinite bars.
    """
    dgm = as_diagram(dgm)
    if band is None:
        return np.isinf(dgm[:, 1])
    return np.isinf(dgm[:, 1]) | (dgm[:, 1] - dgm[:, 0] > band)


def barcode(dgm: ArrayLike, band: Optional[float] = None, dim: int = 0) -> list[dict]:
    """Bars sorted by decreasing persistence (infinite bars first).

    Parameters
    ----------
    dgm : array-like of shape (k, 2)
    band : float, optional
        The bootstrap band 2c of this dimension (see :func:`significant_mask`).
    dim : int
        Homology dimension written into each bar.

    Returns
    -------
    list of dict
        ``{dim, birth, death (None = inf), persistence, significant, index}``, ``index``
        being the row in the diagram.
    """
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
    """Scalar summaries of diagrams.

    Parameters
    ----------
    diagrams : list of array-like (k_d, 2)
        Indexed by dimension.
    band : float, list of (float or None), or None
        The bootstrap band 2c (one for all dimensions, or one per dimension).
    threshold : float, optional
        Death used for infinite bars in ``longest_h1``.

    Returns
    -------
    dict
        ``h<d>``: ``n_bars``, ``n_infinite``, ``n_significant``, ``total_persistence`` and
        ``max_persistence`` (finite bars); plus ``longest_h1`` (0 when there is no H1 bar).
    """
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
    """Persistence landscape vector (gudhi.representations.Landscape).

    Parameters
    ----------
    dgm : array-like of shape (k, 2)
    num_landscapes, resolution : int
        Landscapes kept and samples per landscape.
    sample_range : (float, float), optional
        Sampled interval (default: gudhi's, from the diagram).
    threshold : float, optional
        Infinite deaths are clipped here (else infinite bars are dropped).

    Returns
    -------
    ndarray of shape (num_landscapes * resolution,)
    """
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
    """Persistence image vector (gudhi.representations.PersistenceImage).

    Parameters
    ----------
    dgm : array-like of shape (k, 2)
    bandwidth : float, optional
        Gaussian width; default 1/20 of the largest finite death (scale-free across layers).
    resolution : (int, int)
        Pixels of the image.
    im_range : (float, float, float, float), optional
        Image extent (default: gudhi's, from the diagram).
    threshold : float, optional
        Infinite deaths are clipped here (else infinite bars are dropped).

    Returns
    -------
    ndarray of shape (prod(resolution),)
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
