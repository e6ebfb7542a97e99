"""Activation array back-ends of a run directory: ``.npy`` (memory-mapped, the default) and
Zarr v3 (one chunk per collection chunk; readable by zarr, dask and xarray without topoact).

:func:`topoact.storage.convert.convert_run` converts a finished run between the two.
"""
from .zarr_array import ZarrRowArray, read_zarr, zarr_shape

STORES = ("npy", "zarr")

__all__ = ["STORES", "ZarrRowArray", "read_zarr", "zarr_shape"]
