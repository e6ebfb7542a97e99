"""RunLock: one writer per run directory; stale locks of dead processes are taken over safely."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from topoact.runlock import EMPTY_GRACE, RunLock, RunLockedError, lock_path


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_lock(run_dir, **holder):
    lock_path(run_dir).write_text(json.dumps({"host": socket.gethostname(), "started": time.time(),
                                              "command": "x", **holder}))


def test_lock_is_exclusive_names_its_holder_and_is_released(tmp_path):
    run = tmp_path / "run"
    with RunLock(run) as held:
        holder = json.loads(held.path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} on {socket.gethostname()}"):
            RunLock(run).acquire()
    assert not lock_path(run).exists() and not run.exists()  # the lock sits beside the run


def test_live_and_foreign_locks_are_respected(tmp_path):
    run = tmp_path / "run"
    _write_lock(run, pid=os.getppid())  # alive
    with pytest.raises(RunLockedError, match="wait for it to finish"):
        RunLock(run).acquire()
    _write_lock(run, pid=_dead_pid(), host="another-machine")  # cannot be checked from here
    with pytest.raises(RunLockedError, match=f"delete {lock_path(run)}"):
        RunLock(run).acquire()
    lock_path(run).write_text("")  # a writer between creating and filling its lock
    with pytest.raises(RunLockedError, match="holder unknown"):
        RunLock(run).acquire()
    old = time.time() - EMPTY_GRACE - 5
    os.utime(lock_path(run), (old, old))  # ... that died there long ago
    with RunLock(run):
        pass


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    run = tmp_path / "run"
    # our parent process is alive, but it started after this (ten days old) lock was written:
    # the lock's writer is gone and its pid now names another process
    _write_lock(run, pid=os.getppid(), started=time.time() - 10 * 86400)
    with RunLock(run):
        pass


def test_many_takers_of_one_stale_lock_one_wins(tmp_path):
    run = tmp_path / "run"
    _write_lock(run, pid=_dead_pid())
    barrier = threading.Barrier(8)
    outcome = []

    def take():
        lock = RunLock(run)
        barrier.wait()
        try:
            lock.acquire()
            outcome.append("won")
            time.sleep(0.5)  # hold it while the others try
            lock.release()
        except RunLockedError:
            outcome.append("refused")

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome.count("won") == 1 and outcome.count("refused") == 7, outcome
    assert not lock_path(run).exists()
