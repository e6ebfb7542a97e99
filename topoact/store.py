"""The run directory: per-layer activation matrices and per-image tables on disk.

Everything here is plain NPY / NPZ / JSON so a run stays readable without topoact (see the
README's "Run directory" section). ``RunWriter`` fills the arrays chunk by chunk with positioned
file writes (no memory map is held dirty, so resident memory does not grow with N) and records
each finished chunk in ``progress.json`` with an atomic rename: a process killed at any point
resumes from the last completed chunk. ``Run`` is the read side used by every analysis and the app.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from . import npyfile
from .errors import DamagedRunError, UnknownLayerError
from .fileio import read_json, safe_name, save_npy, write_json

if TYPE_CHECKING:
    from PIL import Image

    from .models.base import ModelBundle

log = logging.getLogger(__name__)


class cached_property(functools.cached_property):  # noqa: N801 - a drop-in for functools'
    """``functools.cached_property`` without its lock, as in Python 3.12.

    On Python 3.11 every first computation holds one lock per property *class-wide*. The app
    forks background jobs from the server while request threads read a run; a child forked while
    another thread was computing, say, ``Run.labels`` inherits that lock held and waits for ever
    on its own first ``run.labels``. Two threads computing the same value at once is harmless
    here (each reads the same file).
    """

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        cache = instance.__dict__
        if self.attrname not in cache:
            cache[self.attrname] = self.func(instance)
        return cache[self.attrname]


META = "meta.json"
PROGRESS = "progress.json"
INDEX = "index.json"
REPORT = "report.json"
ATTRIBUTES = "attributes.npz"
THUMBNAILS = "thumbnails.npy"
ACTIVATIONS = "activations"
GRAPHS = "graphs"
DEFAULT_GRAPH = "default"
#: the per-image tables of a finished run, one row per image each
TABLE_FILES = ("labels.npy", "predictions.npy", "probabilities.npy", "source_index.npy")
FORMAT_VERSION = 1
#: suffix of a layer stored as a Zarr v3 array (``activations/<layer>.zarr``)
ZARR_SUFFIX = ".zarr"


class IncompleteRunError(RuntimeError):
    """The run directory holds a collection that has not finished (it can be resumed)."""


#: how to repair a damaged run, quoted by every error that finds one
REPAIR = ("re-run the collect command that made it with --overwrite to rebuild it "
          "(`topoact check RUN` lists every problem)")


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run written by topoact (finished or not).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    bool
        True when ``path/meta.json`` is a JSON object with topoact's ``format`` and
        ``config_hash`` entries.

    Raises
    ------
    topoact.fileio.DamagedFileError
        ``meta.json`` exists but is not valid JSON (it names the file).
    """
    meta_path = Path(path) / META
    if not meta_path.is_file():
        return False
    meta = read_json(meta_path)
    return isinstance(meta, dict) and "format" in meta and "config_hash" in meta


