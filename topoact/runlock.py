"""One writer at a time per run directory: an exclusive lock file beside the run.

Two ``topoact collect`` into one directory (one with ``--overwrite``) used to interleave: the run
ended with meta saying one thing over arrays written by the other. :class:`RunLock` makes the
second writer fail at once with an error naming the holder.

How it works
------------
* The lock is the file ``<parent>/.<run name>.lock`` - beside the run, not inside it, so
  ``overwrite`` can delete the run folder while holding the lock, and a run that does not exist
  yet is guarded too. It is created with ``os.open(O_CREAT | O_EXCL)`` (atomic: exactly one
  process succeeds) and holds JSON ``{"pid", "host", "started", "command"}``.
* A lock whose holder is dead is stale and taken over: same host and ``os.kill(pid, 0)`` says
  there is no such process, or the pid now belongs to a process started after the lock was
  written (pid reuse, checked from ``/proc`` on Linux). A lock left empty by a process killed
  between creating and writing it is stale after ``EMPTY_GRACE`` seconds. A lock held on another
  host is never broken (the error says which file to delete if that process is gone).
* Taking over is itself exclusive: the taker creates ``<lock>.break`` with ``O_EXCL``, re-reads
  the lock, removes it only if it is still the same stale content, then retries the normal
  ``O_EXCL`` creation - two processes that both found the lock stale cannot both win, and a live
  lock created meanwhile is never removed. A ``.break`` file older than ``EMPTY_GRACE`` (its
  taker died in that instant) is removed.
* Released (the file removed) on exit from the ``with`` block, whatever happens; a process
  killed with ``-9`` leaves a stale lock that the next writer takes over.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RunLock", "RunLockedError", "lock_path"]

log = logging.getLogger(__name__)

#: seconds after which an empty lock (or a leftover ``.break`` file) counts as abandoned
EMPTY_GRACE = 10.0


class RunLockedError(RuntimeError):
    """Another process is writing the run directory; the message names it."""


def lock_path(run_dir: str | os.PathLike) -> Path:
    """The lock file guarding ``run_dir``: ``<parent>/.<name>.lock``.

    Parameters
    ----------
    run_dir : str or PathLike

    Returns
    -------
    Path
    """
    run_dir = Path(os.path.abspath(run_dir))
    return run_dir.parent / f".{run_dir.name}.lock"


def _process_start(pid: int) -> float | None:
    """Wall-clock start time of ``pid`` from /proc (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _alive(pid: int, started: float | None) -> bool:
    """Whether the process that wrote a lock at ``started`` still runs as ``pid`` on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        pass
    if started is not None:
        begun = _process_start(pid)
        if begun is not None and begun > started + 2.0:  # the pid was reused by a newer process
            return False
    return True


class RunLock:
    """Exclusive writer lock of one run directory (a context manager; see the module docstring).

    Parameters
    ----------
    run_dir : str or PathLike
        The run directory to guard (it need not exist).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = lock_path(run_dir)
        self._held = False
        self._content = b""

    def __repr__(self) -> str:
        return f"RunLock({str(self.run_dir)!r}, held={self._held})"

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`RunLockedError` naming its holder.

        Returns
        -------
        RunLock
            self
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": " ".join(sys.argv)[:500]}
        self._content = json.dumps(info).encode()
        for _attempt in range(20):
            if self._create():
                self._held = True
                return self
            content, holder = self._read()
            if not self._stale(holder):
                raise RunLockedError(self._describe(holder))
            self._break(content, holder)
        raise RunLockedError(f"could not take the lock {self.path} (it keeps changing hands)")

    def release(self) -> None:
        """Remove the lock file if this object holds it (and it is still ours)."""
        if not self._held:
            return
        self._held = False
        try:
            if self.path.read_bytes() == self._content:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    # -- internals ------------------------------------------------------------------------------
    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, self._content)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _read(self) -> tuple[bytes | None, dict | None]:
        """(raw content, parsed holder); content None when the lock vanished meanwhile."""
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            return None, None
        try:
            holder = json.loads(content.decode())
            return content, holder if isinstance(holder, dict) else {}
        except (UnicodeDecodeError, ValueError):
            return content, {}

    def _stale(self, holder: dict | None) -> bool:
        if holder is None:  # released meanwhile: just retry
            return True
        if "pid" not in holder:  # empty or unreadable: its writer died right after creating it?
            return self._age(self.path) > EMPTY_GRACE
        if holder.get("host") != socket.gethostname():
            return False
        try:
            return not _alive(int(holder["pid"]), float(holder.get("started", 0)) or None)
        except (TypeError, ValueError):
            return self._age(self.path) > EMPTY_GRACE

    @staticmethod
    def _age(path: Path) -> float:
        try:
            return time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _break(self, content: bytes | None, holder: dict | None) -> None:
        """Remove a stale lock, exclusively (see the module docstring)."""
        if content is None:
            return
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if self._age(breaker) > EMPTY_GRACE:
                breaker.unlink(missing_ok=True)
            else:
                time.sleep(0.05)
            return
        os.close(fd)
        try:
            try:
                still = self.path.read_bytes()
            except FileNotFoundError:
                return
            if still == content:
                log.warning("taking over the stale lock %s of a process that no longer runs (%s)",
                            self.path, self._holder_text(holder))
                self.path.unlink()
        finally:
            breaker.unlink(missing_ok=True)

    @staticmethod
    def _holder_text(holder: dict | None) -> str:
        if not holder or "pid" not in holder:
            return "holder unknown"
        started = holder.get("started")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started))) if started else "?"
        return f"pid {holder['pid']} on {holder.get('host', '?')}, since {when}"

    def _describe(self, holder: dict | None) -> str:
        text = self._holder_text(holder)
        command = (holder or {}).get("command")
        hint = (f"wait for it to finish; if that process is gone (another machine?), delete {self.path}"
                if (holder or {}).get("host") != socket.gethostname() else "wait for it to finish or stop it")
        return (f"{self.run_dir} is being written by another process ({text}"
                + (f": {command}" if command else "") + f"); {hint}")
