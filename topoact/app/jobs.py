"""Background jobs for the app: a small thread pool with progress, cancel and a result cache.

Every long computation the app starts (recompute a Mapper graph, a sweep, persistence, a
feature visualization, running an uploaded image through the model) goes through a
:class:`JobManager` so that no Dash callback blocks the server: the callback *submits* a
job and stores only the job key in a ``dcc.Store``; a callback on the shared
``dcc.Interval`` (``ids.JOB_POLL``) reads :meth:`JobManager.status` and, once the state
is ``"done"``, :meth:`JobManager.result`.

A job is identified by ``stable_hash({"kind": kind, "params": params})`` so submitting the
same work twice returns the existing job (running or finished) instead of recomputing:
results are cached in memory for the lifetime of the manager (results that matter across
restarts, such as Mapper graphs, are also saved into the run directory by the work
function itself). A failed job keeps its error message and traceback so the panel can show
it; resubmitting a failed or cancelled job starts it again.

The work function is called as ``fn(progress, should_cancel)`` where
``progress(fraction, message="")`` reports a fraction in [0, 1] and ``should_cancel()``
returns True once :meth:`JobManager.cancel` was called; the function should poll it and
raise :class:`JobCancelled` (or just return) when it does.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from topoact.hashing import stable_hash

logger = logging.getLogger(__name__)

__all__ = ["JobCancelled", "JobManager", "job_key", "progress_text", "describe_job"]

PENDING, RUNNING, DONE, ERROR, CANCELLED = "pending", "running", "done", "error", "cancelled"


class JobCancelled(Exception):
    """Raised by a work function (or by ``progress``) when its job was cancelled."""


def job_key(kind: str, params: Any) -> str:
    """The stable key of a job: a hash of its kind and JSON-able parameters."""
    return f"{kind}-{stable_hash({'kind': kind, 'params': params})}"


@dataclass
class _Job:
    key: str
    kind: str
    params: Any
    state: str = PENDING
    progress: float = 0.0
    message: str = "queued"
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    started: float | None = None
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)


class JobManager:
    """Run work functions in a thread pool and keep their progress, errors and results.

    Parameters
    ----------
    max_workers : int
        Threads in the pool (numpy/BLAS work releases the GIL, so 2 is useful on 2 cores).
    max_results : int
        Finished jobs kept in memory; the oldest finished ones are forgotten first.
    """

    def __init__(self, max_workers: int = 2, max_results: int = 64):
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers
        self.max_results = max_results
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="topoact-job")
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._last_finished = 0.0

    # -- submitting -------------------------------------------------------------------------
    def submit(self, kind: str, params: Any, fn: Callable[[Callable, Callable], Any]) -> str:
        """Start ``fn(progress, should_cancel)`` unless a job with the same key exists.

        Returns the job key. A finished job with the same key is reused (cached result); a
        failed or cancelled one is started again.
        """
        key = job_key(kind, params)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state in (PENDING, RUNNING, DONE):
                return key
            job = _Job(key=key, kind=kind, params=params)
            self._jobs[key] = job
            self._trim()
        self._pool.submit(self._run, job, fn)
        return key

    def put(self, kind: str, params: Any, result: Any) -> str:
        """Record an already-known result (e.g. a graph found on disk) as a finished job."""
        key = job_key(kind, params)
        with self._lock:
            self._jobs[key] = _Job(key=key, kind=kind, params=params, state=DONE, progress=1.0,
                                   message="done", result=result, finished=time.monotonic())
        return key

    def _run(self, job: _Job, fn: Callable) -> None:
        def progress(fraction: float, message: str = "") -> None:
            if job.cancel_event.is_set():
                raise JobCancelled(job.key)
            job.progress = float(min(max(fraction, 0.0), 1.0))
            if message:
                job.message = str(message)

        def should_cancel() -> bool:
            return job.cancel_event.is_set()

        if job.cancel_event.is_set():
            job.state, job.message = CANCELLED, "cancelled"
            return
        job.state, job.started, job.message = RUNNING, time.monotonic(), "running"
        try:
            result = fn(progress, should_cancel)
            if job.cancel_event.is_set():
                raise JobCancelled(job.key)
        except JobCancelled:
            job.state, job.message = CANCELLED, "cancelled"
        except Exception as exc:  # noqa: BLE001 - errors are kept and shown in the app
            if job.cancel_event.is_set():  # the library's own "cancelled" exception
                job.state, job.message = CANCELLED, "cancelled"
                return
            job.state = ERROR
            job.error = f"{type(exc).__name__}: {exc}"
            job.traceback = traceback.format_exc()
            job.message = job.error
            logger.warning("job %s failed: %s", job.key, job.error)
        else:
            job.result, job.progress, job.state, job.message = result, 1.0, DONE, "done"
        finally:
            job.finished = time.monotonic()
            self._last_finished = job.finished

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.state not in (PENDING, RUNNING)]
        excess = len(finished) - self.max_results
        if excess > 0:
            for job in sorted(finished, key=lambda j: j.finished or 0.0)[:excess]:
                self._jobs.pop(job.key, None)

    # -- querying ---------------------------------------------------------------------------
    def status(self, key: str | None) -> dict | None:
        """JSON-able status of a job: key, kind, state, progress, message, error, elapsed."""
        job = self._jobs.get(key) if key else None
        if job is None:
            return None
        end = job.finished or time.monotonic()
        return {
            "key": job.key, "kind": job.kind, "state": job.state,
            "progress": job.progress, "message": job.message, "error": job.error,
            "elapsed": (end - job.started) if job.started else 0.0,
        }

    def result(self, key: str) -> Any:
        """The result of a finished job; raises ``KeyError`` / ``RuntimeError`` otherwise."""
        job = self._jobs[key]
        if job.state != DONE:
            raise RuntimeError(f"job {key} is {job.state}" + (f": {job.error}" if job.error else ""))
        return job.result

    def cancel(self, key: str) -> bool:
        """Ask a job to stop; returns False when it is unknown or already finished."""
        job = self._jobs.get(key)
        if job is None or job.state not in (PENDING, RUNNING):
            return False
        job.cancel_event.set()
        job.message = "cancelling"
        return True

    def active(self) -> list[str]:
        """Keys of pending or running jobs."""
        return [k for k, j in list(self._jobs.items()) if j.state in (PENDING, RUNNING)]

    def idle_for(self) -> float:
        """Seconds since the last job finished (inf if none ran), 0 while jobs are active."""
        if self.active():
            return 0.0
        if not self._last_finished:
            return float("inf")
        return time.monotonic() - self._last_finished

    def wait(self, key: str, timeout: float = 60.0) -> dict:
        """Block until a job finishes (for tests and scripts, never in a callback)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(key)
            if status is None or status["state"] not in (PENDING, RUNNING):
                return status
            time.sleep(0.02)
        raise TimeoutError(f"job {key} did not finish within {timeout} s")

    def shutdown(self) -> None:
        for key in self.active():
            self.cancel(key)
        self._pool.shutdown(wait=False, cancel_futures=True)


def progress_text(status: dict) -> str:
    """One line for a running job's status: ``message — 40% (3.2 s)``."""
    return f"{status['message']} — {100 * status['progress']:.0f}% ({status['elapsed']:.1f} s)"


def describe_job(jobs: JobManager, job: dict | None) -> tuple[str, str, dict | None]:
    """What a panel's poller shows for a job store ``{"key": ...}``: ``(phase, text, status)``.

    ``phase`` is ``"idle"`` (no job), ``"lost"`` (unknown key: the server restarted),
    ``"running"`` (pending or running), ``"done"`` or ``"ended"`` (error or cancelled);
    ``text`` is the one-line status to display.
    """
    if not job:
        return "idle", "", None
    status = jobs.status(job["key"])
    if status is None:
        return "lost", "job lost (server restarted?)", None
    if status["state"] in ("pending", "running"):
        return "running", progress_text(status), status
    if status["state"] == "done":
        return "done", f"done ({status['elapsed']:.1f} s)", status
    return "ended", f"{status['state']}: {status.get('error') or ''}", status