def load_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a run file; a missing, truncated or damaged file raises DamagedRunError.

    Parameters
    ----------
    path : str or PathLike
        An ``.npy`` file of a run.
    mmap : bool
        Memory-map it read-only instead of reading it.

    Returns
    -------
    ndarray
    """
    path = Path(path)
    try:
        return npyfile.load(path, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise DamagedRunError(f"{path} is missing; {REPAIR}") from None
    except (ValueError, OSError, EOFError) as exc:
        # e.g. "mmap length is greater than file size" for a truncated file
        raise DamagedRunError(f"{path} is truncated or damaged ({exc}); {REPAIR}") from None


def _check_npy_size(path: Path) -> None:
    """DamagedRunError when an .npy file is shorter than its header says (read: header only)."""
    try:
        shape, dtype, offset = _npy_header(path)
        expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    except (ValueError, OSError, EOFError) as exc:
        raise DamagedRunError(f"{path} is not a readable .npy file ({exc}); {REPAIR}") from None
    size = path.stat().st_size
    if size < expected:
        raise DamagedRunError(f"{path} is truncated ({size:,} bytes, its header needs {expected:,}); {REPAIR}")


def layer_filename(layer: str) -> str:
    """File-system-safe name for a module path (module paths are usually safe already).

    Parameters
    ----------
    layer : str

    Returns
    -------
    str
        ``layer`` itself when made of ``[A-Za-z0-9_.-]``, else ``layer-<hash>``
        (:func:`topoact.fileio.safe_name`).
    """
    return safe_name(layer, prefix="layer-")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of an .npy file, from its header alone."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read(handle)
        return tuple(shape), dtype, handle.tell()


def _npy_size(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of the .npy file of an array of this shape and dtype (a stored layer's size whatever
    its store, so converting a run keeps its fingerprints and cached results)."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.tell() + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _npy_data_offset(path: Path) -> int:
    return _npy_header(path)[2]


def _shrink_npy(path: Path, n_rows: int) -> None:
    """Cut an .npy file to its first ``n_rows`` rows in place (header rewritten, file truncated).

    Skipped images leave the preallocated tail unused; copying a 100k x 2048 matrix to drop it
    would double the disk traffic, so the header is rewritten at the same length instead.
    """
    array = npyfile.load(path, mmap_mode="r")
    shape = (n_rows,) + array.shape[1:]
    dtype, fortran = array.dtype, np.isfortran(array)
    offset = _npy_data_offset(path)
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * dtype.itemsize
    del array
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}
    buffer = io.BytesIO()
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(buffer, header)
    if buffer.tell() != offset:  # cannot happen for fewer rows; guard against format changes
        raise RuntimeError(f"cannot shrink {path} in place: header length changed")
    with open(path, "r+b") as handle:
        handle.write(buffer.getvalue())
        handle.truncate(offset + n_rows * row_bytes)


def checked_rows(array: Any, start_row: int, rows: np.ndarray) -> np.ndarray:
    """``rows`` as a C-contiguous array of ``array.dtype``, or ValueError when they do not fit
    ``array`` (with ``path``, ``shape``, ``dtype``) at ``start_row``."""
    rows = np.ascontiguousarray(rows, dtype=array.dtype)
    if rows.shape[1:] != array.shape[1:]:
        raise ValueError(f"{array.path.name}: rows of shape {rows.shape[1:]}, expected {array.shape[1:]}")
    if start_row + len(rows) > array.shape[0]:
        raise ValueError(f"{array.path.name}: writing past the end ({start_row}+{len(rows)} > {array.shape[0]})")
    return rows


class RowArray:
    """A preallocated on-disk .npy array written row block by row block.

    Parameters
    ----------
    path : Path
    shape : tuple of int
        Full shape, rows first (used when ``create``).
    dtype : numpy dtype
    create : bool
        Create (sparse) the file; else open the existing one.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.typing.DTypeLike, *, create: bool):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        if create:
            # open_memmap only writes the header and sizes the (sparse) file.
            np.lib.format.open_memmap(self.path, mode="w+", dtype=self.dtype, shape=shape)
        self.shape = npyfile.load(self.path, mmap_mode="r").shape
        self.offset = _npy_data_offset(self.path)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def write(self, start_row: int, rows: np.ndarray) -> None:
        """Write ``rows`` (k, ...) at rows ``start_row .. start_row + k`` and fsync.

        Parameters
        ----------
        start_row : int
        rows : ndarray, shape (k, *shape[1:])
        """
        rows = checked_rows(self, start_row, rows)
        with open(self.path, "r+b") as handle:
            handle.seek(self.offset + start_row * self.row_bytes)
            handle.write(rows.tobytes())
            handle.flush()
            os.fsync(handle.fileno())

    def read(self, start_row: int, stop_row: int) -> np.ndarray:
        """Rows ``start_row .. stop_row`` as an in-memory array."""
        return np.array(npyfile.load(self.path, mmap_mode="r")[start_row:stop_row])

    def shrink(self, n_rows: int) -> None:
        """Cut the file to its first ``n_rows`` rows (in place)."""
        _shrink_npy(self.path, n_rows)
        self.shape = (int(n_rows),) + self.shape[1:]


