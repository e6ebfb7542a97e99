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

