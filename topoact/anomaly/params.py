"""Parameters of the anomaly finder (one frozen :class:`~topoact.config.Config`) and the
documented default thresholds.

Every score is in [0, 1], higher = more suspicious. An image is *flagged* for a kind when its
score is at least the kind's threshold (``DEFAULT_THRESHOLDS``, overridable per call):

- ``label_issue`` >= 0.5: the combined evidence (out-of-sample probes, neighbours, model) gives
  the given label less than half the probability mass.
- ``outlier`` >= 0.95: the image is among the 5 % farthest from the data (the score is a rank:
  0.95 means "more unusual than 95 % of the run").
- ``duplicate`` >= 0.995: cosine similarity of the late-layer activation with the nearest other
  image (centred vectors) of at least 0.995, or an exact pixel copy (score 1).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from ..config import Config, check_choice, check_range

__all__ = ["AnomalyConfig", "DEFAULT_THRESHOLDS", "KINDS", "KIND_NAMES", "LABEL_METHODS", "OUTLIER_METHODS"]

KINDS = ("label_issue", "outlier", "duplicate")
#: plural names of the kinds in words (app options, messages)
KIND_NAMES = {"label_issue": "label issues", "outlier": "outliers", "duplicate": "duplicates"}
DEFAULT_THRESHOLDS = {"label_issue": 0.5, "outlier": 0.95, "duplicate": 0.995}
LABEL_METHODS = ("ensemble", "knn", "probe", "model")
OUTLIER_METHODS = ("combined", "knn", "mahalanobis", "max_softmax", "energy")


@dataclasses.dataclass(frozen=True)
class AnomalyConfig(Config):
    """Parameters of :func:`topoact.anomalies`.

    Parameters
    ----------
    k : neighbours per image for the deep k-NN outlier distance (distance to the k-th)
    label_k : neighbours whose labels are counted for the label score (late layers)
    label_method : ``ensemble`` (default: geometric mean of the probabilities the model, the
        out-of-sample probe and the late-layer neighbours give the label), ``knn``, ``probe``
        (confident-learning self-confidence on cross-validated probe probabilities) or ``model``
    outlier_method : ``combined`` (default: the larger robust z-score of log Mahalanobis over the
        layers and energy, see :mod:`topoact.anomaly.outliers`) or one of the single scores
    folds : folds of the cross-validated linear probes
    probe_max_rows : probes are fitted on at most this many rows per fold (speed on big runs)
    exact_max : up to this many images neighbours are searched among all of them; above, among a
        seeded random reference sample of this size (see :mod:`topoact.anomaly.neighbors`)
    duplicate_similarity : cosine similarity from which two images count as near-duplicates
    exact_duplicates : also hash the pixels of near-duplicate candidates to mark exact copies
    topology_weight : weight of the Mapper-node label disagreement in the label score
        (0 = reasons only; see :mod:`topoact.anomaly.topology`)
    seed : seed of the probe folds
    """

    k: int = 10
    label_k: int = 30
    label_method: str = "ensemble"
    outlier_method: str = "combined"
    folds: int = 5
    probe_max_rows: int = 8000
    exact_max: int = 10000
    duplicate_similarity: float = 0.995
    exact_duplicates: bool = True
    topology_weight: float = 0.0
    seed: int = 0

    _aliases: ClassVar[dict] = {"random_state": "seed"}

    def _validate(self) -> None:
        object.__setattr__(self, "k", check_range("k", self.k, 1, None, integer=True))
        object.__setattr__(self, "label_k", check_range("label_k", self.label_k, 1, None, integer=True))
        check_choice("label_method", self.label_method, LABEL_METHODS)
        check_choice("outlier_method", self.outlier_method, OUTLIER_METHODS)
        object.__setattr__(self, "folds", check_range("folds", self.folds, 2, 50, integer=True))
        object.__setattr__(self, "probe_max_rows",
                           check_range("probe_max_rows", self.probe_max_rows, 100, None, integer=True))
        object.__setattr__(self, "exact_max", check_range("exact_max", self.exact_max, 50, None, integer=True))
        object.__setattr__(self, "duplicate_similarity",
                           check_range("duplicate_similarity", self.duplicate_similarity, 0, 1))
        object.__setattr__(self, "topology_weight",
                           check_range("topology_weight", self.topology_weight, 0, 1))
        object.__setattr__(self, "seed", check_range("seed", self.seed, 0, None, integer=True))


def resolve_thresholds(thresholds: Optional[dict]) -> dict:
    """Defaults overridden by ``thresholds`` (unknown kinds and values outside [0, 1] are errors)."""
    out = dict(DEFAULT_THRESHOLDS)
    for kind, value in (thresholds or {}).items():
        check_choice("anomaly kind", kind, KINDS)
        out[kind] = check_range(f"threshold of {kind}", value, 0, 1)
    return out
