"""Linear probes ("observer models"): what a layer's activations let a linear reader decode.

For each layer and target (:mod:`topoact.observers.targets`) a probe is trained on a stratified,
seeded split of the run's images and scored on the held-out images:

* categorical / binned targets: scikit-learn ``LogisticRegression`` (lbfgs, 100 iterations) on
  standardised activations; ``model="sgd"`` (and ``"auto"`` above ``ProbeConfig.large`` training
  rows) is ``SGDClassifier(loss="log_loss")`` for 5 epochs; ``model="mlp"`` is a small
  ``MLPClassifier`` (one hidden layer of 64) for contrast. Measured on the demo CNN's block3 at
  100,000 images (70,000 training rows x 128, one thread): lbfgs 2.4 s CPU, 99.3 % held out;
  SGD 5 epochs 1.7 s, 97.4 %; SGD 30 epochs 10.4 s, 96.8 %. lbfgs is as fast and better at this
  size, so ``auto`` keeps it up to 500,000 training rows.
* circular targets: ``Ridge`` regression of ``(cos, sin)`` of the angle (``MLPRegressor`` with
  ``model="mlp"``); the predicted angle is the angle of the predicted vector and the score is the
  share of held-out images predicted within 1/24 of the period either side (chance 1/12 for
  uniform angles; a looser 1/8 left every layer of the demo CNN near 100 % on orientation).

Every score comes with a Wilson 95 % interval over the held-out images and two controls: the
majority class of the training split (the circular mean for angles) and the same probe trained
on shuffled training targets. The probe's weights (on standardised features), means and scales
are kept so relevance heat maps can be drawn from them (:mod:`topoact.observers.heatmaps`).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from typing import Any, Sequence

import numpy as np

from ..config import Config, check_choice, check_range
from ..progress import CancelFn, ProgressFn, check_cancelled, report
from ..results import Result, ResultCache
from .targets import Target, make_target

__all__ = ["ProbeConfig", "LayerProbe", "ProbeReport", "fit_probe", "probe_layers", "wilson_interval",
           "CIRCULAR_TOLERANCE"]

log = logging.getLogger(__name__)

#: a circular prediction counts as right within this fraction of the period either side
CIRCULAR_TOLERANCE = 1 / 24
CACHE_VERSION = 1
SGD_EPOCHS = 5
MODELS = ("auto", "logistic", "sgd", "mlp")


@dataclasses.dataclass(frozen=True)
class ProbeConfig(Config):
    """Parameters of a probe (one per target; the same for every layer).

    Parameters
    ----------
    target : "label" or an attribute name of the run
    model : "auto" (logistic, SGD above ``large`` training rows), "logistic", "sgd" or "mlp"
    test_size : held-out share of the images, in (0, 1)
    seed : seed of the split, the shuffled control and the SGD / MLP initialisation
    C : inverse L2 regularisation (logistic; ``alpha = 1 / C`` for ridge, ``1 / (C n)`` for SGD)
    n_bins : equal-count bins of a linear (continuous) target
    large : training rows above which ``model="auto"`` uses SGD
    max_iter : iterations of lbfgs and the MLP (SGD runs at most ``SGD_EPOCHS`` epochs)
    """

    target: str = "label"
    model: str = "auto"
    test_size: float = 0.3
    seed: int = 0
    C: float = 1.0
    n_bins: int = 4
    large: int = 500_000
    max_iter: int = 100

    def _validate(self) -> None:
        check_choice("model", self.model, MODELS)
        check_range("test_size", self.test_size, 0, 1, lo_open=True, hi_open=True)
        check_range("seed", self.seed, 0, integer=True)
        check_range("C", self.C, 0, lo_open=True)
        check_range("n_bins", self.n_bins, 2, 100, integer=True)
        check_range("large", self.large, 1, integer=True)
        check_range("max_iter", self.max_iter, 1, integer=True)


@dataclasses.dataclass
class LayerProbe(Result):
    """One probe's score on one layer (JSON form of ``ProbeReport.layers[layer]``).

    ``accuracy`` is the held-out accuracy (circular targets: share within
    ``CIRCULAR_TOLERANCE`` of the period), ``ci`` its Wilson 95 % interval, ``chance`` the
    majority-class (circular-mean) control and ``shuffled`` the shuffled-target control.
    ``coef`` is (K, D) on standardised features (K = classes, 2 for cos/sin, 1 for a binary
    target); ``mean`` / ``scale`` (D,) standardise a raw activation vector.
    """

    kind = "probe_layer"

    layer: str
    accuracy: float
    ci: list
    chance: float
    shuffled: float
    n_train: int
    n_test: int
    n_features: int
    model: str
    classes: list = dataclasses.field(default_factory=list)
    coef: list | None = None
    intercept: list | None = None
    mean: list | None = None
    scale: list | None = None


@dataclasses.dataclass
class ProbeReport(Result):
    """Probes of one target over several layers: ``{"target", "layers": {L: LayerProbe dict}}``."""

    kind = "probes"

    target: str
    target_kind: str
    metric: str
    config: dict
    layers: dict

    def table(self) -> list[dict]:
        """Rows ``{"layer", "accuracy", "lo", "hi", "chance", "shuffled"}`` in layer order."""
        return [{"layer": name, "accuracy": v["accuracy"], "lo": v["ci"][0], "hi": v["ci"][1],
                 "chance": v["chance"], "shuffled": v["shuffled"]} for name, v in self.layers.items()]


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (95 % by default).

    Examples
    --------
    >>> [round(v, 3) for v in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _split(n: int, strata: np.ndarray | None, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    if strata is not None:
        counts = np.bincount(strata - strata.min())
        if counts[counts > 0].min() < 2:
            strata = None  # a class with one image cannot be split; fall back to a plain split
    return train_test_split(index, test_size=test_size, random_state=seed, stratify=strata)


def _estimator(config: ProbeConfig, circular: bool, n_train: int):
    model = config.model
    if model == "auto":
        model = "sgd" if n_train > config.large else "logistic"
    if circular:
        if model == "mlp":
            from sklearn.neural_network import MLPRegressor

            return "mlp", MLPRegressor(hidden_layer_sizes=(64,), max_iter=config.max_iter,
                                       early_stopping=True, random_state=config.seed)
        from sklearn.linear_model import Ridge

        return "ridge", Ridge(alpha=1.0 / config.C)
    if model == "mlp":
        from sklearn.neural_network import MLPClassifier

        return "mlp", MLPClassifier(hidden_layer_sizes=(64,), max_iter=config.max_iter,
                                    early_stopping=True, random_state=config.seed)
    if model == "sgd":
        from sklearn.linear_model import SGDClassifier

        return "sgd", SGDClassifier(loss="log_loss", alpha=1.0 / (config.C * n_train),
                                    max_iter=min(config.max_iter, SGD_EPOCHS), tol=None,
                                    random_state=config.seed)
    from sklearn.linear_model import LogisticRegression

    return "logistic", LogisticRegression(C=config.C, max_iter=config.max_iter)


def _fit(estimator, X, y):
    """Fit quietly. A logistic probe runs its BLAS on one thread at any load: its products are
    small, and threads only spin (measured at idle, 4,000 x 256: 0.07 s vs 0.11-0.27 s with two
    threads; 840 x 128 at load 21 on 2 cores: 1.2 s vs 67 s). The MLP keeps every thread (4,000 x
    2,048: 3.2-3.6 s vs 4.1 s on one)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1 if isinstance(estimator, LogisticRegression) else None):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _circular_hits(pred: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(n,) bool: predicted (n, 2) cos/sin vectors within the tolerance of the true angles."""
    guess = np.arctan2(pred[:, 1], pred[:, 0])
    error = np.abs(np.angle(np.exp(1j * (guess - angles))))
    return error < 2 * np.pi * CIRCULAR_TOLERANCE


def fit_probe(X: np.ndarray, target: Target, config: ProbeConfig | None = None, *, layer: str = "",
              should_cancel: CancelFn | None = None) -> LayerProbe:
    """Train and score one probe (plus its shuffled control) on activations of the target's rows.

    Parameters
    ----------
    X : (N, D) activations of the whole run (rows are taken at ``target.rows``) or (n, D) already
        restricted to them
    target : the probe target
    config : ProbeConfig (default: its defaults)
    layer : name recorded in the result

    Returns
    -------
    LayerProbe
    """
    config = config or ProbeConfig()
    rows = target.rows
    X = np.asarray(X[rows] if len(X) != len(rows) else X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"layer {layer!r}: activations contain NaN or infinite values")
    circular = target.kind == "circular"
    y = target.angles() if circular else target.classes(config.n_bins)
    train, test = _split(len(y), None if circular else y, config.test_size, config.seed)
    mean = X[train].mean(axis=0)
    scale = X[train].std(axis=0)
    scale[scale < 1e-8] = 1.0
    Z = (X - mean) / scale
    rng = np.random.default_rng(config.seed)
    shuffled_y = y[train][rng.permutation(len(train))]
    name, estimator = _estimator(config, circular, len(train))
    check_cancelled(should_cancel, "probe")
    if circular:
        vec = lambda a: np.stack([np.cos(a), np.sin(a)], axis=1)  # noqa: E731
        _fit(estimator, Z[train], vec(y[train]))
        hits = _circular_hits(estimator.predict(Z[test]), y[test])
        mean_angle = np.angle(np.exp(1j * y[train]).mean())
        chance = float(_circular_hits(np.tile(vec(np.array([mean_angle])), (len(test), 1)), y[test]).mean())
        check_cancelled(should_cancel, "probe")
        control = _fit(_estimator(config, True, len(train))[1], Z[train], vec(shuffled_y))
        shuffled = float(_circular_hits(control.predict(Z[test]), y[test]).mean())
        classes: list = ["cos", "sin"]
    else:
        _fit(estimator, Z[train], y[train])
        hits = estimator.predict(Z[test]) == y[test]
        values, counts = np.unique(y[train], return_counts=True)
        chance = float((y[test] == values[np.argmax(counts)]).mean())
        check_cancelled(should_cancel, "probe")
        control = _fit(_estimator(config, False, len(train))[1], Z[train], shuffled_y)
        shuffled = float((control.predict(Z[test]) == y[test]).mean())
        classes = [int(c) for c in values]
    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", None)
    accuracy = float(np.mean(hits))
    return LayerProbe(
        layer=layer, accuracy=accuracy, ci=list(wilson_interval(float(np.sum(hits)), len(test))),
        chance=chance, shuffled=shuffled, n_train=int(len(train)), n_test=int(len(test)),
        n_features=int(X.shape[1]), model=name, classes=classes,
        coef=None if coef is None else np.atleast_2d(coef).astype(np.float32).tolist(),
        intercept=None if intercept is None else np.atleast_1d(intercept).astype(np.float32).tolist(),
        mean=mean.astype(np.float32).tolist(), scale=scale.astype(np.float32).tolist())


def _check_layers(run, layers: Sequence[str] | None) -> list[str]:
    from ..errors import UnknownLayerError

    layers = list(run.layers) if not layers else list(layers)
    for layer in layers:
        if layer not in run.layers:
            raise UnknownLayerError(layer, run.layers, where=f"run {run.path}")
    return layers


def _probe_task(target: Target, config: ProbeConfig, item: tuple) -> dict:
    """A Dask task: the probe of one layer (``item`` = (layer, rows data of ``row_data``))."""
    from ..distributed.tasks import read_rows

    layer, data = item
    return fit_probe(read_rows(data, target.rows), target, config, layer=layer).to_dict()


def probe_layers(run, layers: Sequence[str] | None = None, config: ProbeConfig | None = None, *,
                 cache: bool = True, progress: ProgressFn | None = None,
                 should_cancel: CancelFn | None = None, scheduler: Any = None, **params: Any) -> ProbeReport:
    """Probe ``config.target`` on each of ``layers`` of ``run`` (all layers by default).

    Parameters
    ----------
    run : an open run (``topoact.open_run``)
    layers : layer names in depth order (default: the run's layers)
    config : ProbeConfig; keyword ``params`` build one instead (``target="orientation"``)
    cache : reuse / store per-layer results in ``<run>/probes/`` (guarded by the layer's
        fingerprint, so a changed activation file is recomputed)
    progress, should_cancel : the :mod:`topoact.progress` protocol
    scheduler : str or distributed.Client, optional
        Fit the layers' probes as Dask tasks, one per layer (a worker reads the layer's rows
        from the run's ``.npy`` file itself); the accuracies are the same. None: the block's
        :func:`topoact.distributed.use_scheduler`, else in-process.

    Returns
    -------
    ProbeReport with ``layers[layer]`` = :class:`LayerProbe` dict
    """
    from ..distributed.tasks import resolve_scheduler

    config = config or ProbeConfig.from_dict(params)
    layers = _check_layers(run, layers)
    target = make_target(run, config.target)
    store = ResultCache(run, "probes", CACHE_VERSION)
    out: dict[str, dict] = {}
    scheduler = resolve_scheduler(scheduler)
    pending = []
    for i, layer in enumerate(layers):
        check_cancelled(should_cancel, "probes")
        report(progress, i, len(layers), f"probe {target.name} on {layer}")
        key = store.key(layer, config)
        data = store.load(layer, key) if cache else None
        if data is not None:
            out[layer] = {k: v for k, v in data.items() if k not in ("inputs", "key")}
        elif scheduler is not None:
            pending.append(layer)
        else:
            out[layer] = fit_probe(run.activations(layer), target, config, layer=layer,
                                   should_cancel=should_cancel).to_dict()
            if cache:
                store.save(layer, key, out[layer])
    if pending:
        from ..distributed.tasks import map_tasks, row_data

        items = [(layer, row_data(run.activations(layer), target.rows)) for layer in pending]
        for done, (i, result) in enumerate(map_tasks(scheduler, _probe_task, items, shared=(target, config),
                                                     should_cancel=should_cancel, what="probes"), start=1):
            out[pending[i]] = result
            if cache:
                store.save(pending[i], store.key(pending[i], config), result)
            report(progress, len(layers) - len(pending) + done, len(layers), f"probe {target.name} on {pending[i]}")
    out = {layer: out[layer] for layer in layers}
    report(progress, len(layers), len(layers), "probes done")
    metric = "within 1/24 period" if target.kind == "circular" else "accuracy"
    return ProbeReport(target=target.name, target_kind=target.kind, metric=metric,
                       config=config.to_dict(), layers=out)

