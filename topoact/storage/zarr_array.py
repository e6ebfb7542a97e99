"""A run's activation matrix as a Zarr v3 array: written row block by row block, read whole.

Layout: ``activations/<layer>.zarr`` is a plain Zarr v3 array (N, D) float32, one chunk per
collection chunk (``chunk_size`` rows x D), uncompressed. Each collection chunk is written by
exactly one process, so no chunk is ever shared by two writers, and zarr's local store writes
each chunk file atomically (temporary file + rename). No sharding: a chunk already holds a whole
collection chunk (2048 rows by default), so there is no swarm of small files to pack.

Reading: the Mapper and every analysis read a layer whole. Uncompressed chunks are raw
little-endian rows, so :func:`read_zarr` reads each chunk file straight into its rows of the
output array (one copy, like a memory-mapped ``.npy``); any other encoding (compressed arrays
written by other tools, an fsspec URL) goes through zarr itself.
"""
from __future__ import annotations

import json
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["ZarrRowArray", "read_zarr", "zarr_shape", "zarr_source", "ZARR_SUFFIX"]

ZARR_SUFFIX = ".zarr"
_RAW_CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}]
#: id of an array returned by :func:`read_zarr` -> (weak reference to it, the path it was read
#: from): lets Dask tasks name the file instead of shipping rows (:func:`zarr_source`)
_SOURCES: dict[int, tuple[weakref.ref, str]] = {}


def _remember_source(array: np.ndarray, path: str) -> None:
    key = id(array)

    def forget(ref: weakref.ref) -> None:  # the array is gone: its id may be reused
        if _SOURCES.get(key, (None,))[0] is ref:
            del _SOURCES[key]

    _SOURCES[key] = (weakref.ref(array, forget), path)


def zarr_source(array: object) -> str | None:
    """The path or URL of the Zarr array that ``array`` is the whole of (as :func:`read_zarr`
    returned it), or None for any other array (a slice, a copy, an array of other origin).

    Parameters
    ----------
    array : object

    Returns
    -------
    str or None
    """
    entry = _SOURCES.get(id(array))
    return entry[1] if entry is not None and entry[0]() is array else None


def _metadata(path: Path) -> dict:
    from ..errors import DamagedRunError

    try:
        return json.loads((Path(path) / "zarr.json").read_text())
    except FileNotFoundError:
        raise DamagedRunError(f"{path} is not a Zarr array (no zarr.json)") from None
    except ValueError as exc:
        raise DamagedRunError(f"{path}/zarr.json is damaged ({exc})") from None


def zarr_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Shape of the Zarr v3 array at ``path`` (from its metadata only).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    tuple of int
    """
    return tuple(int(s) for s in _metadata(Path(path))["shape"])


class ZarrRowArray:
    """A (N, D) Zarr v3 array of a run written in row blocks (the interface of ``store.RowArray``).

    Parameters
    ----------
    path : Path
        The array's directory (``.../<layer>.zarr``).
    shape : tuple of int
        Full shape (rows first), used when ``create``.
    dtype : numpy dtype
    chunk_rows : int
        Rows per chunk (the collection's ``chunk_size``), used when ``create``.
    create : bool
        Create the array (replacing one there); else open the existing one.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.typing.DTypeLike, *, chunk_rows: int = 2048,
                 create: bool):
        try:
            import zarr
        except ImportError:
            raise ImportError("the zarr store needs zarr >= 3: pip install 'topoact[scale]'") from None

        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        if create:
            chunks = (max(1, min(int(chunk_rows), max(int(shape[0]), 1))),) + tuple(int(s) for s in shape[1:])
            self.array = zarr.create_array(str(self.path), shape=tuple(shape), chunks=chunks, dtype=self.dtype,
                                           compressors=None, filters=None, fill_value=0, overwrite=True,
                                           zarr_format=3)
        else:
            self.array = zarr.open_array(str(self.path), mode="r+")
        self.shape = tuple(self.array.shape)

    def write(self, start_row: int, rows: np.ndarray) -> None:
        """Write ``rows`` (k, ...) at rows ``start_row .. start_row + k``.

        Parameters
        ----------
        start_row : int
        rows : ndarray, shape (k, *shape[1:])
        """
        from ..store import checked_rows

        rows = checked_rows(self, start_row, rows)
        if len(rows):
            self.array[start_row:start_row + len(rows)] = rows

    def read(self, start_row: int, stop_row: int) -> np.ndarray:
        """Rows ``start_row .. stop_row`` as an in-memory array."""
        return np.asarray(self.array[start_row:stop_row])

    def shrink(self, n_rows: int) -> None:
        """Cut the array to its first ``n_rows`` rows."""
        self.array.resize((int(n_rows),) + self.shape[1:])
        self.shape = tuple(self.array.shape)


def _raw_layout(meta: dict) -> tuple[int, str] | None:
    """(rows per chunk, chunk key prefix) when chunks are raw full-width row blocks, else None."""
    shape = meta.get("shape", [])
    chunks = meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape", [])
    encoding = meta.get("chunk_key_encoding", {})
    if (meta.get("zarr_format") != 3 or meta.get("node_type") != "array" or len(shape) != 2
            or meta.get("chunk_grid", {}).get("name") != "regular" or len(chunks) != 2 or chunks[1] != shape[1]
            or meta.get("codecs") != _RAW_CODECS or meta.get("storage_transformers")
            or encoding.get("name") not in ("default", None)):
        return None
    separator = encoding.get("configuration", {}).get("separator", "/")
    return int(chunks[0]), separator


def read_zarr(path: str | os.PathLike) -> np.ndarray:
    """A whole (N, D) Zarr v3 array read into memory.

    Parameters
    ----------
    path : str or PathLike
        Local directory of the array (any fsspec URL goes through zarr).

    Returns
    -------
    ndarray, shape (N, D)
        Read-only. Chunks never written hold the fill value.

    Raises
    ------
    topoact.errors.DamagedRunError
        No array there, or a chunk file shorter than its rows.
    """
    from ..errors import DamagedRunError

    local = "://" not in str(path)
    meta = _metadata(Path(path)) if local else {}
    layout = _raw_layout(meta) if local else None
    if layout is None:
        import zarr

        out = np.asarray(zarr.open_array(str(path), mode="r")[...])
        out.flags.writeable = False
        _remember_source(out, os.path.abspath(str(path)) if local else str(path))
        return out
    chunk_rows, separator = layout
    n, d = (int(s) for s in meta["shape"])
    dtype = np.dtype(meta["data_type"]).newbyteorder("<")
    out = np.empty((n, d), dtype=dtype)

    def read_chunk(i: int) -> None:
        start, stop = i * chunk_rows, min((i + 1) * chunk_rows, n)
        name = Path(path) / f"c{separator}{i}{separator}0"
        try:
            handle = open(name, "rb")
        except FileNotFoundError:  # never written: fill value
            out[start:stop] = meta.get("fill_value", 0) or 0
            return
        with handle:
            view = memoryview(out[start:stop]).cast("B")
            got = handle.readinto(view)
        if got != view.nbytes:
            raise DamagedRunError(f"{name} is truncated ({got:,} of {view.nbytes:,} bytes)")

    # file reads release the GIL: a few threads keep the disk / page cache busy
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        list(pool.map(read_chunk, range((n + chunk_rows - 1) // chunk_rows)))
    out.flags.writeable = False
    _remember_source(out, os.path.abspath(str(path)))
    return out
