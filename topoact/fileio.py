"""Atomic file writes, JSON reads that name the broken file, and the one file-name sanitiser.

Every JSON and NPY result topoact writes goes through :func:`write_json` / :func:`save_npy`:
the content goes to a uniquely named temporary file in the same folder (so concurrent writers
never share a temporary), is fsynced, then ``os.replace``-d over the target, and the folder is
fsynced so the rename survives a crash. A reader therefore sees the old file or the new one,
never a partial one.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["write_json", "read_json", "save_npy", "atomic_write", "safe_name", "DamagedFileError"]


class DamagedFileError(ValueError):
    """A file topoact wrote earlier cannot be read (truncated, edited, wrong format)."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:          # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a unique temporary file beside ``path``, then replace ``path``.

    Parameters
    ----------
    path : target file; its folder must exist
    write : callable given the open handle (text or binary)
    binary : open the temporary file in binary mode

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON atomically (see module docstring); numpy values become plain JSON."""
    # json.dump streams into the file: a large index never exists as one string in memory.
    return atomic_write(path, lambda handle: json.dump(obj, handle, indent=indent, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a malformed file raises :class:`DamagedFileError` naming it."""
    path = Path(path)
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DamagedFileError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                               f"column {exc.colno}); it was damaged or edited") from None
    except UnicodeDecodeError:
        raise DamagedFileError(f"{path} is not a text JSON file") from None


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` atomically."""
    array = np.asarray(array)
    return atomic_write(path, lambda handle: np.save(handle, array), binary=True)


_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")


def safe_name(text: str, prefix: str = "h-") -> str:
    """File-system-safe, collision-free name for a layer path, key or label.

    Names made only of ``[A-Za-z0-9_.-]`` (module paths such as ``layer3.2.conv1``) are kept
    as they are; anything else becomes ``<prefix><hash>`` of the original text, so two different
    names never map to one file.
    """
    text = str(text)
    if _SAFE.fullmatch(text) and not text.startswith(".") and text not in (".", ".."):
        return text
    from .hashing import stable_hash

    return prefix + stable_hash(text)
