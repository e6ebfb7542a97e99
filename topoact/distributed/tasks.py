"""Work as Dask tasks: a per-process cache (load a model once per worker), progress events,
:func:`map_tasks` (one function over many items, results in input order, shared values sent
to the cluster once), :class:`NpyRows` / :class:`ZarrRows` (workers read their rows of a run's
``.npy`` or Zarr layer themselves instead of receiving the whole layer) and the Mapper's cover
elements as tasks.
"""
from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import npyfile

__all__ = ["worker_cached", "emit", "resolve_scheduler", "map_tasks", "LazyItems", "NpyRows", "npy_rows", "ZarrRows",
           "zarr_rows", "file_rows", "row_data",
           "read_rows",
           "cluster_elements"]

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




def resolve_scheduler(scheduler: Any) -> Any:
    """``scheduler``, or when None the block's :func:`~topoact.distributed.use_scheduler` (None: in-process).

    Parameters
    ----------
    scheduler : str, distributed.Client or None

    Returns
    -------
    str, distributed.Client or None
    """
    if scheduler is not None:
        return scheduler
    from .scheduler import active_scheduler

    return active_scheduler()


def _call_tuned(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` on a worker whose malloc thresholds suit large short-lived arrays (Dask's
    ``MALLOC_TRIM_THRESHOLD_`` makes every block over 128 KiB be mapped and faulted in afresh:
    :mod:`topoact.allocator`)."""
    from ..allocator import tune_malloc

    tune_malloc()
    return fn(*args)


def map_tasks(scheduler: Any, fn: Callable, items: Sequence[Any], *, shared: Sequence[Any] = (),
              should_cancel: Callable[[], bool] | None = None, what: str = "Dask tasks",
              window: int | None = None) -> Iterator[tuple[int, Any]]:
    """``fn(*shared, item)`` for every item as Dask tasks; yields ``(position, result)`` as they finish.

    The ``shared`` values (e.g. the landmark points of a bootstrap) are scattered to the workers
    once, not sent with every task. At most ``window`` tasks are in flight (None: all), so items
    that carry data (row blocks) are not all held by the scheduler at once.

    Parameters
    ----------
    scheduler : str or distributed.Client
        See :func:`topoact.distributed.check_scheduler`.
    fn : callable
        A module-level function (pickled to the workers).
    items : sequence
        One task per item.
    shared : sequence
        Values passed before the item to every call.
    should_cancel : callable, optional
        Polled as results arrive; True cancels the remaining tasks and raises ``Cancelled``.
    what : str
        Named in the cancellation message.
    window : int, optional
        Tasks in flight at most (>= 1).

    Yields
    ------
    (int, object)
        The item's position in ``items`` and ``fn``'s result; a task's error is raised here.
    """
    from distributed import as_completed

    from ..progress import check_cancelled
    from .scheduler import dask_client

    if not isinstance(items, Sequence):
        items = list(items)
    if not len(items):
        return
    with dask_client(scheduler) as client:
        args = [client.scatter(v, broadcast=True, hash=False) for v in shared]
        limit = len(items) if window is None else max(1, int(window))
        position: dict[str, int] = {}
        submitted = 0

        def submit() -> Any:
            nonlocal submitted
            future = client.submit(_call_tuned, fn, *args, items[submitted], pure=False)
            position[future.key] = submitted
            submitted += 1
            return future

        queue = as_completed([submit() for _ in range(min(limit, len(items)))])
        try:
            for future in queue:
                check_cancelled(should_cancel, what)
                result = future.result()
                future.release()
                if submitted < len(items):
                    queue.add(submit())
                yield position.pop(future.key), result
        finally:
            client.cancel(list(queue.futures))
            del args


@dataclass(frozen=True)
class _LayerFile:
    """A layer file that workers open themselves (same path), with the shape the client read.

    Parameters
    ----------
    path : str
        The file or array (absolute, or a URL where the format allows one).
    shape : tuple of int
        (N, D), checked when the worker opens it.
    dtype : str
    """

    path: str
    shape: tuple
    dtype: str

    def _checked(self, array: Any) -> Any:
        """``array`` (what this worker opened at ``path``) when it has the client's shape and dtype."""
        if tuple(array.shape) != tuple(self.shape) or str(array.dtype) != self.dtype:
            raise ValueError(f"{self.path} on this worker holds {tuple(array.shape)} {array.dtype}, the client "
                             f"read {tuple(self.shape)} {self.dtype}: is the run directory shared and unchanged?")
        return array


class NpyRows(_LayerFile):
    """Where a worker reads rows of a layer itself: a ``.npy`` file it can see (same path)."""

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (n,) of the file, shape (n, D), from this process's memory map."""
        return np.asarray(self.array()[rows])

    def array(self) -> np.ndarray:
        """This process's read-only memory map of the whole file, (N, D)."""
        return self._checked(_open_npy(self.path, os.stat(self.path).st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _open_npy(path: str, mtime_ns: int) -> np.ndarray:
    del mtime_ns  # part of the cache key: a rewritten file is opened again
    return npyfile.load(path, mmap_mode="r")


def npy_rows(X: Any) -> NpyRows | None:
    """A :class:`NpyRows` for ``X`` when it is a memory map of a whole ``.npy`` file (else None).

    Parameters
    ----------
    X : array-like, shape (N, D)
        E.g. ``Run.activations(layer)`` of an ``npy`` store.

    Returns
    -------
    NpyRows or None
    """
    filename = getattr(X, "filename", None)
    if not isinstance(X, np.memmap) or not filename or not X.flags.c_contiguous or X.ndim != 2:
        return None
    try:
        whole = npyfile.load(filename, mmap_mode="r")
    except (OSError, ValueError):
        return None
    # a C-contiguous map of the file's shape at the file's data offset is the whole layer
    if whole.shape != X.shape or whole.dtype != X.dtype or getattr(X, "offset", None) != whole.offset:
        return None
    return NpyRows(os.path.abspath(str(filename)), tuple(int(v) for v in X.shape), str(X.dtype))


class ZarrRows(_LayerFile):
    """Where a worker reads rows of a layer itself: a Zarr array it can open (a local directory
    or an fsspec URL)."""

    def _stamp(self) -> int:
        """Modification time of the local array's metadata (0 for a URL): a rewrite is reopened."""
        return os.stat(os.path.join(self.path, "zarr.json")).st_mtime_ns if "://" not in self.path else 0

    def _open(self) -> Any:
        return self._checked(_open_zarr(self.path, self._stamp()))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (n,) of the array, shape (n, D): only their chunks are read."""
        rows = np.asarray(rows, dtype=np.int64)
        return np.asarray(self._open().get_orthogonal_selection((rows, slice(None))))

    def array(self) -> np.ndarray:
        """The whole (N, D) array in this process's memory (read once per process)."""
        self._open()
        from ..storage.zarr_array import read_zarr

        return worker_cached(f"zarr-layer:{self.path}:{self._stamp()}", lambda: read_zarr(self.path))


@functools.lru_cache(maxsize=8)
def _open_zarr(path: str, mtime_ns: int) -> Any:
    del mtime_ns  # part of the cache key: a rewritten array is opened again
    import zarr

    return zarr.open_array(path, mode="r")


def zarr_rows(X: Any) -> ZarrRows | None:
    """A :class:`ZarrRows` for ``X`` when it is a whole Zarr layer as ``Run.activations`` of a
    ``zarr`` store returns it (:func:`topoact.storage.zarr_array.zarr_source`), else None.

    Parameters
    ----------
    X : array-like, shape (N, D)

    Returns
    -------
    ZarrRows or None
    """
    from ..storage.zarr_array import zarr_source

    path = zarr_source(X)
    if path is None or getattr(X, "ndim", 0) != 2:
        return None
    return ZarrRows(path, tuple(int(v) for v in X.shape), str(X.dtype))


def file_rows(X: Any) -> NpyRows | ZarrRows | None:
    """Where workers can read ``X`` themselves (:class:`NpyRows` or :class:`ZarrRows`), or None."""
    return npy_rows(X) or zarr_rows(X)


def row_data(X: Any, rows: np.ndarray) -> Any:
    """What a task needs to read ``X[rows]``: an :class:`NpyRows` / :class:`ZarrRows` (the
    worker reads the file) or the rows themselves, (n, D), so a task never receives the whole
    layer."""
    source = file_rows(X)
    return source if source is not None else np.asarray(X[rows])


def read_rows(data: Any, rows: np.ndarray) -> np.ndarray:
    """Worker side of :func:`row_data`: the (n, D) rows ``rows`` (n,)."""
    return data.read(rows) if isinstance(data, (NpyRows, ZarrRows)) else data


def _element_labels(clusterer: Any, item: tuple) -> tuple:
    element, rows, data = item
    Z = read_rows(data, rows)
    return element, rows, clusterer.labels(Z, np.arange(len(rows)))


def cluster_elements(scheduler: Any, X: Any, clusterer: Any, work: list, should_cancel: Callable | None = None):
    """Cluster Mapper cover elements as Dask tasks; yields ``(element, rows, labels)`` as they finish.

    The prepared clusterer is sent to every worker once. A task gets its element's rows only:
    when ``X`` is a run's memory-mapped ``.npy`` or Zarr layer the worker reads them from the
    file itself (:class:`NpyRows`, :class:`ZarrRows`; the workers must see the run directory, as
    for collection),
    otherwise the client sends ``X[rows]`` with the task (a few tasks in flight per worker).
    Each task runs ``clusterer.labels`` on those rows, as in-process clustering does on
    ``X[rows]``, so the labels are the same.

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
    source = file_rows(X)
    if source is not None:
        items, window = [(e, rows, source) for e, rows in work], None
    else:  # the rows travel with the tasks: made when submitted, a few in flight
        items, window = LazyItems(len(work), lambda i: (*work[i], np.asarray(X[work[i][1]]))), 8
    for _position, result in map_tasks(scheduler, _element_labels, items, shared=(clusterer,),
                                       should_cancel=should_cancel, what="Mapper fit", window=window):
        yield result


class LazyItems(Sequence):
    """``make(i)`` for i < n, made when the item's task is submitted (for :func:`map_tasks` with a
    ``window``: items carrying row blocks are not all held at once).

    Parameters
    ----------
    n : int
        Number of items.
    make : callable
        ``make(i) -> item``.
    """

    def __init__(self, n: int, make: Callable[[int], Any]):
        self.n, self.make = int(n), make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        return self.make(i)