class RunWriter:
    """Write side of a run directory; ``collect`` drives it chunk by chunk.

    Two layouts of the rows being written, both resumable chunk by chunk:

    - sequential (one writer, :meth:`write_chunk`): each chunk's readable rows follow the
      previous chunk's, ``progress.json`` counts ``chunks_done``;
    - slots (many writers, :meth:`pending_chunks` / :meth:`commit_slot`): chunk ``c`` owns rows
      ``c * chunk_size ..`` so chunks can finish in any order; ``progress.json`` lists the
      committed chunks with their row counts, and :meth:`finish` closes the gaps left by
      unreadable images (each array copied once, then renamed into place).

    Parameters
    ----------
    path : run directory
    meta : dict written to meta.json (must hold ``config_hash``; ``store`` is ``npy`` (default)
        or ``zarr``, ``chunk_size`` the rows per chunk)
    n_rows : number of images planned (rows are preallocated, cut at ``finish`` if some were skipped)
    layer_dims : {layer: D}
    n_classes : width of the probability table
    thumbnail_shape : (h, w) when the dataset cannot be reopened later, else None
    """

    def __init__(self, path: str | os.PathLike, *, meta: dict, n_rows: int, layer_dims: dict[str, int], n_classes: int,
                 thumbnail_shape: tuple[int, int] | None = None):
        self.path = Path(path)
        self.meta = dict(meta)
        self.n_rows = int(n_rows)
        self.layer_dims = dict(layer_dims)
        self.n_classes = int(n_classes)
        self.thumbnail_shape = thumbnail_shape
        self.store = str(self.meta.get("store", "npy"))
        if self.store not in ("npy", "zarr"):
            raise ValueError(f"store must be 'npy' or 'zarr', got {self.store!r}")
        self.chunk_size = int(self.meta.get("chunk_size", 2048))
        self.progress = self._load_or_create()

    # -- set-up / resume ----------------------------------------------------------------------
    def _array_specs(self) -> dict[str, tuple[Path, tuple, str]]:
        n = self.n_rows
        specs = {
            "labels": (self.path / "labels.npy", (n,), "int64"),
            "predictions": (self.path / "predictions.npy", (n,), "int64"),
            "probabilities": (self.path / "probabilities.npy", (n, max(self.n_classes, 1)), "float32"),
            "source_index": (self.path / "source_index.npy", (n,), "int64"),
        }
        for layer, dim in self.layer_dims.items():
            specs["act:" + layer] = (activation_path(self.path, layer, self.store), (n, dim), "float32")
        if self.thumbnail_shape is not None:
            h, w = self.thumbnail_shape
            specs["thumbnails"] = (self.path / THUMBNAILS, (n, h, w, 3), "uint8")
        return specs

    def _open_array(self, path: Path, shape: tuple, dtype: str, *, create: bool, zarr: bool | None = None):
        if path.suffix == ZARR_SUFFIX if zarr is None else zarr:
            from .storage.zarr_array import ZarrRowArray

            return ZarrRowArray(path, shape, dtype, chunk_rows=self.chunk_size, create=create)
        return RowArray(path, shape, dtype, create=create)

    def _load_or_create(self) -> dict:
        meta_path, progress_path = self.path / META, self.path / PROGRESS
        resuming = meta_path.exists() and progress_path.exists()
        if resuming:
            old = read_json(meta_path)
            if old.get("config_hash") != self.meta["config_hash"]:
                raise FileExistsError(
                    f"{self.path} already holds a different run (model/data/layers/reduction differ); "
                    "choose another --out directory or pass overwrite=True (--overwrite)")
            if old.get("store", "npy") != self.store:
                raise FileExistsError(
                    f"{self.path} stores its activations as {old.get('store', 'npy')}, not {self.store}: resume it "
                    f"with --store {old.get('store', 'npy')} (`topoact convert` converts a finished run)")
            progress = read_json(progress_path)
            log.info("resuming %s after chunk %d (%d rows done)", self.path, progress["chunks_done"], progress["rows_done"])
            for path, _shape, _dtype in self._array_specs().values():
                _finish_swap(path)  # a compaction killed between its two renames
        else:
            # meta.json first: a folder topoact started is recognisable as a run from then on
            (self.path / ACTIVATIONS).mkdir(parents=True, exist_ok=True)
            self.meta["status"] = "running"
            write_json(meta_path, self.meta)
            progress = {"config_hash": self.meta["config_hash"], "chunks_done": 0, "rows_done": 0, "skipped": []}
        self.arrays = {name: self._open_array(p, shape, dtype, create=not resuming)
                       for name, (p, shape, dtype) in self._array_specs().items()}
        if not resuming:
            write_json(progress_path, progress)
        return progress

    @property
    def chunks_done(self) -> int:
        """Chunks committed so far."""
        return int(self.progress["chunks_done"])

    @property
    def rows_done(self) -> int:
        """Rows (readable images) committed so far."""
        return int(self.progress["rows_done"])

    @property
    def slotted(self) -> bool:
        """Whether the rows are written in the slot layout (parallel writers)."""
        return self.progress.get("layout") == "slots"

    # -- writing ------------------------------------------------------------------------------
    def _write_rows(self, start: int, *, source_index, labels, predictions, probabilities,
                    activations: dict, thumbnails) -> None:
        if not len(source_index):
            return
        self.arrays["source_index"].write(start, source_index)
        self.arrays["labels"].write(start, labels)
        self.arrays["predictions"].write(start, predictions)
        self.arrays["probabilities"].write(start, probabilities)
        for layer, rows in activations.items():
            self.arrays["act:" + layer].write(start, rows)
        if thumbnails is not None and "thumbnails" in self.arrays:
            self.arrays["thumbnails"].write(start, thumbnails)

    def write_chunk(self, *, source_index: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                    probabilities: np.ndarray, activations: dict[str, np.ndarray],
                    thumbnails: np.ndarray | None = None, skipped: list[dict] = ()) -> None:
        """Append one chunk's rows, then mark the chunk done (the commit point for resume).

        Parameters
        ----------
        source_index : ndarray of int64, shape (k,)
            Data set positions of the chunk's readable images.
        labels, predictions : ndarray of int64, shape (k,)
        probabilities : ndarray of float32, shape (k, C)
        activations : dict of str to ndarray of float32, shape (k, D_layer)
        thumbnails : ndarray of uint8, shape (k, h, w, 3), optional
        skipped : list of dict
            The chunk's unreadable images (``source_index``, ``id``, ``path``, ``reason``).
        """
        if self.slotted:
            raise ValueError(f"{self.path} was started by parallel workers (--scheduler); resume it with "
                             "the same collect command including --scheduler")
        start = self.rows_done
        self._write_rows(start, source_index=source_index, labels=labels, predictions=predictions,
                         probabilities=probabilities, activations=activations, thumbnails=thumbnails)
        self.progress = {
            **self.progress,
            "chunks_done": self.chunks_done + 1,
            "rows_done": start + len(source_index),
            "skipped": list(self.progress["skipped"]) + list(skipped),
        }
        write_json(self.path / PROGRESS, self.progress)

    def pending_chunks(self, n_chunks: int) -> list[int]:
        """Chunks still to write, switching the run to the slot layout (for parallel writers).

        A run started by one writer converts when its committed rows are exactly its chunks'
        slots (no image skipped so far); otherwise ValueError (resume it without a scheduler).

        Parameters
        ----------
        n_chunks : int

        Returns
        -------
        list of int
            Chunk numbers, ascending.
        """
        if not self.slotted:
            done, size = self.chunks_done, self.chunk_size
            if self.rows_done != min(done * size, self.n_rows):
                raise ValueError(f"{self.path} was started by one process and skipped images; resume it with "
                                 "the same collect command without --scheduler")
            chunks = {str(c): min(size, self.n_rows - c * size) for c in range(done)}
            self.progress = {**self.progress, "layout": "slots", "chunks": chunks}
            write_json(self.path / PROGRESS, self.progress)
        done = self.progress["chunks"]
        return [c for c in range(int(n_chunks)) if str(c) not in done]

    def slot_start(self, chunk: int) -> int:
        """First row of chunk ``chunk``'s slot."""
        return int(chunk) * self.chunk_size

    def commit_slot(self, chunk: int, *, source_index: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                    probabilities: np.ndarray, activations: dict[str, np.ndarray] | None = None,
                    thumbnails: np.ndarray | None = None, skipped: list[dict] = ()) -> None:
        """Write one chunk's tables (and any activations given) into its slot and commit it.

        Parameters are those of :meth:`write_chunk`; activations already written into the slot
        by a worker are left out.
        """
        if not self.slotted:
            raise ValueError("call pending_chunks() first: the run is not in the slot layout")
        start = self.slot_start(chunk)
        if len(source_index) > min(self.chunk_size, self.n_rows - start):
            raise ValueError(f"chunk {chunk}: {len(source_index)} rows do not fit its slot")
        self._write_rows(start, source_index=source_index, labels=labels, predictions=predictions,
                         probabilities=probabilities, activations=activations or {}, thumbnails=thumbnails)
        chunks = {**self.progress["chunks"], str(int(chunk)): int(len(source_index))}
        self.progress = {**self.progress, "chunks": chunks, "chunks_done": len(chunks),
                         "rows_done": int(sum(chunks.values())),
                         "skipped": list(self.progress["skipped"]) + list(skipped)}
        write_json(self.path / PROGRESS, self.progress)

    def compact(self) -> None:
        """Close the gaps between slots: each array copied once, then renamed into place."""
        size = self.chunk_size
        runs = [(int(c) * size, int(k)) for c, k in sorted(self.progress["chunks"].items(), key=lambda i: int(i[0]))]
        if all(start == sum(k for _, k in runs[:i]) for i, (start, _) in enumerate(runs)):
            return  # rows already contiguous (nothing skipped, or only at the very end)
        rows = self.rows_done
        compacted = set(self.progress.get("compacted", []))
        for name, (path, shape, dtype) in self._array_specs().items():
            if name in compacted:
                continue
            source = self.arrays[name]
            temporary = path.with_name(path.name + COMPACT_SUFFIX)
            _remove(temporary)
            target = self._open_array(temporary, (rows,) + tuple(shape[1:]), dtype, create=True,
                                      zarr=path.suffix == ZARR_SUFFIX)
            position = 0
            for start, k in runs:
                if k:
                    target.write(position, source.read(start, start + k))
                    position += k
            _swap_into_place(temporary, path)
            self.arrays[name] = self._open_array(path, shape, dtype, create=False)
            compacted.add(name)
            self.progress = {**self.progress, "compacted": sorted(compacted)}
            write_json(self.path / PROGRESS, self.progress)

    def finish(self, *, index: dict, attributes: dict[str, np.ndarray], report: dict) -> None:
        """Cut arrays to the rows written, write the tables and mark the run complete.

        Parameters
        ----------
        index : dict
            ``{"ids": [...], "paths": [...]}``, one entry per row.
        attributes : dict of str to ndarray, shape (N,)
        report : dict
            Counts and timing written to ``report.json`` (with the skipped images).
        """
        rows = self.rows_done
        if self.slotted:
            self.compact()
        for array in self.arrays.values():
            if array.shape[0] > rows:
                array.shrink(rows)
        np.savez(self.path / ATTRIBUTES, **{k: np.asarray(v) for k, v in attributes.items()})
        write_json(self.path / INDEX, index)
        skipped = sorted(self.progress["skipped"], key=lambda item: int(item.get("source_index", 0)))
        write_json(self.path / REPORT, {**report, "skipped": skipped})
        self.meta["status"] = "complete"
        self.meta["n_rows"] = rows
        write_json(self.path / META, self.meta)


