"""The built-in demo: the demo CNN on the generated ``shapes`` set, collected and mapped.

Everything is local and cached under :func:`topoact.cachedir.cache_dir` (the user's cache
directory, or ``$TOPOACT_CACHE_DIR`` when set; never the source tree): the first start trains the demo CNN (about half a minute on one
core), collects 4,000 images at four depths and builds one Mapper graph per layer; later starts
find the finished run and only serve it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Run

log = logging.getLogger(__name__)

DEMO_DATA = "shapes:4000"
#: after each pooling block (global-average-pooled) and the logits: shallow to deep.
DEMO_LAYERS = ["block1", "block2", "block3", "linear"]


def demo_run_dir() -> Path:
    """Where :func:`prepare_demo` keeps the demo run by default: ``<cache_dir()>/demo-run``.

    Returns
    -------
    Path
    """
    from .cachedir import cache_dir

    return cache_dir("demo-run")


def prepare_demo(out: str | Path | None = None, *, progress: bool = False) -> "Run":
    """Train (or load) the demo model, collect the demo run and build its Mapper graphs.

    Parameters
    ----------
    out : str or Path, optional
        Run directory (default :func:`demo_run_dir`).
    progress : bool
        Show a progress bar on stderr while collecting (the CLI does).

    Returns
    -------
    Run
        The opened demo run. Safe to call repeatedly: each step is cached.
    """
    from .collection import collect
    from .mapper import MapperConfig, build_run_graph

    out = Path(out) if out is not None else demo_run_dir()
    run = collect("demo", DEMO_DATA, DEMO_LAYERS, out=out, reduce="gap", batch_size=200, chunk_size=1000,
                  progress=progress)
    for layer in run.layers:
        build_run_graph(run, layer, MapperConfig(), default=None)   # default only if none yet
    return run
