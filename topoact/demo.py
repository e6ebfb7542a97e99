"""The built-in demo: the demo CNN on the generated ``shapes`` set, collected and mapped.

Everything is local and cached under the demo cache directory (``data/cache`` in a checkout,
``$TOPOACT_CACHE_DIR`` when set): the first start trains the demo CNN (about half a minute on one
core), collects 4,000 images at four depths and builds one Mapper graph per layer; later starts
find the finished run and only serve it.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_DATA = "shapes:4000"
#: after each pooling block (global-average-pooled) and the logits: shallow to deep.
DEMO_LAYERS = ["block1", "block2", "block3", "linear"]


def demo_run_dir() -> Path:
    from .models.demo import cache_dir

    return cache_dir() / "demo-run"


def prepare_demo(out: str | Path | None = None, *, progress: bool = True):
    """Train (or load) the demo model, collect the demo run and build its Mapper graphs.

    Returns the opened ``Run``. Safe to call repeatedly: each step is cached.
    """
    from .collection import collect
    from .mapper.run_graphs import build_run_graph, mapper_params

    out = Path(out) if out is not None else demo_run_dir()
    run = collect("demo", DEMO_DATA, DEMO_LAYERS, out=out, reduce="gap", batch_size=200, chunk_size=1000,
                  progress=progress)
    for layer in run.layers:
        build_run_graph(run, layer, mapper_params())
    return run