COMPACT_SUFFIX = ".compact"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _swap_into_place(new: Path, path: Path) -> None:
    """Replace ``path`` (file or directory) by ``new``; :func:`_finish_swap` completes a swap
    killed between its two renames."""
    if new.is_dir():
        old = path.with_name(path.name + ".old")
        _remove(old)
        if path.exists():
            os.rename(path, old)
        os.rename(new, path)
        _remove(old)
    else:
        os.replace(new, path)


def _finish_swap(path: Path) -> None:
    new = path.with_name(path.name + COMPACT_SUFFIX)
    if not path.exists() and new.is_dir() and path.with_name(path.name + ".old").exists():
        os.rename(new, path)
        _remove(path.with_name(path.name + ".old"))


def activation_path(run_path: str | os.PathLike, layer: str, store: str = "npy") -> Path:
    """Where a layer's activations live in a run: ``activations/<layer>.npy`` or ``.zarr``.

    Parameters
    ----------
    run_path : str or PathLike
    layer : str
    store : {"npy", "zarr"}

    Returns
    -------
    Path
    """
    return Path(run_path) / ACTIVATIONS / (layer_filename(layer) + (ZARR_SUFFIX if store == "zarr" else ".npy"))


def open_layer_writer(run_path: str | os.PathLike, layer: str, store: str = "npy"):
    """The activation array of ``layer`` in a run being written, opened for row writes (workers).

    Parameters
    ----------
    run_path : str or PathLike
    layer : str
    store : {"npy", "zarr"}

    Returns
    -------
    RowArray or topoact.storage.ZarrRowArray
        With ``write(start_row, rows)``.
    """
    path = activation_path(run_path, layer, store)
    if store == "zarr":
        from .storage.zarr_array import ZarrRowArray

        return ZarrRowArray(path, (), "float32", create=False)
    return RowArray(path, (), "float32", create=False)


