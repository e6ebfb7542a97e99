"""Outliers (out-of-distribution images): how far an image lies from the rest of the run.

Scores per layer, each turned into a percentile rank in [0, 1] (higher = more unusual):

- deep k-NN (Sun et al. 2022): cosine distance to the k-th nearest other image (centred, unit
  vectors, :mod:`.neighbors`);
- class-conditional Mahalanobis (Lee et al. 2018): the smallest Mahalanobis distance to a class
  mean, with one shared (tied, slightly shrunk) covariance fitted on the run with its given labels;
- max-softmax (Hendrycks & Gimpel 2017): ``1 - max p`` from the stored probabilities;
- energy (Liu et al. 2020): ``-logsumexp(logits)``. Energy needs *logits*: the stored
  probabilities only give ``log p = logits - logsumexp(logits)``, i.e. the logits up to a per-row
  constant, and that constant is exactly the energy (``logsumexp(log p) = 0`` for every row).
  So energy is computed from a stored layer that holds the logits (a layer of width C whose
  argmax reproduces the stored predictions, e.g. ``linear`` / ``fc``) and is left out (NaN, with
  a logged note) when the run has none.

``combined`` (default) = percentile rank of the *larger* of two robust z-scores (median / MAD):
the Mahalanobis z (mean over all chosen layers, early layers included, of the z-score of the log
Mahalanobis distance) and the energy z (max-softmax when the run stores no logits). z-scores,
not ranks, so that an image far beyond everything keeps its lead over the mere tail of the other
score. The two catch different things: images
unlike the data in their low-level statistics (Mahalanobis in early layers: drawn shapes, photo
tiles) and images the classifier does not recognise as any class (energy: digits).

Measured (``benchmarks/anomalies.py``, 5,000 CIFAR-10 test images + 200 images of each
source, all mixed into one run, ResNet-20; AUROC shapes / digits / photo tiles):

============================================  =====================
score                                         AUROC
============================================  =====================
energy (linear-layer logits)                  0.707 / 0.983 / 0.891
max-softmax                                   0.729 / 0.799 / 0.821
deep k-NN layer3 (k=10)                       0.771 / 0.000 / 0.278
Mahalanobis layer3                            0.876 / 0.052 / 0.597
mean rank of k-NN and Mahalanobis, layers 1-3 0.889 / 0.078 / 0.529
Mahalanobis layer1 alone                      0.987 / 0.896 / 0.968
mean rank (energy, Mahalanobis layers 1-3)    0.944 / 0.932 / 0.973
max rank (energy, Mahalanobis layers 1-3)     0.978 / 0.965 / 0.973
max z (energy, log Mahalanobis 1-3) DEFAULT   0.986 / 0.954 / 0.970
  same, ResNet-32 (energy 0.599 / 0.998 / 0.894)  0.980 / 0.989 / 0.948
============================================  =====================

(ranks lost the magnitude: a white image in a run of colour classes tied with the top-energy
image; the z-scores keep it first.) It beats max-softmax on every source and the best single
baseline on shapes and photo tiles, but not energy on digits (0.954 vs 0.983, 0.989 vs 0.998).
Adding "in a small isolated Mapper component" as evidence changed AUROC by at most -0.002, so it
is a reason string only.

Deep k-NN fails here because the foreign images arrive in groups: 200 digits are each other's
nearest neighbours, so their k-NN distance is *small* (AUROC 0.0). It stays in the table
(``outlier_knn``) but not in the default score. The OOD images are in the run itself
(contaminated data, which is what a user's data set looks like), not a held-out test set.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

__all__ = ["rank01", "knn_distance", "mahalanobis_distance", "max_softmax", "energy",
           "find_logits_layer", "combine_ranks", "combine_max_z", "robust_z"]

log = logging.getLogger(__name__)


def rank01(values: np.ndarray) -> np.ndarray:
    """Percentile ranks in [0, 1] (ties share their mean rank); NaN stays NaN.

    Parameters
    ----------
    values : (N,) float

    Returns
    -------
    (N,) float64: 0 for the smallest value, 1 for the largest
    """
    values = np.asarray(values, np.float64)
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    m = int(ok.sum())
    if m == 1:
        out[ok] = 0.0
    elif m > 1:
        out[ok] = (rankdata(values[ok]) - 1.0) / (m - 1.0)
    return out


def knn_distance(similarity: np.ndarray) -> np.ndarray:
    """Cosine distance to the k-th neighbour: (N, k) similarities -> (N,) in [0, 2]."""
    return 1.0 - similarity[:, -1].astype(np.float64)


def mahalanobis_distance(X: np.ndarray, labels: np.ndarray, *, shrinkage: float = 1e-3,
                         chunk: int = 65536) -> np.ndarray:
    """Smallest squared Mahalanobis distance to a class mean (tied covariance).

    Parameters
    ----------
    X : (N, D) activations
    labels : (N,) int class of each row (classes with no row are ignored)
    shrinkage : ridge added to the covariance, as a fraction of its mean variance

    Returns
    -------
    (N,) float64 >= 0
    """
    n, d = X.shape
    classes = np.unique(labels)
    means = np.zeros((len(classes), d), np.float64)
    cov = np.zeros((d, d), np.float64)
    for start in range(0, n, chunk):
        block = np.asarray(X[start:start + chunk], np.float64)
        lab = labels[start:start + chunk]
        for j, c in enumerate(classes):
            means[j] += block[lab == c].sum(axis=0)
    means /= np.bincount(np.searchsorted(classes, labels), minlength=len(classes))[:, None]
    for start in range(0, n, chunk):
        block = np.asarray(X[start:start + chunk], np.float64)
        centred = block - means[np.searchsorted(classes, labels[start:start + chunk])]
        cov += centred.T @ centred
    cov /= max(n - len(classes), 1)
    cov += np.eye(d) * (shrinkage * np.trace(cov) / d + 1e-12)
    evals, evecs = np.linalg.eigh(cov)
    whiten = evecs / np.sqrt(np.maximum(evals, 1e-12))
    Wm = means @ whiten
    out = np.empty(n, np.float64)
    for start in range(0, n, chunk):
        Z = np.asarray(X[start:start + chunk], np.float64) @ whiten
        d2 = (Z ** 2).sum(1)[:, None] - 2 * Z @ Wm.T + (Wm ** 2).sum(1)[None, :]
        out[start:start + chunk] = np.maximum(d2.min(axis=1), 0.0)
    return out


def max_softmax(probabilities: np.ndarray) -> np.ndarray:
    """``1 - max p``: (N, C) -> (N,) in [0, 1]."""
    return 1.0 - np.asarray(probabilities, np.float64).max(axis=1)


def energy(logits: np.ndarray) -> np.ndarray:
    """Energy ``-logsumexp(logits)`` (higher = more unusual): (N, C) -> (N,)."""
    z = np.asarray(logits, np.float64)
    top = z.max(axis=1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(z - top).sum(axis=1)))


def find_logits_layer(layer_arrays: dict[str, np.ndarray], predictions: np.ndarray,
                      n_classes: int) -> str | None:
    """The stored layer holding the logits, or None.

    A layer qualifies when its width is C and its argmax equals the stored predictions on at
    least 99 % of rows.
    """
    for name, X in layer_arrays.items():
        if X.ndim == 2 and X.shape[1] == n_classes and len(X):
            agree = float((np.asarray(X).argmax(axis=1) == predictions).mean())
            if agree >= 0.99:
                return name
    return None


def robust_z(values: np.ndarray) -> np.ndarray:
    """``(x - median) / (1.4826 MAD)`` of (N,) values (MAD of 0 -> scale 1); NaN stays NaN."""
    x = np.asarray(values, np.float64)
    median = np.nanmedian(x)
    mad = 1.4826 * np.nanmedian(np.abs(x - median))
    return (x - median) / (mad if mad > 0 else 1.0)


def combine_max_z(mahalanobis: Sequence[np.ndarray], logit_score: np.ndarray) -> np.ndarray:
    """The default outlier score: rank in [0, 1] of ``max(mean_l z(log maha_l), z(logit_score))``.

    Parameters
    ----------
    mahalanobis : per-layer (N,) squared Mahalanobis distances
    logit_score : (N,) energy (or max-softmax)
    """
    parts = []
    if len(mahalanobis):
        parts.append(np.mean([robust_z(np.log(np.asarray(m, np.float64) + 1e-12)) for m in mahalanobis], axis=0))
    if np.isfinite(logit_score).any():
        parts.append(robust_z(logit_score))
    return rank01(np.nanmax(np.vstack(parts), axis=0))


def combine_ranks(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Percentile rank of the mean of the percentile ranks of ``scores`` (each (N,))."""
    ranks = np.vstack([rank01(s) for s in scores])
    return rank01(np.nanmean(ranks, axis=0))
