"""The built-in demo: the demo CNN on the generated ``shapes`` set, collected and mapped.

Everything is local and cached under :func:`topoact.cachedir.cache_dir` (the user's cache
directory, or ``$TOPOACT_CACHE_DIR`` when set; never the source tree): the first start trains the demo CNN (about half a minute on one
core), collects 4,000 images at four depths and builds one Mapper graph per layer; later starts
find the finished run and only serve it. Each layer's graph is the automatic choice of
:mod:`topoact.mapper.auto` (a UMAP fit per layer: the first one in a process also compiles
numba code).

The demo also holds a training series (:mod:`topoact.series`): the CNN's training saves a
checkpoint after every epoch (``demo-checkpoints-<recipe hash>/epoch_NN.pt``, one training serves
both the cached model and the checkpoints), and the first ``DEMO_SERIES_IMAGES`` demo images are
collected through each of them into ``<run>-series`` beside the demo run (layers ``DEMO_SERIES_LAYERS``), with the
timeline of ``DEMO_SERIES_LAYERS[0]`` built once; the demo run is attached to the series, so the
app shows its Timeline tab.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .series import Series
    from .store import Run

log = logging.getLogger(__name__)

DEMO_DATA = "shapes:4000"
#: after each pooling block (global-average-pooled) and the logits: shallow to deep.
DEMO_LAYERS = ["block1", "block2", "block3", "linear"]
#: the training series: the first images of the demo set through every epoch's checkpoint
DEMO_SERIES_IMAGES = 1000
DEMO_SERIES_LAYERS = ["block3", "linear"]


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
    from .mapper.auto import build_default_graph

    out = Path(out) if out is not None else demo_run_dir()
    checkpoints = demo_checkpoints()          # trains the CNN once when needed (model + checkpoints)
    run = collect("demo", DEMO_DATA, DEMO_LAYERS, out=out, reduce="gap", batch_size=200, chunk_size=1000,
                  progress=progress)
    for layer in run.layers:
        build_default_graph(run, layer, default=None)   # the automatic choice; default only if none yet
    prepare_demo_series(run, checkpoints, progress=progress)
    return run


def demo_checkpoint_dir() -> Path:
    """Where the demo CNN's per-epoch checkpoints live: ``<cache_dir()>/demo-checkpoints-<hash>``.

    Returns
    -------
    Path
    """
    from .cachedir import cache_dir
    from .models.demo import DEFAULT_CONFIG

    return cache_dir(f"demo-checkpoints-{DEFAULT_CONFIG.version_hash()}")


def demo_checkpoints() -> list[Path]:
    """The demo CNN's checkpoint after each training epoch, trained (once) when any is missing.

    A training run for them also caches the final model (``load_demo`` then finds it), so a
    fresh machine trains once.

    Returns
    -------
    list of Path
        ``epoch_01.pt`` ... in epoch order (state dicts).
    """
    import torch

    from .fileio import atomic_write
    from .models.demo import DEFAULT_CONFIG, demo_model_path, train_demo

    folder = demo_checkpoint_dir()
    paths = [folder / f"epoch_{e:02d}.pt" for e in range(1, DEFAULT_CONFIG.epochs + 1)]
    if all(p.is_file() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)

    def save(path: Path, obj: dict) -> None:
        atomic_write(path, lambda handle: torch.save(obj, handle), binary=True)

    def on_epoch(epoch: int, model) -> None:
        save(paths[epoch - 1], {k: v.detach().clone() for k, v in model.state_dict().items()})

    log.info("training the demo CNN with a checkpoint per epoch (once; cached in %s)", folder)
    model, meta = train_demo(DEFAULT_CONFIG, on_epoch=on_epoch)
    if not demo_model_path().is_file():
        save(demo_model_path(), {"state_dict": model.state_dict(), "meta": meta})
    return paths


def demo_series_dir(run_dir: str | Path | None = None) -> Path:
    """Where :func:`prepare_demo_series` keeps the demo series: beside the demo run, named
    ``<run name>-series`` (``<cache_dir()>/demo-run-series`` by default).

    Parameters
    ----------
    run_dir : str or Path, optional
        The demo run (default :func:`demo_run_dir`).

    Returns
    -------
    Path
    """
    run_dir = Path(run_dir) if run_dir is not None else demo_run_dir()
    return run_dir.with_name(run_dir.name + "-series")


def prepare_demo_series(run: "Run", checkpoints: list[Path] | None = None, *, out: str | Path | None = None,
                        progress: bool = False) -> "Series":
    """Collect the demo series (first ``DEMO_SERIES_IMAGES`` images through every epoch) and
    build the timeline of its first layer; ``run`` is attached (the app then finds the series).

    Parameters
    ----------
    run : Run
        The demo run.
    checkpoints : list of Path, optional
        Default :func:`demo_checkpoints`.
    out : str or Path, optional
        Series directory (default :func:`demo_series_dir` of the run).
    progress : bool
        tqdm bars on stderr.

    Returns
    -------
    Series
    """
    from .series import collect_series
    from .timeline import build_timeline

    checkpoints = demo_checkpoints() if checkpoints is None else checkpoints
    series = collect_series("demo", DEMO_DATA, DEMO_SERIES_LAYERS, weights=[str(p) for p in checkpoints],
                            out=Path(out) if out is not None else demo_series_dir(run.path), attached=[run.path],
                            reduce="gap", limit=DEMO_SERIES_IMAGES, batch_size=200, chunk_size=1000,
                            progress=progress)
    build_timeline(series, DEMO_SERIES_LAYERS[0])
    return series