class Run:
    """Read side of a run directory (see ``docs/design.md``): arrays are memory-mapped.

    Parameters
    ----------
    path : the run directory
    model : optional ModelBundle or nn.Module to attach when the run's model cannot be rebuilt from
        its spec (models given to ``collect`` as Python objects)
    """

    def __init__(self, path: str | os.PathLike, *, model: Any = None):
        self.path = Path(path)
        if not (self.path / META).is_file():
            raise FileNotFoundError(f"{self.path} is not a topoact run directory (no {META}); "
                                    "create one with `topoact collect` or topoact.collect()")
        self.meta = read_json(self.path / META)
        if self.meta.get("status") != "complete":
            progress = read_json(self.path / PROGRESS) if (self.path / PROGRESS).exists() else {}
            raise IncompleteRunError(
                f"{self.path}: collection has not finished ({progress.get('chunks_done', 0)} of "
                f"{self.meta.get('n_chunks', '?')} chunks); re-run the same collect command to resume")
        self._check_files()
        self._model = model
        self._dataset = None

    def _check_files(self) -> None:
        """Every file a finished run must have, or DamagedRunError naming it and the repair."""
        required = list(TABLE_FILES) + [INDEX]
        zarr_layers = []
        for layer in self.meta.get("layers", {}):
            path = activation_path(self.path, layer, self.store)
            if self.store == "zarr":
                zarr_layers.append(path)
                required.append(str(path.relative_to(self.path) / "zarr.json"))
            else:
                required.append(str(path.relative_to(self.path)))
        missing = [name for name in required if not (self.path / name).is_file()]
        if missing:
            raise DamagedRunError(f"{self.path} is damaged: missing {', '.join(missing)}; {REPAIR} "
                                  "(or copy the files back)")
        for name in required:
            if name.endswith(".npy"):
                _check_npy_size(self.path / name)
        for path in zarr_layers:
            from .storage.zarr_array import zarr_shape

            if zarr_shape(path)[0] != self.n:
                raise DamagedRunError(f"{path} holds {zarr_shape(path)[0]} rows, the run {self.n}; {REPAIR}")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, n={self.n}, layers={self.layers})"

    # -- tables -------------------------------------------------------------------------------
    @property
    def store(self) -> str:
        """How activations are stored: ``npy`` (memory-mapped files) or ``zarr`` (Zarr v3 arrays)."""
        return str(self.meta.get("store", "npy"))

    def activation_path(self, layer: str) -> Path:
        """The file (``.npy``) or Zarr array directory (``.zarr``) of a layer's activations."""
        self._check_layer(layer)
        return activation_path(self.path, layer, self.store)

    @property
    def layers(self) -> list[str]:
        """The collected layers, in collection order."""
        return list(self.meta["layers"])

    @property
    def n(self) -> int:
        """Number of rows (readable images)."""
        return int(self.meta["n_rows"])

    @property
    def class_names(self) -> list[str]:
        """Names of the model's classes: the columns of ``probabilities``, the values of ``predictions``."""
        return list(self.meta.get("class_names", []))

    @property
    def label_names(self) -> list[str]:
        """Names of the values of ``labels``: the model's class names when the data set's classes
        were matched onto them, else the data set's own (see :mod:`topoact.data.classes`)."""
        return list(self.meta.get("label_names", self.meta.get("class_names", [])))

    @property
    def labels_match_model(self) -> bool:
        """Whether ``labels`` and ``predictions`` index the same classes (accuracy is meaningful)."""
        return bool(self.meta.get("labels_match_model", True))

    def reduce_of(self, layer: str) -> str:
        """How ``layer`` was reduced over positions: ``gap``/``center``/``random``, or ``none``.

        Parameters
        ----------
        layer : str

        Returns
        -------
        str
            Reads ``reduce`` (and the older key ``reduction``) of the layer, then of the run.
        """
        self._check_layer(layer)
        info = self.meta["layers"][layer]
        return str(info.get("reduce") or info.get("reduction") or self.meta.get("reduce")
                   or self.meta.get("reduction") or "gap")

    def _check_layer(self, layer: str) -> None:
        if layer not in self.meta["layers"]:
            raise UnknownLayerError(layer, self.layers, where=f"run {self.path}")

    def fingerprint(self, layer: str) -> str:
        """Digest of a layer's stored activations, recorded with every cached result.

        Size and a content digest (column sums over all rows, in float64, plus 64 evenly spaced
        rows): a truncated or rewritten file, or NaN rows written into it, changes it. Computed
        once per (size, mtime) in this process: one pass over the file (~0.1 s per 200 MB).

        Parameters
        ----------
        layer : str

        Returns
        -------
        str
            16 hex digits.
        """
        self._check_layer(layer)
        path = self.activation_path(layer)
        stat = path.stat()
        memo_key = (layer, stat.st_size, stat.st_mtime_ns)
        if self.store == "zarr":  # a directory: its chunk files' sizes and times
            memo_key = (layer, tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                                            for p in path.rglob("*") if p.is_file())))
        memo = self.__dict__.setdefault("_fingerprints", {})
        if memo_key not in memo:
            X = self.activations(layer)
            size = stat.st_size if self.store != "zarr" else _npy_size(X.shape, X.dtype)
            digest = hashlib.sha256(str((X.shape, X.dtype.str, size)).encode())
            sums = np.zeros(X.shape[1:], np.float64)
            for start in range(0, X.shape[0], 8192):
                sums += np.asarray(X[start:start + 8192], np.float64).sum(axis=0)
            digest.update(sums.tobytes())
            if X.shape[0]:
                rows = np.unique(np.linspace(0, X.shape[0] - 1, 64).astype(np.int64))
                digest.update(np.ascontiguousarray(X[rows]).tobytes())
            memo[memo_key] = digest.hexdigest()[:16]
        return memo[memo_key]

    def activations(self, layer: str) -> np.ndarray:
        """One layer's activation vectors.

        Parameters
        ----------
        layer : str

        Returns
        -------
        ndarray of float32, shape (N, D)
            Read-only: a memory map (``npy`` store) or, for a ``zarr`` store, the array read
            into memory once per Run object (:func:`topoact.storage.read_zarr`).

        Raises
        ------
        topoact.errors.UnknownLayerError
            ``layer`` was not collected (the message lists the run's layers).
        topoact.errors.DamagedRunError
            The file is missing or truncated (named, with the repair).
        """
        path = self.activation_path(layer)
        if self.store != "zarr":
            return load_npy(path, mmap=True)
        from .storage.zarr_array import read_zarr

        memo = self.__dict__.setdefault("_zarr_layers", {})
        stamp = (path / "zarr.json").stat().st_mtime_ns if (path / "zarr.json").exists() else None
        if memo.get(layer, (None,))[0] != stamp:
            memo[layer] = (stamp, read_zarr(path))
        return memo[layer][1]

    @cached_property
    def labels(self) -> np.ndarray:
        """(N,) int64 labels, -1 where unknown; their names are :attr:`label_names`."""
        return load_npy(self.path / "labels.npy")

    @cached_property
    def predictions(self) -> np.ndarray:
        """(N,) int64 predicted classes (indices into :attr:`class_names`)."""
        return load_npy(self.path / "predictions.npy")

    @property
    def probabilities(self) -> np.ndarray:
        """(N, C) float32 class probabilities (memory map)."""
        return load_npy(self.path / "probabilities.npy", mmap=True)

    @cached_property
    def source_index(self) -> np.ndarray:
        """(N,) int64 position of each row's image in the data set."""
        return load_npy(self.path / "source_index.npy")

    @cached_property
    def _index(self) -> dict:
        return read_json(self.path / INDEX)

    @property
    def ids(self) -> list[str]:
        """Stable id of each row's image (relative path for folders)."""
        return self._index["ids"]

    @property
    def paths(self) -> list[str | None]:
        """Absolute file of each row's image (None when not a file)."""
        return self._index["paths"]

    @cached_property
    def attributes(self) -> dict[str, np.ndarray]:
        """Per-row generative attributes ``{name: (N,)}`` (empty when the data set has none)."""
        return npyfile.load_npz(self.path / ATTRIBUTES)

    @property
    def attribute_kinds(self) -> dict[str, str]:
        """``{name: 'circular' | 'linear' | 'categorical'}``."""
        return dict(self.meta.get("attribute_kinds", {}))

    @property
    def attributes_meta(self) -> dict[str, dict]:
        """Extra facts per attribute, e.g. ``{"orientation": {"period": pi}}``."""
        return dict(self.meta.get("attributes_meta", {}))

    @cached_property
    def report(self) -> dict:
        """``report.json``: counts, timing and the skipped images with their reasons."""
        return read_json(self.path / REPORT) if (self.path / REPORT).exists() else {}

    # -- images and model ---------------------------------------------------------------------
    def image(self, row: int) -> "Image.Image":
        """The original image of a row (reopened from the data set spec, or from the stored
        thumbnails when the data set could not be reopened).

        Parameters
        ----------
        row : int

        Returns
        -------
        PIL.Image.Image
            RGB.
        """
        from PIL import Image

        row = int(row)
        if not 0 <= row < self.n:
            raise IndexError(f"row {row} out of range for a run of {self.n} images")
        if (self.path / THUMBNAILS).exists():
            return Image.fromarray(load_npy(self.path / THUMBNAILS, mmap=True)[row])
        if self._dataset is None:
            from .data import open_dataset

            self._dataset = open_dataset(self.meta["dataset"]["spec"])
        return self._dataset.load(int(self.source_index[row])).convert("RGB")

    def model(self) -> "ModelBundle":
        """The run's model as a ModelBundle (rebuilt from its spec and weights, or the attached one).

        Returns
        -------
        ModelBundle
        """
        from .models import load_model

        if self._model is None:
            spec = self.meta["model"]
            if not spec.get("reloadable", True):
                raise RuntimeError(
                    f"this run's model ({spec['spec']}) was given as a Python object and cannot be "
                    "rebuilt from the run directory; use topoact.open_run(path, model=your_model)")
            self._model = load_model(spec["spec"], weights=spec.get("weights"))
            if spec.get("hash") and self._model.hash and self._model.hash != spec["hash"]:
                log.warning("model hash %s differs from the run's %s: the weights file changed since collection",
                            self._model.hash, spec["hash"])
        elif not hasattr(self._model, "normalize"):
            self._model = load_model(self._model, **self.meta["model"].get("module_kwargs", {}))
        return self._model

    # -- results ------------------------------------------------------------------------------
    def results_dir(self, kind: str, create: bool = False) -> Path:
        """Folder of cached results of one kind; made only when ``create`` (reading never writes).

        Parameters
        ----------
        kind : str
            Lower-case letters and ``_`` (e.g. ``persistence``).
        create : bool

        Returns
        -------
        Path
        """
        if not re.fullmatch(r"[a-z_]+", kind):
            raise ValueError(f"bad results kind {kind!r}")
        path = self.path / kind
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def _graph_dir(self, layer: str) -> Path:
        return self.path / GRAPHS / layer_filename(layer)

    @staticmethod
    def _check_graph_key(key) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", str(key)) or key == DEFAULT_GRAPH:
            raise ValueError(f"bad graph key {key!r} (letters, digits, '_' and '-' only)")
        return str(key)

    def graph_keys(self, layer: str) -> list[str]:
        """Keys of the Mapper graphs saved for ``layer`` (sorted)."""
        self._check_layer(layer)
        folder = self._graph_dir(layer)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.json") if p.stem != DEFAULT_GRAPH)

    def default_graph_key(self, layer: str) -> str | None:
        """Key of the layer's default graph (None when no default was set or its file is gone)."""
        self._check_layer(layer)
        pointer = self._graph_dir(layer) / (DEFAULT_GRAPH + ".json")
        if not pointer.exists():
            return None
        key = read_json(pointer).get("key")
        return key if key in self.graph_keys(layer) else None

    def set_default_graph(self, layer: str, key: str) -> None:
        """Make the saved graph ``key`` the layer's default (what ``graph(layer)`` opens).

        Raises FileNotFoundError when no such graph is saved and ValueError for a graph with
        no nodes (an empty graph is never a default).
        """
        self._check_layer(layer)
        key = self._check_graph_key(key)
        folder = self._graph_dir(layer)
        path = folder / f"{key}.json"
        if not path.exists():
            raise FileNotFoundError(f"no graph {key!r} for layer {layer!r}; saved: {self.graph_keys(layer)}")
        if not read_json(path).get("nodes"):
            raise ValueError(f"graph {key!r} of layer {layer!r} has no nodes; it cannot be the default")
        write_json(folder / (DEFAULT_GRAPH + ".json"), {"key": key})

    def _resolve_graph_key(self, layer: str, key: str | None) -> str:
        if key is None:
            key = self.default_graph_key(layer)
            if key is None:
                raise FileNotFoundError(f"no Mapper graph saved for layer {layer!r}; build one with "
                                        f"`topoact mapper {self.path} --layer {layer}`")
        return self._check_graph_key(key)

    def graph(self, layer: str, key: str | None = None):
        """A saved Mapper graph of ``layer`` (the default one when ``key`` is None).

        Returns
        -------
        :class:`topoact.mapper.MapperGraph` (with its (K, D) ``node_means`` memory-mapped when
        they were saved). Graph files of every schema version (and without one) open.
        """
        from .mapper.graph import MapperGraph

        self._check_layer(layer)
        key = self._resolve_graph_key(layer, key)
        path = self._graph_dir(layer) / f"{key}.json"
        if not path.exists():
            raise FileNotFoundError(f"no graph {key!r} for layer {layer!r}; saved: {self.graph_keys(layer)}")
        data = read_json(path)
        data.setdefault("key", key)
        data.setdefault("layer", layer)
        try:
            return MapperGraph.from_dict(data, node_means=self._load_node_means(layer, data))
        except (KeyError, TypeError, ValueError) as exc:
            raise DamagedRunError(f"graph file {path} cannot be read ({exc}); delete it and "
                                  f"rebuild with `topoact mapper {self.path} --layer {layer}`") from exc

    def _load_node_means(self, layer: str, data: dict) -> np.ndarray | None:
        name = data.get("node_means")
        if not name or not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(name)):
            return None
        path = self._graph_dir(layer) / name
        return npyfile.load(path, mmap_mode="r") if path.exists() else None

    def node_means(self, layer: str, key: str | None = None) -> np.ndarray | None:
        """(K, D) mean activation vectors of a saved graph's nodes (None when not saved)."""
        self._check_layer(layer)
        key = self._resolve_graph_key(layer, key)
        path = self._graph_dir(layer) / f"{key}.node_means.npy"
        return npyfile.load(path) if path.exists() else None

    def save_graph(self, layer: str, graph, key: str | None = None,
                   node_means: np.ndarray | None = None, *, default: bool = False) -> Path:
        """Store a Mapper graph under ``key`` (default: ``graph.key``).

        Parameters
        ----------
        layer : layer name
        graph : MapperGraph (or its dict form)
        key : graph key (letters, digits, '_' and '-')
        node_means : (K, D) array, optional (default: ``graph.node_means``)
        default : also make it the layer's default graph. Saving never moves the default
            otherwise (exploring must not change what the next person opens).

        Returns
        -------
        Path of the graph JSON.
        """
        from .mapper.graph import MapperGraph

        self._check_layer(layer)
        if not isinstance(graph, MapperGraph):
            graph = MapperGraph.from_dict(graph, node_means=node_means)
        key = self._check_graph_key(key if key is not None else graph.key)
        if default and graph.n_nodes == 0:
            raise ValueError(f"graph {key!r} of layer {layer!r} has no nodes; it cannot be the default")
        folder = self._graph_dir(layer)
        folder.mkdir(parents=True, exist_ok=True)
        graph.layer, graph.key = layer, key
        means = node_means if node_means is not None else graph.node_means
        name = None
        if means is not None:
            name = f"{key}.node_means.npy"
            save_npy(folder / name, np.asarray(means, dtype=np.float32))
        write_json(folder / f"{key}.json", graph.to_dict(node_means_file=name), indent=None)
        if default:
            write_json(folder / (DEFAULT_GRAPH + ".json"), {"key": key})
        return folder / f"{key}.json"


