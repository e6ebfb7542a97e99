"""``topoact convert RUN --store zarr|npy``: rewrite a finished run's activations in the other store.

Runs written by earlier releases (``.npy``) open as they are; converting is only needed to get
Zarr arrays (for dask / xarray readers, or an object store). Each layer is copied chunk by chunk
into a temporary array renamed into place; ``meta.json`` switches to the new store only when every
layer is copied, then the old files are removed. A conversion killed at any point leaves a
readable run (old store, or new store with stale old files that the next convert removes).
The layer fingerprints do not depend on the store, so cached graphs and results stay valid.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..fileio import write_json
from ..runlock import RunLock
from ..store import META, RowArray, _remove, _swap_into_place, activation_path, open_run
from .zarr_array import ZarrRowArray

__all__ = ["convert_run"]

log = logging.getLogger(__name__)


def _writer(path: Path, shape: tuple, chunk_rows: int):
    if path.name.endswith(".zarr.converting"):
        return ZarrRowArray(path, shape, "float32", chunk_rows=chunk_rows, create=True)
    return RowArray(path, shape, "float32", create=True)


def convert_run(path: str | os.PathLike, store: str) -> Path:
    """Convert a finished run's activation arrays to ``store`` in place.

    Parameters
    ----------
    path : str or PathLike
        A finished run directory.
    store : {"npy", "zarr"}

    Returns
    -------
    Path
        The run directory.

    Raises
    ------
    topoact.errors.InvalidParameterError
        Unknown store.
    topoact.runlock.RunLockedError
        A collect is writing the run.
    """
    from ..config import check_choice

    check_choice("store", store, ("npy", "zarr"))
    path = Path(path)
    with RunLock(path):
        run = open_run(path)
        old = run.store
        chunk = int(run.meta.get("chunk_size", 2048))
        if old != store:
            for layer in run.layers:
                X = run.activations(layer)
                target = activation_path(path, layer, store)
                temporary = target.with_name(target.name + ".converting")
                _remove(temporary)
                writer = _writer(temporary, tuple(X.shape), chunk)
                for start in range(0, X.shape[0], chunk):
                    writer.write(start, X[start:start + chunk])
                _swap_into_place(temporary, target)
                log.info("converted %s to %s", layer, target)
            meta = dict(run.meta)
            meta["store"] = store
            write_json(path / META, meta)
        for layer in run.layers:  # the other store's files (also those a killed convert left)
            for other in ("npy", "zarr"):
                if other != store:
                    _remove(activation_path(path, layer, other))
    return path
