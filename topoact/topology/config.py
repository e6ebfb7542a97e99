"""Parameters of the run-level persistence computations, as frozen :class:`~topoact.config.Config`.

One object per computation, used alike by the Python API, the CLI, the app and the cache:
``config.key`` is a stable hash of the parameters, and the cache key of a result is
:meth:`topoact.results.ResultCache.key` of ``(layer, config)`` (see
:func:`topoact.topology.run_persistence.persistence_key`), so nobody copies defaults to
rebuild a key.

Examples
--------
>>> cfg = PersistenceConfig(n_landmarks=500, n_bootstrap=10)
>>> cfg.replace(metric="cosine").metric
'cosine'
>>> PersistenceConfig(n_landmarks=500, n_bootstrap=10).key == cfg.key
True
"""
from __future__ import annotations

import dataclasses
from typing import Union

from ..config import Config, check_choice, check_range
from ..errors import InvalidParameterError

__all__ = ["PersistenceConfig", "GraphPersistenceConfig", "POINT_METRICS", "LANDMARK_METHODS"]

POINT_METRICS = ("euclidean", "cosine")
LANDMARK_METHODS = ("maxmin", "random")


@dataclasses.dataclass(frozen=True)
class PersistenceConfig(Config):
    """Parameters of :func:`~topoact.topology.run_persistence.compute_persistence`.

    Parameters
    ----------
    n_landmarks : int
        Landmarks the Rips filtration is built on (>= 2; all rows when the layer has fewer).
    metric : {'euclidean', 'cosine'}
        Point metric of the activation vectors.
    max_dim : {0, 1, 2}
        Highest homology dimension.
    pca : int or None
        Project to this many principal components first (None: no projection).
    n_bootstrap : int
        Bootstrap resamples for the significance band (0: no band).
    alpha : float
        1 - confidence level of the band, in (0, 1).
    seed : int
        Seed of the landmarks, thresholds and bootstrap.
    threshold : 'auto', 'enclosing' or float
        Rips threshold policy (see :mod:`topoact.topology.rips`).
    landmark_method : {'maxmin', 'random'}
        Farthest-point or uniform random landmarks.
    """

    n_landmarks: int = 1000
    metric: str = "euclidean"
    max_dim: int = 1
    pca: Union[int, None] = None
    n_bootstrap: int = 20
    alpha: float = 0.05
    seed: int = 0
    threshold: Union[str, float] = "auto"
    landmark_method: str = "maxmin"

    def _validate(self) -> None:
        set_ = object.__setattr__
        set_(self, "n_landmarks", check_range("n_landmarks", self.n_landmarks, 2, integer=True))
        check_choice("metric", self.metric, POINT_METRICS)
        set_(self, "max_dim", check_range("max_dim", self.max_dim, 0, 2, integer=True))
        if self.pca is not None:
            set_(self, "pca", check_range("pca", self.pca, 1, integer=True))
        set_(self, "n_bootstrap", check_range("n_bootstrap", self.n_bootstrap, 0, integer=True))
        set_(self, "alpha", check_range("alpha", self.alpha, 0, 1, lo_open=True, hi_open=True))
        set_(self, "seed", check_range("seed", self.seed, integer=True))
        if isinstance(self.threshold, str):
            if self.threshold not in ("auto", "enclosing"):
                raise InvalidParameterError(f"threshold must be 'auto', 'enclosing' or a positive "
                                            f"number, got {self.threshold!r}")
        else:
            set_(self, "threshold", check_range("threshold", self.threshold, 0, lo_open=True))
        check_choice("landmark_method", self.landmark_method, LANDMARK_METHODS)


@dataclasses.dataclass(frozen=True)
class GraphPersistenceConfig(Config):
    """Parameters of :func:`~topoact.topology.run_persistence.mapper_graph_persistence`.

    Parameters
    ----------
    n_bootstrap : int
        Resampled Mapper rebuilds B (0: diagrams only, no significance).
    alpha : float
        1 - confidence level of the band, in (0, 1).
    seed : int
        Seed of the resampling.
    lens_index : int
        Lens component used as the filter for a multi-dimensional lens.
    """

    n_bootstrap: int = 20
    alpha: float = 0.05
    seed: int = 0
    lens_index: int = 0

    def _validate(self) -> None:
        set_ = object.__setattr__
        set_(self, "n_bootstrap", check_range("n_bootstrap", self.n_bootstrap, 0, integer=True))
        set_(self, "alpha", check_range("alpha", self.alpha, 0, 1, lo_open=True, hi_open=True))
        set_(self, "seed", check_range("seed", self.seed, integer=True))
        set_(self, "lens_index", check_range("lens_index", self.lens_index, 0, integer=True))
