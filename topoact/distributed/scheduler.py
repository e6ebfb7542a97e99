"""``--scheduler`` values to a Dask ``distributed.Client``.

``local`` / ``local:N`` start a LocalCluster of N worker processes (default: one per core) with
one thread each for the duration of the work; ``tcp://HOST:PORT`` (or ``tls://``) connects to a
running scheduler (see the README: ``dask scheduler`` on one machine, ``dask worker`` on each);
a ``distributed.Client`` object is used as it is and left open.
"""
from __future__ import annotations

import contextvars
import logging
import os
import re
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import InvalidParameterError

__all__ = ["check_scheduler", "dask_client", "local_workers", "use_scheduler", "active_scheduler"]

log = logging.getLogger(__name__)

_LOCAL = re.compile(r"local(?::(\d+))?")
_REMOTE = re.compile(r"(tcp|tls|ucx|inproc)://[^\s/]+")


def _is_client(value: Any) -> bool:
    return type(value).__name__ == "Client" and hasattr(value, "submit") and hasattr(value, "scheduler_info")


def local_workers(scheduler: str) -> int | None:
    """Worker count of a ``local[:N]`` value (None for other values).

    Parameters
    ----------
    scheduler : str

    Returns
    -------
    int or None
    """
    match = _LOCAL.fullmatch(str(scheduler).strip())
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else max(1, os.cpu_count() or 1)


def check_scheduler(scheduler: Any) -> Any:
    """Return ``scheduler`` when valid, else InvalidParameterError saying what is accepted.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``local``, ``local:N`` (N >= 1), ``tcp://HOST:PORT`` / ``tls://HOST:PORT``, or a Client.

    Returns
    -------
    str or distributed.Client
    """
    if _is_client(scheduler):
        return scheduler
    text = str(scheduler).strip()
    n = local_workers(text)
    if n is not None:
        if n < 1:
            raise InvalidParameterError(f"scheduler {text!r}: local:N needs N >= 1 worker processes")
        return text
    if _REMOTE.fullmatch(text):
        return text
    raise InvalidParameterError(f"unknown scheduler {scheduler!r}; use local, local:N (N worker processes on "
                                "this machine) or tcp://HOST:PORT (a running Dask scheduler)")


@contextmanager
def dask_client(scheduler: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed on exit when this function made it.

    Parameters
    ----------
    scheduler : str or distributed.Client
        See :func:`check_scheduler`.

    Yields
    ------
    distributed.Client
    """
    scheduler = check_scheduler(scheduler)
    if _is_client(scheduler):
        yield scheduler
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("--scheduler needs Dask distributed: pip install 'topoact[scale]'") from None

    n = local_workers(scheduler)
    if n is None:
        log.info("connecting to the Dask scheduler at %s", scheduler)
        with Client(scheduler) as client:
            yield client
        return
    log.info("starting a local Dask cluster of %d worker processes", n)
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.WARNING) as cluster, Client(cluster) as client:
        yield client


_ACTIVE: "contextvars.ContextVar[Any]" = contextvars.ContextVar("topoact_scheduler", default=None)


def active_scheduler() -> Any:
    """The scheduler set by :func:`use_scheduler` in this context (None: work in-process)."""
    return _ACTIVE.get()


@contextmanager
def use_scheduler(scheduler: Any) -> Iterator[Any]:
    """Make ``scheduler`` the default of every step that can run on Dask (``Mapper(scheduler=None)``
    included) inside the block; one client is opened for the whole block.

    Parameters
    ----------
    scheduler : str, distributed.Client or None
        None: a no-op (work stays in-process).

    Yields
    ------
    distributed.Client or None
    """
    if scheduler is None:
        yield None
        return
    with dask_client(scheduler) as client:
        token = _ACTIVE.set(client)
        try:
            yield client
        finally:
            _ACTIVE.reset(token)
