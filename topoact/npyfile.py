"""``np.load`` under one process-wide lock, because reading an ``.npy`` header is not thread-safe.

numpy parses each header with ``ast.literal_eval``. CPython 3.11 keeps the AST constructor's
recursion depth in interpreter-wide state (python/cpython#106905), so two threads parsing at once
can make one of them fail with ``SystemError: AST constructor recursion depth mismatch``. The
app's request threads read runs concurrently; in the browser suite one such failure dropped the
callback that starts a UMAP job, and the page waited for a job that was never sent. A header
parse takes microseconds, so every load in the package goes through :func:`load`.

The app forks its background jobs from the server while request threads read runs, so a fork
can happen while another thread holds the lock; the child would inherit it held, with no thread
to release it, and its first load would wait for ever. A forked child therefore starts with a
fresh lock (``os.register_at_fork``).
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

_LOCK = threading.Lock()


def _fresh_lock_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def load(path: str | os.PathLike, mmap_mode: str | None = None) -> np.ndarray:
    """``np.load(path, mmap_mode=mmap_mode, allow_pickle=False)`` of an ``.npy`` file, serialised.

    Parameters
    ----------
    path : str or PathLike
    mmap_mode : {None, 'r', 'r+', 'c'}
        As for ``np.load``; ``'r'`` maps the file read-only instead of reading it.

    Returns
    -------
    ndarray
    """
    with _LOCK:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)


def load_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Every array of an ``.npz`` file, read at once (each member has its own header to parse).

    Returns
    -------
    dict of str to ndarray
    """
    with _LOCK, np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
