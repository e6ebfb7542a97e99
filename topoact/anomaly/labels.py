"""Label issues: does the given label agree with the image's neighbourhood and with the model?

Three sources each give a class distribution per image, and the score is one minus the
probability the chosen source(s) give the *given* label (confident learning's self-confidence
ranking, Northcutt et al. 2021), so it lies in [0, 1]:

- ``model``: the run's stored probabilities. A model that saw the image in training has memorised
  its label and hides its own mistakes, hence the next two.
- ``probe``: out-of-sample probabilities of a linear probe (multinomial logistic regression on
  the standardised activations of the chosen layers, concatenated) fitted with K-fold
  cross-validation: each image is scored by a probe that never saw it.
- ``knn``: the share of the image's k nearest neighbours (cosine, per layer) that carry each
  label, averaged over the layers.
- ``ensemble`` (default): the geometric mean of the three probabilities of the given label
  (the neighbour share smoothed as ``(count + 1/C) / (k + 1)`` so one source at 0 does not
  veto the others).

Measured with ``benchmarks/anomalies.py`` (5,000 CIFAR-10 test images, 5 % of labels flipped to
a random other class, seed 0, layers layer1,layer2,layer3,linear; precision@k with k = 250
flipped = recall@k; AUROC in brackets):

==============================================  =============  =============
source(s)                                       ResNet-20      ResNet-32
==============================================  =============  =============
model: 1 - p[label] (self-confidence)           0.768 (0.980)  0.780 (0.978)
probe (cross-validated, out-of-sample)          0.752 (0.979)  0.744 (0.980)
k-NN shares, layer1 / layer2, k=30              0.324 / 0.376  0.332 / 0.392
k-NN shares, layer3, k=10                       0.372 (0.956)  0.420 (0.957)
k-NN shares, layer3, k=30                       0.600 (0.970)  0.616 (0.971)
arithmetic mean of model, probe, k-NN layer3    0.772 (0.982)  0.744 (0.979)
geometric mean of model and probe               0.776 (0.983)  0.792 (0.981)
rank mean of model, probe, k-NN (layer3+logits) 0.796 (0.983)  0.792 (0.982)
**geometric mean of model, probe, k-NN          0.788 (0.983)  0.800 (0.982)
(layer3 + logits, k=30)** (default)
==============================================  =============  =============

Early layers' neighbours carry little label information, so the k-NN share uses the late layer
(and the logits layer when stored); k=30 beats k=10 because shares of 10 tie too often. The
geometric mean keeps a probability's meaning (a threshold of 0.5 reads "the sources together
give the label less than half"), where a rank mean would not. Mapper-node label shares (default
graph of layer3) measure far below the k-NN shares: 0.256 / 0.216 alone, and mixing them in with
``topology_weight=0.25`` *lowers* the ensemble to 0.688 / 0.624 (nodes of a few hundred images are
much coarser than 30 neighbours), so the default weight is 0 and the Mapper facts only appear in
the reasons. Beside it: cleanlab 2.9 ``find_label_issues`` on the model's probabilities 0.724 /
0.780, on out-of-sample probe probabilities 0.736 / 0.720.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..progress import CancelFn, ProgressFn, check_cancelled, report

__all__ = ["knn_label_distribution", "probe_probabilities", "self_confidence_score", "label_reasons",
           "smooth_shares", "geometric_label_probability"]

log = logging.getLogger(__name__)


def knn_label_distribution(index: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Share of each label among an image's neighbours.

    Parameters
    ----------
    index : (N, k) neighbour rows
    labels : (N,) int given labels
    n_classes : C

    Returns
    -------
    (N, C) float32, rows sum to 1
    """
    neighbour_labels = labels[index]
    n, k = neighbour_labels.shape
    out = np.zeros((n, n_classes), np.float32)
    np.add.at(out, (np.repeat(np.arange(n), k), neighbour_labels.ravel()), 1.0)
    return out / k


def _standardise(blocks: Sequence[np.ndarray]) -> np.ndarray:
    parts = []
    for X in blocks:
        X = np.asarray(X, np.float32)
        std = X.std(axis=0)
        parts.append((X - X.mean(axis=0)) / np.where(std > 1e-8, std, 1.0))
    return np.concatenate(parts, axis=1)


