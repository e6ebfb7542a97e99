"""Worker-side helpers: a per-process cache (load a model once per worker), progress events."""
from __future__ import annotations

import threading
from typing import Any, Callable

__all__ = ["worker_cached", "emit"]

_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()


def worker_cached(key: str, make: Callable[[], Any]) -> Any:
    """``make()`` once per process for ``key`` (a worker process keeps one entry: the last job's).

    Parameters
    ----------
    key : str
        What identifies the value (e.g. the run's configuration hash).
    make : callable
        Builds the value (e.g. loads the model).

    Returns
    -------
    object
    """
    with _LOCK:
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = make()
        return _CACHE[key]


def emit(topic: str, message: dict) -> None:
    """Send a progress event to the client (no-op outside a Dask worker).

    Parameters
    ----------
    topic : str
    message : dict
        Small and msgpack-able.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(topic, message)



def _element_labels(clusterer: Any, X: Any, element: Any, rows: Any) -> tuple:
    return element, rows, clusterer.labels(X, rows)


def cluster_elements(scheduler: Any, X: Any, clusterer: Any, work: list, should_cancel: Callable | None = None):
    """Cluster Mapper cover elements as Dask tasks; yields ``(element, rows, labels)`` as they finish.

    ``X`` (N, D) and the prepared clusterer are sent to every worker once (``scatter``); each
    task clusters one element's rows with the same ``clusterer.labels(X, rows)`` as in-process,
    so the labels are the same.

    Parameters
    ----------
    scheduler : str or distributed.Client
    X : ndarray, shape (N, D)
    clusterer : prepared topoact clusterer
    work : list of (element, rows)
        Rows are (n_e,) int arrays.
    should_cancel : callable, optional

    Yields
    ------
    (element, rows, labels)
    """
    import numpy as np
    from distributed import as_completed

    from ..progress import check_cancelled
    from .scheduler import dask_client

    with dask_client(scheduler) as client:
        X_future = client.scatter(np.asarray(X), broadcast=True, hash=False)
        clusterer_future = client.scatter(clusterer, broadcast=True, hash=False)
        futures = [client.submit(_element_labels, clusterer_future, X_future, e, rows, pure=False)
                   for e, rows in work]
        try:
            for future in as_completed(futures):
                check_cancelled(should_cancel, "Mapper fit")
                yield future.result()
                future.release()
        finally:
            client.cancel(futures)
            del X_future, clusterer_future
