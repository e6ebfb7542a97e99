"""A 2-D embedding of many rows from an embedding of a sample of them (landmarks).

UMAP does not scale to a million activation vectors on a small machine: on this project's
2-core machine umap-learn fitted 50,000 rows of a 128-D layer in 320 s and placed 50,000 new
rows with its ``transform`` in 508 s (load 5-6), so a 1,000,000-row layer would take hours.
Above ``UMAPLens.fit_rows`` rows UMAP is therefore fitted on a seeded sample (the landmarks),
and every other row is placed the way umap-learn's ``transform`` *starts*: at the average of
the embedded positions of its ``k`` nearest landmarks (brute-force search), weighted by UMAP's fuzzy
membership strengths ``exp(-(d - rho) / sigma)`` (``rho``, ``sigma`` from umap-learn's own
``smooth_knn_dist`` with the local connectivity its transform uses). umap-learn then refines
those positions with optimisation epochs; that refinement is what costs the 508 s and is left
out. The search is matrix products in blocks (torch): neighbours chosen by float32 scores (at
near-ties within float32 rounding either row may be chosen), their distances recomputed from the
rows; 1,000,000 x 20,000 x 128 in about two minutes on 2 cores.
"""
from __future__ import annotations

import numpy as np

from ..progress import CancelFn, ProgressFn, check_cancelled, report
from .umap_cache import import_umap

__all__ = ["nearest_rows", "membership_weights", "place_rows", "place_by_landmarks"]


def nearest_rows(Q: np.ndarray, R: np.ndarray, k: int, metric: str = "euclidean", *, block: int = 4096,
                 should_cancel: CancelFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``R`` (M, D) to each row of ``Q`` (n, D), by brute force.

    Parameters
    ----------
    Q : (n, D) array (a memory map is read ``block`` rows at a time)
    R : (M, D) array, M >= k
    k : neighbours per row
    metric : 'euclidean' or 'cosine' (1 - cosine similarity)
    block : query rows per matrix product

    Returns
    -------
    distances : (n, k) float32, ascending per row
    index : (n, k) int64 rows of ``R``
    """
    import torch

    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    if not 1 <= k <= len(R):
        raise ValueError(f"k={k} neighbours need at least k reference rows, got {len(R)}")
    Rt = torch.from_numpy(_rows(np.asarray(R, np.float32), metric))
    r2 = (Rt * Rt).sum(1)
    n = Q.shape[0]
    dist = np.empty((n, k), np.float32)
    index = np.empty((n, k), np.int64)
    with torch.inference_mode():
        for start in range(0, n, block):
            check_cancelled(should_cancel, "nearest landmarks")
            q = torch.from_numpy(_rows(np.asarray(Q[start:start + block], np.float32), metric))
            if metric == "euclidean":
                # the nearest rows maximise 2 q.r - |r|^2 (|q|^2 is the same for the whole row)
                score = torch.addmm(-r2, q, Rt.T, beta=1, alpha=2)
                _, idx = torch.topk(score, k, dim=1)
                d = torch.linalg.vector_norm(q[:, None, :] - Rt[idx], dim=2)
            else:
                _, idx = torch.topk(q @ Rt.T, k, dim=1)
                d = 1.0 - (q[:, None, :] * Rt[idx]).sum(2)
            # distances recomputed per kept pair, then sorted: exact order, not float32 score order
            d, order = torch.sort(d, dim=1)
            dist[start:start + len(q)] = d.numpy()
            index[start:start + len(q)] = torch.gather(idx, 1, order).numpy()
    return dist, index


def _rows(X: np.ndarray, metric: str) -> np.ndarray:
    if metric != "cosine":
        return np.ascontiguousarray(X)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X / np.where(norm > 0, norm, 1))


def membership_weights(distances: np.ndarray, n_neighbors: int) -> np.ndarray:
    """UMAP's membership strengths of each row's neighbours, as umap-learn's ``transform`` computes them.

    Parameters
    ----------
    distances : (n, k) ascending distances to the k nearest landmarks
    n_neighbors : UMAP's ``n_neighbors`` (the target of the smooth k-NN calibration)

    Returns
    -------
    (n, k) float64 weights in (0, 1]
    """
    smooth_knn_dist = import_umap().umap_.smooth_knn_dist

    d = np.asarray(distances, np.float32)
    # umap-learn's transform calibrates with local connectivity ``local_connectivity - 1`` (0 by default)
    sigmas, rhos = smooth_knn_dist(d, float(n_neighbors), local_connectivity=0.0)
    return np.exp(-np.maximum(d - rhos[:, None], 0.0) / sigmas[:, None])


def place_rows(Q: np.ndarray, R: np.ndarray, Y: np.ndarray, n_neighbors: int, metric: str = "euclidean", *,
               should_cancel: CancelFn | None = None) -> np.ndarray:
    """Positions of the rows ``Q`` (n, D) among landmarks ``R`` (M, D) embedded at ``Y`` (M, c).

    Returns
    -------
    (n, c) float64: each row at the membership-weighted mean of its ``n_neighbors`` nearest
    landmarks' positions (module docstring).
    """
    k = min(int(n_neighbors), len(R))
    dist, idx = nearest_rows(Q, R, k, metric, should_cancel=should_cancel)
    w = membership_weights(dist, k)
    return np.einsum("nk,nkc->nc", w, np.asarray(Y, np.float64)[idx]) / w.sum(1, keepdims=True)


def place_by_landmarks(X: np.ndarray, landmarks: np.ndarray, landmark_rows: np.ndarray,
                       landmark_embedding: np.ndarray, n_neighbors: int, metric: str = "euclidean", *,
                       progress: ProgressFn | None = None, should_cancel: CancelFn | None = None) -> np.ndarray:
    """(N, c) embedding of every row of X: landmarks where they are, the others placed among them.

    Parameters
    ----------
    X : (N, D) array
    landmarks : (M,) sorted row numbers of X that were embedded
    landmark_rows : (M, D) float32 ``X[landmarks]`` (the rows the embedding was fitted on)
    landmark_embedding : (M, c) their embedded positions
    n_neighbors : landmarks averaged per placed row (UMAP's ``n_neighbors``)
    metric : 'euclidean' or 'cosine'

    Returns
    -------
    (N, c) float64
    """
    landmarks = np.asarray(landmarks, np.int64)
    out = np.empty((X.shape[0], landmark_embedding.shape[1]), np.float64)
    out[landmarks] = landmark_embedding
    others = np.setdiff1d(np.arange(X.shape[0]), landmarks, assume_unique=True)
    span = 65536
    for start in range(0, len(others), span):
        rows = others[start:start + span]
        out[rows] = place_rows(X[rows], landmark_rows, landmark_embedding, n_neighbors, metric,
                               should_cancel=should_cancel)
        report(progress, min(start + span, len(others)), len(others), "placing rows among the landmarks")
    return out