def probe_probabilities(blocks: Sequence[np.ndarray], labels: np.ndarray, n_classes: int, *,
                        folds: int = 5, max_rows: int = 20000, seed: int = 0,
                        progress: ProgressFn | None = None,
                        should_cancel: CancelFn | None = None) -> np.ndarray:
    """Out-of-sample class probabilities of cross-validated linear probes.

    Parameters
    ----------
    blocks : per-layer (N, D_l) activations, standardised and concatenated
    labels : (N,) int given labels in [0, C)
    folds : K of K-fold cross-validation (stratified when every class has K members)
    max_rows : each fold's probe is fitted on at most this many (random) rows

    Returns
    -------
    (N, C) float32: row i comes from the probe whose training folds did not hold i
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold
    from threadpoolctl import threadpool_limits

    X = _standardise(blocks)
    n = len(X)
    counts = np.bincount(labels, minlength=n_classes)
    stratified = counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratified else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    rng = np.random.default_rng(seed)
    out = np.zeros((n, n_classes), np.float32)
    for fold, (train, test) in enumerate(splitter.split(X, labels)):
        check_cancelled(should_cancel, "label probes")
        if len(train) > max_rows:
            train = rng.choice(train, max_rows, replace=False)
        present = np.unique(labels[train])
        if len(present) < 2:
            out[np.ix_(test, present)] = 1.0
            continue
        probe = LogisticRegression(C=1.0, max_iter=200, tol=1e-3)
        with threadpool_limits(1):  # small products: BLAS threads only spin (measured 8 s vs 140 s under load)
            probe.fit(X[train], labels[train])
        out[np.ix_(test, probe.classes_)] = probe.predict_proba(X[test])
        report(progress, fold + 1, folds, "label probes")
    return out


def smooth_shares(shares: np.ndarray, k: int) -> np.ndarray:
    """Neighbour label shares pulled towards uniform: ``(share * k + 1/C) / (k + 1)``, (N, C)."""
    return (shares * k + 1.0 / shares.shape[1]) / (k + 1.0)


def geometric_label_probability(distributions: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Geometric mean over sources of the probability each gives the given label: (N,) in [0, 1]."""
    rows = np.arange(len(labels))
    logs = [np.log(np.clip(d[rows, labels].astype(np.float64), 1e-12, 1.0)) for d in distributions]
    return np.exp(np.mean(logs, axis=0))


def self_confidence_score(distribution: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``1 - p[given label]``: (N,) float in [0, 1], higher = more suspicious."""
    p = distribution[np.arange(len(labels)), labels]
    return np.clip(1.0 - p, 0.0, 1.0)


def label_reasons(labels: np.ndarray, class_names: Sequence[str], knn_counts: dict[str, np.ndarray],
                  k: int, model_p: np.ndarray | None, probe_p: np.ndarray | None,
                  rows: np.ndarray) -> dict[int, str]:
    """Plain-words reasons for the given rows.

    ``knn_counts`` maps layer -> (N, C) neighbour label shares; the layer whose neighbours
    disagree most is named ("label 'cat' but 9 of 10 neighbours in layer3 are 'dog'").
    """
    def name(c):
        return class_names[c] if 0 <= c < len(class_names) else str(c)

    out = {}
    for row in rows:
        label = int(labels[row])
        parts = []
        if knn_counts:
            layer, shares = min(knn_counts.items(), key=lambda item: item[1][row, label])
            other = int(np.argmax(np.where(np.arange(shares.shape[1]) == label, -1, shares[row])))
            n_other = int(round(shares[row, other] * k))
            n_same = int(round(shares[row, label] * k))
            if n_other > n_same:
                parts.append(f"label '{name(label)}' but {n_other} of {k} neighbours in {layer} "
                             f"are '{name(other)}'")
            else:
                parts.append(f"{n_same} of {k} neighbours in {layer} share the label '{name(label)}'")
        for source, p in (("model", model_p), ("probe", probe_p)):
            if p is not None:
                top = int(np.argmax(p[row]))
                if top != label:
                    parts.append(f"{source} says '{name(top)}' ({p[row, top]:.2f}, "
                                 f"'{name(label)}' {p[row, label]:.2f})")
        out[int(row)] = "; ".join(parts)
    return out