def open_run(path: str | os.PathLike, *, model: Any = None) -> Run:
    """Open a finished run directory for reading.

    Parameters
    ----------
    path : str or PathLike
    model : ModelBundle or nn.Module, optional
        Attach the model of a run collected from a Python object (it cannot be rebuilt).

    Returns
    -------
    Run

    Raises
    ------
    FileNotFoundError, IncompleteRunError, DamagedRunError, DamagedFileError
        Not a run; not finished (resume it); a file missing or truncated; a damaged JSON file.
    """
    return Run(path, model=model)


@runtime_checkable
class RunLike(Protocol):
    """What the engines and the app read from a run (``Run`` implements it; so must test fakes).

    Attributes: ``path``, ``meta`` (dict), ``layers`` (list of names), ``n`` (rows),
    ``labels`` / ``predictions`` ((N,) int64), ``probabilities`` ((N, C) float32),
    ``class_names`` (of predictions), ``label_names`` (of labels: they differ when the data set's
    classes do not match the model's, see ``labels_match_model``), ``ids``, ``paths``,
    ``attributes`` ({name: (N,)}), ``attribute_kinds``, ``attributes_meta``.
    """

    path: Path
    meta: dict

    @property
    def layers(self) -> list[str]:
        """See :attr:`Run.layers`."""

    @property
    def n(self) -> int:
        """See :attr:`Run.n`."""

    def activations(self, layer: str) -> np.ndarray:
        """See :meth:`Run.activations`."""

    def fingerprint(self, layer: str) -> str:
        """See :meth:`Run.fingerprint`."""

    def results_dir(self, kind: str, create: bool = False) -> Path:
        """See :meth:`Run.results_dir`."""

    def image(self, row: int) -> "Image.Image":
        """See :meth:`Run.image`."""

    def model(self) -> "ModelBundle":
        """See :meth:`Run.model`."""
