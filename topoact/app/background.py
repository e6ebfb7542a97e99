"""Background jobs of the app: Dash background callbacks, and the library's progress mapped onto a bar.

Every long computation the app starts (recompute a Mapper graph, a sweep, persistence, layer
distances, a feature visualization, an uploaded image through the model) is a Dash *background
callback* (``background=True``): Dash runs the callback body in a **worker process** started by
the background-callback manager, so CPU-heavy numpy / torch work never shares the GIL with the
server that answers node clicks. Dash also provides what the app needs around a job:

* ``progress=[Output(bar, "value"), Output(text, "children")]`` with ``set_progress`` in the
  worker; :class:`BarProgress` adapts the library's one protocol
  (:mod:`topoact.progress`: ``progress(done, total, message)``) onto these two outputs;
* ``cancel=[Input(cancel_button, "n_clicks")]``: the manager kills the worker process (engines
  write their caches only on success, so nothing half-written is left);
* ``running=[(Output(button, "disabled"), True, False), ...]`` while the job runs.

Managers
--------
:func:`make_manager` returns a ``dash.DiskcacheManager`` on a private diskcache folder (a fresh
temporary directory per app, removed at exit): one machine, any number of browser tabs. For a
shared server with several web workers, pass a ``dash.CeleryManager`` (Celery + Redis) to
:func:`topoact.app.create_app` instead; the callbacks are the same.

Results that matter across restarts (graphs, persistence, feature images) are saved in the run
by the engines themselves; the job returns only keys and small JSON.

The job cache waits for SQLite's write lock instead of giving up: Dash writes a job's result with
``cache.set`` from the job process, and diskcache's default (``retry=False``) raises ``Timeout``
when another process holds the lock, which loses the finished result and leaves the browser
polling forever (seen in CI under load). :class:`JobCache` retries every write.

Forking next to SQLite: job processes are forked from the threaded web server while other request
threads poll the same cache. A fork taken while one of them is inside SQLite (holding a library
mutex, or an open write transaction such as Dash's ``terminate_job``) copies that state into the
child with no thread to release it: the job blocks on its first progress write for ever and the
page shows a running job with an empty bar (the Layers tab's spatial-relevance hang).
:class:`JobCache` therefore runs every operation under one process-wide lock, and a fork of this
process waits for that lock (``os.register_at_fork``), so no thread is inside the job cache when
a job is forked. :class:`JobManager` also tolerates a finished job that another thread reaped
while a poll was stopping it (``Process.start`` reaps finished children), instead of answering
that poll with an error after its result was taken from the cache.

Forking next to threaded BLAS: OpenBLAS runs a large matrix product on several threads under a
process-wide lock, and a fork taken while a request thread is inside such a product (the
embedding panel's PCA, say) leaves that lock held in the child, whose first large product then
waits for ever (the Layers tab's depth job hung in ``StreamingCKA.fit``); the forking parent can
hang too, in OpenBLAS's own fork handler. :func:`make_manager` therefore puts the server's BLAS
libraries on one thread (their single-threaded path takes no lock; the server itself does only
light numpy), and every forked child gets the original thread counts back before it runs, so jobs
keep all cores.

Shutdown: job processes are children of the server. :func:`make_manager` registers
:func:`stop_jobs` at exit, so stopping the server (Ctrl-C, or SIGTERM through
:func:`topoact.app.serve`) stops the jobs at once instead of waiting for them (the
``multiprocess`` exit handler would join every running job) or leaving them orphaned.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Sequence

import diskcache
import psutil
from dash import DiskcacheManager

logger = logging.getLogger(__name__)

__all__ = ["JobCache", "JobManager", "make_manager", "stop_jobs", "job_options", "show_cancelled", "BarProgress",
           "progress_text", "JOB_INTERVAL_MS", "PROGRESS_DEFAULT"]

#: how often the browser asks for a running job's progress and result (ms)
JOB_INTERVAL_MS = 300
#: (bar value, progress text) shown while no job runs
PROGRESS_DEFAULT = ("0", "")


#: held by every :class:`JobCache` operation and, through the at-fork hooks below, by every fork
#: of this process: a forked job never inherits a half-done SQLite call or transaction
_CACHE_GUARD = threading.RLock()


def _hold_guard_for_fork() -> None:
    _CACHE_GUARD.acquire()


def _release_guard_after_fork() -> None:
    _CACHE_GUARD.release()


def _new_guard_in_child() -> None:
    global _CACHE_GUARD
    _CACHE_GUARD = threading.RLock()  # the parent's is held by the forking thread: not ours


os.register_at_fork(before=_hold_guard_for_fork, after_in_parent=_release_guard_after_fork,
                    after_in_child=_new_guard_in_child)

#: file of each BLAS library the server limited -> (its threadpoolctl controller, its thread count
#: before), given back to every forked child
_JOB_BLAS_THREADS: dict[str, tuple[Any, int]] = {}


def _single_threaded_server_blas() -> None:
    """Put every loaded BLAS library on one thread, remembering its count for forked jobs."""
    import scipy.linalg  # noqa: F401 - loads scipy's own OpenBLAS (numpy's is loaded), so both are limited
    from threadpoolctl import ThreadpoolController

    for library in ThreadpoolController().select(user_api="blas").lib_controllers:
        _JOB_BLAS_THREADS.setdefault(library.filepath, (library, library.num_threads))
        library.set_num_threads(1)


def _job_blas_threads_in_child() -> None:
    for library, threads in _JOB_BLAS_THREADS.values():  # plain ctypes calls: safe in a forked child
        library.set_num_threads(threads)


os.register_at_fork(after_in_child=_job_blas_threads_in_child)


def _guarded(method: Callable) -> Callable:
    @functools.wraps(method)
    def run(*args, **kwargs):
        with _CACHE_GUARD:
            return method(*args, **kwargs)

    return run


class JobCache(diskcache.Cache):
    """A ``diskcache.Cache`` whose writes retry while another process holds the lock, and whose
    operations never overlap a fork of this process (see the module docstring).

    The guarded operations are the single-key ones, ``transact`` (for the whole block) and the
    maintenance calls; iterating over the keys is not guarded (the app never does it).
    """

    def set(self, key, value, expire=None, read=False, tag=None, retry=True):
        return super().set(key, value, expire=expire, read=read, tag=tag, retry=retry)

    def add(self, key, value, expire=None, read=False, tag=None, retry=True):
        return super().add(key, value, expire=expire, read=read, tag=tag, retry=retry)

    def delete(self, key, retry=True):
        return super().delete(key, retry=retry)

    def touch(self, key, expire=None, retry=True):
        return super().touch(key, expire=expire, retry=retry)

    @contextlib.contextmanager
    def transact(self, retry=True):
        with _CACHE_GUARD, super().transact(retry=retry):
            yield


for _name in ("__init__", "set", "add", "delete", "touch", "get", "read", "pop", "incr", "decr", "reset",
              "__contains__", "__getitem__", "__setitem__", "__delitem__", "__len__", "clear", "cull", "expire",
              "evict", "check", "stats", "volume", "close"):
    setattr(JobCache, _name, _guarded(getattr(JobCache, _name)))
del _name


class JobManager(DiskcacheManager):
    """``dash.DiskcacheManager`` whose ``terminate_job`` accepts a job that is already gone."""

    def terminate_job(self, job):
        # A finished job can be reaped by another thread (multiprocess's Process.start reaps
        # finished children) between Dash's pid_exists and its Process(pid).children(); the
        # NoSuchProcess would fail the poll that has just taken the job's result from the cache.
        try:
            super().terminate_job(job)
        except psutil.NoSuchProcess:
            pass


def make_manager(folder: str | None = None) -> Any:
    """A ``dash.DiskcacheManager`` on a diskcache in ``folder`` (default: a new temporary folder).

    Parameters
    ----------
    folder : str, optional
        Where diskcache keeps job progress and results. By default a fresh folder under the
        system's temporary directory, deleted when the server process exits.

    Returns
    -------
    JobManager
        A ``dash.DiskcacheManager``: runs each background callback in its own process
        (``multiprocess``, forked from the server). From now on this process's BLAS runs on one
        thread and its forked children on the original count (see the module docstring).
    """
    import multiprocess.util  # noqa: F401 - registers its exit handler (which joins running jobs)
    #                           first, so that ours, registered after it, runs before it (LIFO)

    _single_threaded_server_blas()
    global _STOP_REGISTERED
    if not _STOP_REGISTERED:
        atexit.register(stop_jobs)
        _STOP_REGISTERED = True
    if folder is None:
        folder = tempfile.mkdtemp(prefix="topoact-jobs-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return JobManager(JobCache(folder))


_STOP_REGISTERED = False


def stop_jobs(timeout: float = 5.0) -> int:
    """Kill the job processes (and their children) this process started and still runs.

    Parameters
    ----------
    timeout : float
        Seconds to wait for them to go.

    Returns
    -------
    int
        How many job processes were stopped.
    """
    import multiprocess
    import psutil

    jobs = multiprocess.active_children()
    for job in jobs:
        try:
            for proc in psutil.Process(job.pid).children(recursive=True):
                proc.kill()
        except psutil.NoSuchProcess:
            pass
        job.kill()
    for job in jobs:
        job.join(timeout)
    if jobs:
        logger.info("stopped %d running job(s)", len(jobs))
    return len(jobs)


def job_options(bar: str, text: str, *, cancel: str | None = None, buttons: Sequence[str] = ()) -> dict:
    """The ``app.callback`` keyword arguments that make a callback a background job.

    Parameters
    ----------
    bar, text : str
        Ids of the job's ``html.Progress`` (its ``value``) and progress-text element.
    cancel : str, optional
        Id of the job's cancel button (enabled only while the job runs).
    buttons : sequence of str
        Ids of buttons disabled while the job runs (the one that starts it).

    Returns
    -------
    dict
        ``background``, ``progress``, ``progress_default``, ``cancel``, ``running``, ``interval``
        and ``prevent_initial_call``; the callback then takes ``set_progress`` first, to be
        wrapped in :class:`BarProgress`.
    """
    from dash import Input, Output

    running = [(Output(button, "disabled"), True, False) for button in buttons]
    options = dict(background=True, progress=[Output(bar, "value"), Output(text, "children")],
                   progress_default=list(PROGRESS_DEFAULT), interval=JOB_INTERVAL_MS, prevent_initial_call=True)
    if cancel is not None:
        options["cancel"] = [Input(cancel, "n_clicks")]
        running.append((Output(cancel, "disabled"), False, True))
    if running:
        options["running"] = running
    return options


def show_cancelled(app: Any, cancel: str, status: str) -> None:
    """Register a browser-side callback: pressing ``cancel`` writes "cancelled" into ``status``.

    (Dash itself stops the job; this only tells the user, without a server round trip.)
    """
    from dash import Input, Output

    app.clientside_callback(
        "function(n) { return n ? 'cancelled' : window.dash_clientside.no_update; }",
        Output(status, "children", allow_duplicate=True), Input(cancel, "n_clicks"), prevent_initial_call=True)


def progress_text(done: float, total: float, message: str = "", elapsed: float | None = None) -> str:
    """One line for a running job: ``message — 40% (3.2 s)``.

    Parameters
    ----------
    done, total : float
        Units of work finished and in all (``total`` > 0), as in :mod:`topoact.progress`.
    message : str
        What the engine says it is doing.
    elapsed : float, optional
        Seconds since the job started.
    """
    fraction = min(max(float(done) / float(total or 1.0), 0.0), 1.0)
    text = f"{message} — " if message else ""
    text += f"{100 * fraction:.0f}%"
    if elapsed is not None:
        text += f" ({elapsed:.1f} s)"
    return text


class BarProgress:
    """The library's progress protocol, forwarded to a Dash ``set_progress`` as ``(value, text)``.

    ``value`` is the fraction done as a string for ``html.Progress(max="1")``; ``text`` is
    :func:`progress_text`. The bar shows "starting — 0%" from the moment the job starts (an
    engine may spend a while before its first report). Calls are throttled (at most one write every ``min_interval``
    seconds, plus every change of message and the end), because engines may report thousands
    of steps and each write goes through the manager's cache.

    Parameters
    ----------
    set_progress : callable
        Dash's ``set_progress`` of a background callback with two progress outputs.
    min_interval : float
        Minimum seconds between two writes with the same message.

    Examples
    --------
    >>> seen = []
    >>> bar = BarProgress(seen.append, min_interval=0.0)
    >>> seen[0][0], seen[0][1].split(" (")[0]
    ('0', 'starting — 0%')
    >>> bar(3, 10, "cover interval 3/10")
    >>> seen[-1][0], seen[-1][1].split(" (")[0]
    ('0.3', 'cover interval 3/10 — 30%')
    """

    def __init__(self, set_progress: Callable[[tuple[str, str]], None], min_interval: float = 0.1):
        self.set_progress = set_progress
        self.min_interval = float(min_interval)
        self.started = time.monotonic()
        self._last = -float("inf")
        self._last_message: str | None = None
        self(0, 1, "starting")

    def __call__(self, done: float, total: float, message: str = "") -> None:
        fraction = min(max(float(done) / float(total or 1.0), 0.0), 1.0)
        now = time.monotonic()
        if (message == self._last_message and fraction < 1.0 and now - self._last < self.min_interval):
            return
        self._last, self._last_message = now, message
        self.set_progress((f"{fraction:.4g}", progress_text(fraction, 1.0, message, now - self.started)))

    def elapsed(self) -> float:
        """Seconds since this job started."""
        return time.monotonic() - self.started
