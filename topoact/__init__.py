"""topoact: topological activation explorer for PyTorch image models.

Public API (imported lazily so ``import topoact`` stays cheap)::

    run = topoact.collect("cifar-resnet20", "path/to/images", ["layer1", "layer3"], out="runs/r20",
                          weights="resnet20.th")
    run = topoact.open_run("runs/r20")
    X = run.activations("layer3")          # (N, D) float32 memory map

Conv maps (B, C, H, W) and token sequences (B, L, C) are stored reduced over positions by
``topoact.reduce.reduce`` (``reduce="gap" | "center" | "random"``).
"""
from __future__ import annotations

import os
import sys

from .lazy import lazy_exports

# numba's OpenMP threading layer kills any child forked after one of its parallel kernels ran
# ("fork() called from a process already using GNU OpenMP"), and the app forks its background
# jobs after the server has run UMAP or the persistence certificate. numba's own workqueue layer
# is fork-safe; a user's NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    if "numba" in sys.modules:  # imported before topoact: its config was read already
        sys.modules["numba"].config.THREADING_LAYER = "workqueue"

__version__ = "0.1.0"

_MODULES = {
    "collection": ["collect", "activations_for_images"],
    "store": ["open_run", "Run"],
    "models": ["load_model"],
    "models.base": ["ModelBundle"],
    "models.layers": ["list_layers"],
    "data": ["open_dataset"],
    "data.base": ["ImageSet"],
    "anomaly": ["anomalies"],
    "series": ["open_series", "collect_series"],
}
# ``import topoact`` does not import torch: the public names are imported on first use
__getattr__, __dir__, _LAZY = lazy_exports(__name__, _MODULES)
__all__ = _LAZY + ["__version__"]
