"""``MapperConfig``: the one configuration language of the Mapper engine.

One *flat* frozen dataclass (a :class:`topoact.config.Config`) names every choice of a Mapper
graph by value -- lens, cover, clusterer and their parameters -- and is used alike by the Python
API (``MapperConfig(...).mapper()`` or ``Mapper.from_config``), the CLI (``topoact mapper`` /
``topoact sweep`` build one from their options), the app (its form) and the run's graph cache
(``config.key`` is the graph key). Flat rather than nested lens/cover/clusterer configs because
every front end (CLI options, the app's form, sweep grids) is flat, and a flat JSON form is what
a person reads in a graph file; parameters that do not apply to the chosen lens or clusterer are
reset to their defaults, so two configs that build the same graph have the same key.

Validation happens once, here (``_validate``), with messages that state the allowed range:

===============  ==========================================================================
``lens``         l2, l1, pca, pca2, knn, umap, maxprob, entropy, class
``cover``        uniform, balanced
``n_intervals``  whole number >= 1
``overlap``      in (0, 1) (0 gives no edges; 1 makes every interval the whole range)
``clusterer``    dbscan, single
``eps``          'auto' (k-distance knee) or a finite number > 0 (DBSCAN)
``eps_scale``    finite number > 0 (multiplies the automatic eps)
``min_samples``  whole number >= 1 (DBSCAN)
``metric``       euclidean, cosine
``backend``      topoact, kmapper (KeplerMapper 2.1.0, the reference)
``knn_k``        whole number >= 1 (``lens='knn'``)
``class_index``  whole number >= 0 (``lens='class'``, required there)
``threshold``    None or a finite number > 0 (``clusterer='single'``)
===============  ==========================================================================

Renamed options keep a deprecation alias for one release: ``intervals`` / ``n_cubes`` ->
``n_intervals``, ``perc_overlap`` -> ``overlap``. ``MapperConfig.from_params`` also reads the
nested parameter dicts stored in graph files written before this class existed.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from ..config import Config, check_choice, check_range
from ..errors import InvalidParameterError

if TYPE_CHECKING:
    from .cluster import DBSCAN, SingleLinkage
    from .cover import Cover
    from .lens import Lens
    from .pipeline import Mapper

__all__ = ["MapperConfig", "check_eps", "check_overlap", "LENSES", "COVERS", "CLUSTERERS", "METRICS", "BACKENDS"]

LENSES = ("l2", "l1", "pca", "pca2", "knn", "umap", "maxprob", "entropy", "class")
COVERS = ("uniform", "balanced")
CLUSTERERS = ("dbscan", "single")
METRICS = ("euclidean", "cosine")
BACKENDS = ("topoact", "kmapper")

#: keys of a graph's ``params`` that record the result, not the configuration
RESULT_KEYS = ("eps_resolved", "timings", "inputs")

#: nested params of older graph files: part -> (default name, {nested key: MapperConfig field})
_NESTED = {
    "lens": ("l2", {"k": "knn_k", "class_index": "class_index"}),
    "cover": ("uniform", {"n_intervals": "n_intervals", "intervals": "n_intervals",
                          "overlap": "overlap"}),
    "clusterer": ("dbscan", {name: name for name in ("metric", "eps", "eps_scale", "min_samples",
                                                     "threshold")}),
}


@dataclasses.dataclass(frozen=True)
class MapperConfig(Config):
    """Every parameter of a Mapper graph, by value (see the module docstring for ranges).

    Examples
    --------
    >>> c = MapperConfig(n_intervals=40, overlap=0.3)
    >>> c.replace(overlap=0.5).overlap
    0.5
    """

    lens: str = "l2"
    cover: str = "uniform"
    n_intervals: int = 10
    overlap: float = 0.3
    clusterer: str = "dbscan"
    eps: Any = "auto"
    eps_scale: float = 1.0
    min_samples: int = 3
    metric: str = "euclidean"
    backend: str = "topoact"
    knn_k: int = 5
    class_index: int | None = None
    threshold: float | None = None

    _aliases: ClassVar[Mapping[str, str]] = {"intervals": "n_intervals", "n_cubes": "n_intervals",
                                              "perc_overlap": "overlap"}

    def _validate(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        check_choice("lens", self.lens, LENSES)
        check_choice("cover", self.cover, COVERS)
        check_choice("clusterer", self.clusterer, CLUSTERERS)
        check_choice("metric", self.metric, METRICS)
        check_choice("backend", self.backend, BACKENDS)
        put("n_intervals", check_range("n_intervals", self.n_intervals, 1, integer=True))
        put("overlap", check_overlap(self.overlap))
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        if self.clusterer == "dbscan":
            put("eps", check_eps(self.eps))
            put("eps_scale", check_range("eps_scale", self.eps_scale, 0, lo_open=True))
            put("min_samples", check_range("min_samples", self.min_samples, 1, integer=True))
            put("threshold", None)
        else:
            for name in ("eps", "eps_scale", "min_samples"):
                put(name, defaults[name])
            if self.threshold is not None:
                put("threshold", check_range("threshold", self.threshold, 0, lo_open=True))
        if self.lens == "knn":
            put("knn_k", check_range("knn_k", self.knn_k, 1, integer=True))
        else:
            put("knn_k", defaults["knn_k"])
        if self.lens == "class":
            if self.class_index is None:
                raise InvalidParameterError("lens 'class' needs class_index (a class number >= 0)")
            put("class_index", check_range("class_index", self.class_index, 0, integer=True))
        else:
            put("class_index", None)
        if self.backend == "kmapper" and (self.cover != "uniform" or self.clusterer != "dbscan"):
            raise InvalidParameterError("backend 'kmapper' needs cover 'uniform' and clusterer "
                                        "'dbscan' (KeplerMapper's own cover and sklearn's DBSCAN)")

    # -- building ---------------------------------------------------------------------------
    @property
    def n_lens_dims(self) -> int:
        """1, or 2 for the 2-D lenses (pca2)."""
        return 2 if self.lens == "pca2" else 1

    def make_lens(self) -> "Lens":
        """The lens object of this configuration (a fresh, unfitted estimator)."""
        from .lens import KNNDistance, L1Norm, L2Norm, PCALens, PredictionLens, UMAPLens

        name = self.lens
        if name == "l2":
            return L2Norm()
        if name == "l1":
            return L1Norm()
        if name in ("pca", "pca2"):
            return PCALens(self.n_lens_dims)
        if name == "knn":
            return KNNDistance(self.knn_k)
        if name == "umap":
            return UMAPLens()
        if name == "maxprob":
            return PredictionLens("max")
        if name == "entropy":
            return PredictionLens("entropy")
        return PredictionLens("class", class_index=self.class_index)

    def make_cover(self) -> "Cover":
        """The cover object (uniform or balanced; a product of two for 2-D lenses)."""
        from .cover import make_cover

        return make_cover(self.cover, self.n_intervals, self.overlap, self.n_lens_dims)

    def make_clusterer(self, eps: float | str | None = None) -> "DBSCAN | SingleLinkage":
        """The clusterer object (``eps`` overrides the configured one, e.g. a resolved eps)."""
        from .cluster import DBSCAN, SingleLinkage

        if self.clusterer == "dbscan":
            if eps is None:
                return DBSCAN(eps=self.eps, metric=self.metric, min_samples=self.min_samples,
                              eps_scale=self.eps_scale)
            return DBSCAN(eps=eps, metric=self.metric, min_samples=self.min_samples)
        return SingleLinkage(threshold=self.threshold, metric=self.metric)

    def mapper(self, n_jobs: int = 2, compute_node_means: bool = True) -> "Mapper":
        """A :class:`~topoact.mapper.Mapper` configured by this object."""
        from .pipeline import Mapper

        return Mapper(self.make_lens(), self.make_cover(), self.make_clusterer(), n_jobs=n_jobs,
                      backend=self.backend, compute_node_means=compute_node_means)

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def coerce(cls, value: "MapperConfig | Mapping[str, Any] | None") -> "MapperConfig":
        """A ``MapperConfig`` from itself, a flat dict, or a graph's (possibly old) params."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return cls.from_params(value)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "MapperConfig":
        """Read a graph's ``params``: the flat form, or the nested dicts of older releases
        (``{"lens": {"name", "k", "class_index"}, "cover": {"name", "intervals", "overlap"},
        "clusterer": {"name", "metric", "eps", ...}, "backend"}``). Result keys
        (``eps_resolved``, ``timings``, ``inputs``) are ignored."""
        params = {k: v for k, v in dict(params).items() if k not in RESULT_KEYS}
        if not any(isinstance(params.get(k), Mapping) for k in ("lens", "cover", "clusterer")):
            return cls.from_dict(params)
        flat: dict = {}
        for part, (default, names) in _NESTED.items():
            value = params.get(part)
            if not isinstance(value, Mapping):
                if value is not None:
                    flat[part] = value
                continue
            flat[part] = value.get("name", default)
            for old, new in names.items():
                if value.get(old) is not None:
                    flat.setdefault(new, value[old])
        if params.get("backend") is not None:
            flat["backend"] = params["backend"]
        return cls.from_dict(flat)


def check_eps(eps: Any) -> Any:
    """``'auto'`` or ``eps`` as a float when it is a finite number > 0, else a range error."""
    if isinstance(eps, str):
        text = eps.strip().lower()
        if text == "auto":
            return "auto"
        try:
            eps = float(text)
        except ValueError:
            raise InvalidParameterError(f"eps must be 'auto' or a finite number > 0, got {eps!r}") from None
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(float(eps)) \
            or not float(eps) > 0:
        raise InvalidParameterError(f"eps must be 'auto' or a finite number > 0 (0, inf), got {eps!r}")
    return float(eps)


def check_overlap(overlap: Any) -> float:
    """The one overlap rule (covers and ``MapperConfig``): a number in (0, 1)."""
    return check_range("overlap", overlap, 0, 1, lo_open=True, hi_open=True)
