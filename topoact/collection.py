"""Collect layer activations of a model on an image set into a run directory.

One forward pass per batch feeds every chosen layer through forward hooks (under
``torch.inference_mode``); each hook reduces its output at once with :func:`topoact.reduce.reduce`
so full feature maps never pile up: ``gap`` (global average pooling), ``random`` (one position
per image, as TopoAct, drawn from a generator seeded by ``(seed, source index)`` so chunking and
resume cannot change it) or ``center``. Flat outputs keep their full vector; token sequences
(B, L, C) are reduced over L the same way (the feature-visualization objectives use the same
function, so they optimise exactly the stored vector).

Images are processed in chunks of ``chunk_size``; a chunk's rows are written and then committed in
``progress.json``. Re-running the same call after an interruption (even ``kill -9``) resumes at the
first uncommitted chunk and produces files identical to an uninterrupted run.

Safety: one writer at a time per run directory (:class:`topoact.runlock.RunLock`);
``overwrite=True`` deletes only a directory that holds a topoact run; a call that fails before
its first chunk is committed removes the directory it created; the data set's class names are
matched onto the model's (:mod:`topoact.data.classes`) so labels mean what the model predicts.
"""
from __future__ import annotations

import logging
import platform
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from . import npyfile
from .allocator import tune_malloc
from .hashing import stable_hash
from .progress import ProgressFn, check_cancelled, report
from .reduce import REDUCTIONS, check_reduce, reduced_dim, reduces
from .reduce import reduce as reduce_tensor
from .runlock import RunLock
from .store import FORMAT_VERSION, META, PROGRESS, Run, RunWriter, is_run_dir, open_run, read_json

__all__ = ["collect", "activations_for_images", "hooked_layers", "REDUCTIONS", "OUTPUT_LAYER"]

log = logging.getLogger(__name__)

#: pseudo-layer: the model's output (logits); the only layer of a TorchScript model, whose
#: submodules cannot be hooked.
OUTPUT_LAYER = "output"
THUMBNAIL_MAX = 64


# ---------------------------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------------------------
def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if hasattr(output, "logits"):
        return output.logits
    raise TypeError(f"layer output of type {type(output).__name__} is not a tensor")


@contextmanager
def hooked_layers(module: torch.nn.Module, layers: Sequence[str], reduce: str = "gap", seed: int = 0,
                  ) -> Iterator[tuple[dict[str, torch.Tensor], Callable[[np.ndarray], None]]]:
    """Forward hooks that keep each layer's reduced output; removed on exit, whatever happens.

    Parameters
    ----------
    module : torch.nn.Module
        The model.
    layers : sequence of str
        Module paths to hook (they must exist).
    reduce : {"gap", "center", "random"}
        Reduction over positions (:func:`topoact.reduce.reduce`).
    seed : int
        Seed of the ``random`` positions.

    Yields
    ------
    (captured, set_batch)
        ``captured[layer]`` is the (B, D) reduced output of the last forward pass;
        ``set_batch(image_ids)`` gives the (B,) image ids of the next pass (``random`` needs them).
    """
    modules = dict(module.named_modules())
    captured: dict[str, torch.Tensor] = {}
    state: dict[str, Any] = {"image_ids": None}

    def make_hook(name):
        def hook(_module, _inputs, output):
            captured[name] = reduce_tensor(_first_tensor(output).detach(), reduce, seed=seed,
                                           image_ids=state["image_ids"])
        return hook

    handles = []
    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(make_hook(name)))
        yield captured, lambda image_ids: state.__setitem__("image_ids", image_ids)
    finally:
        for handle in handles:
            handle.remove()


def activations_for_images(bundle: Any, images: Sequence, layers: str | Sequence[str], reduce: str = "gap",
                           seed: int = 0, source_index: Iterable[int] | None = None, *,
                           reduction: str | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Activation vectors of a few PIL images (e.g. an upload in the app), reduced as in a run.

    Parameters
    ----------
    bundle : ModelBundle, model spec or nn.Module
    images : sequence of PIL images, length B
    layers : list of str or comma-separated str
    reduce : {"gap", "center", "random"}
    seed : int
        Seed of the ``random`` positions.
    source_index : iterable of int, length B, optional
        Image ids fixing the ``random`` positions (default ``0..B-1``).
    reduction : str, optional
        Deprecated alias of ``reduce``.

    Returns
    -------
    (activations, probabilities)
        ``{layer: (B, D) float32}`` and the (B, C) float32 class probabilities.
    """
    from .models import load_model

    if reduction is not None:
        warnings.warn("activations_for_images(reduction=...) is deprecated; use reduce=...",
                      DeprecationWarning, stacklevel=2)
        reduce = reduction
    check_reduce(reduce)
    bundle = load_model(bundle)
    layers, hooked = _resolve(bundle, layers)
    batch = torch.stack([bundle.preprocess(image) for image in images])
    index = np.arange(len(images)) if source_index is None else np.asarray(list(source_index))
    was_training = bundle.module.training
    bundle.module.eval()
    try:
        with hooked_layers(bundle.module, hooked, reduce, seed) as (captured, set_batch), torch.inference_mode():
            set_batch(index)
            logits = _first_tensor(bundle.module(batch)).float()
            captured.setdefault(OUTPUT_LAYER, logits)
            probabilities = torch.softmax(logits, dim=1).numpy()
            return {name: captured[name].float().numpy() for name in layers}, probabilities
    finally:
        bundle.module.train(was_training)


def _resolve(bundle, layers) -> tuple[list[str], list[str]]:
    """(all requested layers, the ones needing hooks); ``output`` is always available."""
    from .models.layers import hooks_supported, layer_names, resolve_layers

    if isinstance(layers, str):
        layers = [name.strip() for name in layers.split(",") if name.strip()]
    layers = list(dict.fromkeys(layers))
    if not layers:
        raise ValueError("no layers given; list them with `topoact layers --model SPEC`")
    output_is_module = OUTPUT_LAYER in layer_names(bundle)
    hooked = [name for name in layers if name != OUTPUT_LAYER or output_is_module]
    if hooked and not hooks_supported(bundle):
        raise ValueError(f"{bundle.spec} is a TorchScript model: its submodules cannot be hooked, so only "
                         f"its output can be collected (layers={OUTPUT_LAYER!r}); load the eager model "
                         "(e.g. torchvision:NAME --weights FILE) to collect inner layers")
    if hooked:
        resolve_layers(bundle, hooked)
    return layers, hooked


# ---------------------------------------------------------------------------------------------
# Loading images
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Preprocessor:
    """Picklable copy of a bundle's preprocessing (DataLoader workers must not get the model)."""

    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, image) -> torch.Tensor:
        from torchvision.transforms.functional import normalize, pil_to_tensor, resize

        image = image.convert("RGB")
        if image.size != (self.input_size[1], self.input_size[0]):
            image = resize(image, list(self.input_size), antialias=True)
        return normalize(pil_to_tensor(image).float().div_(255.0), self.mean, self.std)


class _ChunkItems(torch.utils.data.Dataset):
    """Items of one chunk; an unreadable image yields its error instead of a tensor."""

    def __init__(self, dataset, indices: np.ndarray, preprocess: _Preprocessor, thumbnail: tuple | None):
        self.dataset, self.indices, self.preprocess, self.thumbnail = dataset, indices, preprocess, thumbnail

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, position):
        from .data.base import CorruptImageError

        index = int(self.indices[position])
        try:
            image = self.dataset.load(index)
            tensor = self.preprocess(image)
        except (CorruptImageError, OSError, ValueError, SyntaxError) as error:
            return index, None, f"{type(error).__name__}: {error}", None
        thumb = None
        if self.thumbnail is not None:
            thumb = np.asarray(image.convert("RGB").resize((self.thumbnail[1], self.thumbnail[0])), dtype=np.uint8)
        return index, tensor, None, thumb


def _collate(items):
    good = [item for item in items if item[1] is not None]
    bad = [(item[0], item[2]) for item in items if item[1] is None]
    index = np.array([item[0] for item in good], dtype=np.int64)
    batch = torch.stack([item[1] for item in good]) if good else None
    thumbs = np.stack([item[3] for item in good]) if good and good[0][3] is not None else None
    return index, batch, bad, thumbs


def _default_workers() -> int:
    import os

    cores = os.cpu_count() or 1
    # On a small machine the forward pass already uses every core; decoding in-process is faster.
    return 0 if cores <= 2 else min(4, cores - 1)


# ---------------------------------------------------------------------------------------------
# collect
# ---------------------------------------------------------------------------------------------
def _dataset_description(dataset, n: int) -> dict:
    spec = dataset.spec
    if spec is not None:
        return {"spec": spec, "reopenable": True, "length": len(dataset)}
    # Not reopenable: fingerprint by size, classes and a few ids so a resume checks it is the same set.
    sample = [dataset.item_id(i) for i in range(min(n, 16))]
    return {"spec": None, "reopenable": False, "length": len(dataset), "type": type(dataset).__name__,
            "fingerprint": stable_hash([len(dataset), list(dataset.class_names), sample])}


def _model_description(bundle) -> dict:
    # Models given as Python objects cannot be rebuilt from a string; keep what re-wrapping needs.
    reloadable = not bundle.spec.startswith("module:")
    description = {"spec": bundle.spec, "weights": str(bundle.weights) if bundle.weights else None,
                   "hash": bundle.hash, "reloadable": reloadable,
                   "input_size": list(bundle.input_size), "mean": list(bundle.mean), "std": list(bundle.std)}
    if not reloadable:
        description["module_kwargs"] = {"input_size": list(bundle.input_size), "mean": list(bundle.mean),
                                        "std": list(bundle.std), "class_names": list(bundle.class_names)}
    return description


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file or a folder of other things; with ``overwrite``, delete
    a previous topoact run there (and nothing else)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; give a new or a run directory")
    if not out.is_dir():
        return
    is_run = is_run_dir(out)  # a damaged meta.json raises DamagedFileError naming it
    if not is_run and any(out.iterdir()):
        what = "delete" if overwrite else "write into"
        raise FileExistsError(f"refusing to {what} {out}: it is not empty and holds no topoact run "
                              f"(no {META} written by topoact); choose a new --out directory")
    if overwrite and is_run:
        log.info("overwrite: removing the previous run in %s", out)
        shutil.rmtree(out)


def _committed(out: Path) -> bool:
    """Whether a run being written in ``out`` has committed at least one chunk (so can resume)."""
    try:
        return int(read_json(out / PROGRESS).get("chunks_done", 0)) > 0
    except (OSError, ValueError):
        return False


def collect(model: Any, data: Any, layers: str | Sequence[str], out: str | Path, *, reduce: str = "gap",
            limit: int | None = None, batch_size: int = 128, chunk_size: int = 2048, seed: int = 0,
            num_workers: int | None = None, weights: str | None = None,
            progress: bool | ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None,
            overwrite: bool = False, store: str = "npy", scheduler: Any = None) -> Run:
    """Collect activations of ``layers`` of ``model`` on ``data`` into the run directory ``out``.

    Parameters
    ----------
    model : str, ModelBundle or torch.nn.Module
        Model spec (``demo``, ``cifar-resnet20``, ``torchvision:resnet18``, ``torchscript:PATH``),
        a ModelBundle or any ``nn.Module``.
    data : str, ImageSet or dataset object
        Data spec (``shapes``, ``digits``, a folder), an ImageSet, or a torchvision dataset.
    layers : list of str or comma-separated str
        Module paths (``topoact layers`` lists them); ``output`` is the model's output.
    out : str or Path
        Run directory; an unfinished run there with the same settings is resumed. It must be new,
        empty or a topoact run.
    reduce : {"gap", "center", "random"}
        Reduction of conv maps (B, C, H, W) and token sequences (B, L, C) over positions
        (:func:`topoact.reduce.reduce`); flat layers are kept whole.
    limit : int, optional
        Use only the first ``limit`` images (at least 1).
    batch_size : int
        Images per forward pass.
    chunk_size : int
        Images per committed chunk (the unit of resume).
    seed : int
        Seed of the ``random`` positions.
    num_workers : int, optional
        Image-loading processes (default: 0 on machines with two cores or fewer).
    weights : str, optional
        Local state dict for the model.
    progress : bool or callable, optional
        A callable ``progress(done, total, message)`` (:mod:`topoact.progress`); True: a tqdm bar
        on stderr (what the CLI shows); None / False (default): silent, as library code should be.
    should_cancel : callable, optional
        Polled between batches; when it answers True, :class:`topoact.progress.Cancelled` is
        raised and the committed chunks stay resumable.
    overwrite : bool
        Delete a previous (different) topoact run in ``out`` first; never deletes anything else.
    store : {"npy", "zarr"}
        How activations are stored: ``.npy`` files (memory-mapped when read; the default) or
        Zarr v3 arrays with one chunk per collection chunk (:mod:`topoact.storage`).
    scheduler : str or distributed.Client, optional
        Run the chunks as Dask tasks: ``local`` / ``local:N`` (a LocalCluster of N one-thread
        worker processes), ``tcp://HOST:PORT`` (a running Dask scheduler whose workers see
        ``out`` and the data), or a ``distributed.Client``. Same rows in the same order as
        without (:mod:`topoact.distributed.collect`).

    Returns
    -------
    Run
        The finished run opened for reading.

    Raises
    ------
    ValueError
        Bad parameters, unknown layers (:class:`topoact.errors.UnknownLayerError`), an empty data set.
    FileExistsError
        ``out`` is a file, a folder of other things, or holds a different run (without ``overwrite``).
    topoact.runlock.RunLockedError
        Another process is writing the same run directory.
    """
    from tqdm.auto import tqdm

    from .config import check_choice, check_range
    from .data import open_dataset
    from .data.classes import match_classes
    from .models import load_model
    from .models.layers import list_layers

    check_reduce(reduce)
    check_choice("store", store, ("npy", "zarr"))
    if scheduler is not None:
        from .distributed.scheduler import check_scheduler

        check_scheduler(scheduler)
    check_range("batch_size", batch_size, 1, integer=True)
    check_range("chunk_size", chunk_size, 1, integer=True)
    if limit is not None:
        limit = check_range("limit", limit, 1, integer=True)
    bundle = load_model(model, weights=weights) if weights else load_model(model)
    attach = None if bundle.spec and not bundle.spec.startswith("module:") else bundle
    was_training = bundle.module.training  # restored at the end; collection runs in eval mode
    dataset = open_dataset(data)
    layers, hooked = _resolve(bundle, layers)
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    if n == 0:
        raise ValueError("the dataset holds no images")

    try:
        shapes = dict(list_layers(bundle)) if hooked else {}
        if OUTPUT_LAYER not in shapes:
            with torch.inference_mode():
                probe = _first_tensor(bundle.module.eval()(torch.zeros(1, 3, *bundle.input_size)))
            shapes[OUTPUT_LAYER] = tuple(probe.shape[1:])
    finally:
        bundle.module.train(was_training)
    layer_info = {}
    for name in layers:
        shape = shapes.get(name)
        if shape is None:
            raise ValueError(f"layer {name!r} does not output a tensor; pick another layer")
        layer_info[name] = {"shape": list(shape), "dim": reduced_dim(shape),
                            "reduce": reduce if reduces(shape) else "none"}
    output_shape = shapes[OUTPUT_LAYER]
    n_outputs = int(output_shape[-1]) if len(output_shape) == 1 else None
    classes = match_classes(dataset.class_names, bundle.class_names, n_outputs)

    description = _dataset_description(dataset, n)
    model_info = _model_description(bundle)
    config = {"model": {k: model_info[k] for k in ("spec", "hash", "input_size", "mean", "std")},
              "dataset": {k: v for k, v in description.items() if k != "length"},
              "layers": layers, "reduce": reduce, "seed": seed, "n_images": n, "chunk_size": chunk_size,
              "format": FORMAT_VERSION}
    out = Path(out)
    with RunLock(out):
        _prepare_out(out, overwrite)
        if (out / META).exists():
            meta = read_json(out / META)
            if meta.get("status") == "complete" and meta.get("config_hash") == stable_hash(config):
                log.info("%s is already complete", out)
                return open_run(out, model=attach)
        created = not out.exists()
        try:
            write = _write
            if scheduler is not None:
                from .distributed.collect import write_distributed

                write = partial(write_distributed, scheduler=scheduler)
            write(bundle, dataset, out, layers, hooked, layer_info, classes, description, model_info, config,
                  n=n, reduce=reduce, seed=seed, batch_size=batch_size, chunk_size=chunk_size,
                  num_workers=num_workers, progress=progress, should_cancel=should_cancel, bar_factory=tqdm,
                  store=store)
        except BaseException:
            if created and out.is_dir() and not _committed(out):
                # nothing to resume: leave no partial directory behind
                shutil.rmtree(out, ignore_errors=True)
            raise
        finally:
            bundle.module.train(was_training)
    return open_run(out, model=attach)


def _run_meta(bundle, dataset, layer_info, classes, description, model_info, config, *, n, reduce, seed,
              chunk_size, store) -> tuple[dict, tuple[int, int] | None]:
    """(meta.json of a new run, thumbnail (h, w) or None when the data set can be reopened)."""
    import PIL
    import sklearn

    thumbnail = None
    if not description["reopenable"]:
        h, w = bundle.input_size
        scale = min(1.0, THUMBNAIL_MAX / max(h, w))
        thumbnail = (max(1, round(h * scale)), max(1, round(w * scale)))
    meta = {
        "format": FORMAT_VERSION, "config_hash": stable_hash(config), "model": model_info,
        "dataset": description, "layers": layer_info, "reduce": reduce, "seed": seed,
        "n_images": n, "chunk_size": chunk_size, "n_chunks": (n + chunk_size - 1) // chunk_size,
        **classes.to_meta(),
        "attribute_kinds": dataset.attribute_kinds(),
        "attributes_meta": dataset.attributes_meta(),
        "preprocessing": {"input_size": list(bundle.input_size), "mean": list(bundle.mean), "std": list(bundle.std)},
        "versions": {"topoact": __import__("topoact").__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "pillow": PIL.__version__, "sklearn": sklearn.__version__,
                     "python": platform.python_version()},
    }
    if store != "npy":
        meta["store"] = store
    return meta, thumbnail


@dataclass
class ChunkRows:
    """What one chunk's forward passes produced (rows in data set order)."""

    index: np.ndarray                    # (k,) int64 source positions of the readable images
    predictions: np.ndarray              # (k,) int64
    probabilities: np.ndarray            # (k, C) float32
    activations: dict[str, np.ndarray]   # {layer: (k, D)} float32
    thumbnails: np.ndarray | None        # (k, h, w, 3) uint8
    skipped: list[dict]                  # unreadable images with their reasons


def collect_chunk(module: torch.nn.Module, captured: dict, set_batch: Callable, dataset, indices: np.ndarray,
                  preprocess: "_Preprocessor", thumbnail: tuple | None, layers: Sequence[str], *, batch_size: int,
                  num_workers: int = 0, should_cancel: Callable[[], bool] | None = None,
                  on_batch: Callable[[int], None] | None = None) -> ChunkRows:
    """Forward passes over one chunk of images inside :func:`hooked_layers` (one process or a worker).

    Parameters
    ----------
    module : torch.nn.Module
        The model, in eval mode, under ``torch.inference_mode``.
    captured, set_batch
        What :func:`hooked_layers` yields.
    dataset : ImageSet
    indices : ndarray of int64, shape (k,)
        Data set positions of the chunk.
    preprocess : callable
        PIL image -> (3, H, W) tensor.
    thumbnail : (h, w) or None
    layers : sequence of str
        All requested layers (``output`` included).
    batch_size, num_workers : int
    should_cancel : callable, optional
    on_batch : callable, optional
        ``on_batch(images)`` after each batch (progress).

    Returns
    -------
    ChunkRows
    """
    loader = torch.utils.data.DataLoader(_ChunkItems(dataset, indices, preprocess, thumbnail), batch_size=batch_size,
                                         num_workers=num_workers, collate_fn=_collate)
    parts: dict[str, list] = {"index": [], "pred": [], "prob": [], "thumb": []}
    acts: dict[str, list] = {name: [] for name in layers}
    skipped = []
    for index, batch, bad, thumbs in loader:
        check_cancelled(should_cancel, "collection")
        skipped += [{"source_index": int(i), "id": dataset.item_id(int(i)), "path": dataset.path(int(i)),
                     "reason": reason} for i, reason in bad]
        for i, reason in bad:
            log.warning("skipped image %s: %s", dataset.path(int(i)) or dataset.item_id(int(i)), reason)
        if batch is not None:
            set_batch(index)
            logits = _first_tensor(module(batch)).float()
            captured.setdefault(OUTPUT_LAYER, logits)
            parts["index"].append(index)
            parts["prob"].append(torch.softmax(logits, dim=1).numpy())
            parts["pred"].append(logits.argmax(dim=1).numpy())
            for name in layers:
                acts[name].append(captured[name].float().numpy())
            captured.clear()
            if thumbs is not None:
                parts["thumb"].append(thumbs)
        if on_batch is not None:
            on_batch(len(index) + len(bad))
    if not parts["index"]:
        return ChunkRows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32),
                         {}, None, skipped)
    return ChunkRows(np.concatenate(parts["index"]), np.concatenate(parts["pred"]), np.concatenate(parts["prob"]),
                     {k: np.concatenate(v) for k, v in acts.items()},
                     np.concatenate(parts["thumb"]) if parts["thumb"] else None, skipped)


def check_classes(rows: ChunkRows, n_classes: int) -> None:
    """ValueError when the model's outputs do not match the known class names."""
    if len(rows.index) and rows.probabilities.shape[1] != n_classes:
        raise ValueError(f"the model outputs {rows.probabilities.shape[1]} classes but {n_classes} class names "
                         "are known; pass class_names matching the model")


def finish_run(writer: RunWriter, dataset, out: Path, n: int, started: float) -> None:
    """Index, attributes and report of a run whose chunks are all committed; marks it complete."""
    writer_rows = writer.rows_done
    if writer.slotted:
        writer.compact()
    rows = np.array(npyfile.load(out / "source_index.npy", mmap_mode="r")[:writer_rows])
    index = {"ids": [dataset.item_id(int(i)) for i in rows], "paths": [dataset.path(int(i)) for i in rows]}
    attributes = {k: np.asarray(v)[rows] for k, v in dataset.attributes().items()}
    seconds = time.perf_counter() - started
    summary = {"n_images": n, "n_rows": writer_rows, "n_skipped": n - writer_rows,
               "seconds_last_session": round(seconds, 3)}
    writer.finish(index=index, attributes=attributes, report=summary)
    if summary["n_skipped"]:
        log.warning("%d of %d images could not be read; they are listed in %s", summary["n_skipped"], n,
                    out / "report.json")


def open_writer(bundle, dataset, out: Path, layer_info, classes, description, model_info, config, *, n, reduce,
                seed, chunk_size, store) -> tuple[RunWriter, tuple[int, int] | None, int]:
    """(the run's writer, new or resumed; thumbnail (h, w) or None; number of classes)."""
    meta, thumbnail = _run_meta(bundle, dataset, layer_info, classes, description, model_info, config, n=n,
                                reduce=reduce, seed=seed, chunk_size=chunk_size, store=store)
    n_classes = len(classes.class_names) or 1
    writer = RunWriter(out, meta=meta, n_rows=n, layer_dims={k: v["dim"] for k, v in layer_info.items()},
                       n_classes=n_classes, thumbnail_shape=thumbnail)
    return writer, thumbnail, n_classes


def _write(bundle, dataset, out: Path, layers, hooked, layer_info, classes, description, model_info, config, *,
           n, reduce, seed, batch_size, chunk_size, num_workers, progress, should_cancel, bar_factory,
           store="npy") -> RunWriter:
    """The writing half of :func:`collect` (inside the run lock), in this process."""
    n_chunks = (n + chunk_size - 1) // chunk_size
    writer, thumbnail, n_classes = open_writer(bundle, dataset, out, layer_info, classes, description, model_info,
                                               config, n=n, reduce=reduce, seed=seed, chunk_size=chunk_size,
                                               store=store)
    labels_all = classes.map_labels(dataset.labels())
    preprocess = _Preprocessor(tuple(bundle.input_size), tuple(bundle.mean), tuple(bundle.std))
    workers = _default_workers() if num_workers is None else num_workers
    module = bundle.module
    module.eval()
    tune_malloc()  # a batch's buffers are reused by the next batch instead of faulted in again
    started = time.perf_counter()
    done = min(writer.chunks_done * chunk_size, n)
    bar = bar_factory(total=n, initial=done, unit="img", desc="collect", disable=progress is not True,
                      dynamic_ncols=True, smoothing=0.1)
    callback = progress if callable(progress) else None
    report(callback, done, n, "collect")

    def on_batch(images: int) -> None:
        nonlocal done
        bar.update(images)
        done += images
        report(callback, done, n, "collect")

    try:
        with hooked_layers(module, hooked, reduce, seed) as (captured, set_batch), torch.inference_mode():
            for chunk in range(writer.chunks_done, n_chunks):
                indices = np.arange(chunk * chunk_size, min((chunk + 1) * chunk_size, n))
                rows = collect_chunk(module, captured, set_batch, dataset, indices, preprocess, thumbnail, layers,
                                     batch_size=batch_size, num_workers=workers, should_cancel=should_cancel,
                                     on_batch=on_batch)
                check_classes(rows, n_classes)
                writer.write_chunk(
                    source_index=rows.index, labels=labels_all[rows.index] if len(rows.index) else None,
                    predictions=rows.predictions, probabilities=rows.probabilities, activations=rows.activations,
                    thumbnails=rows.thumbnails, skipped=rows.skipped)
    finally:
        bar.close()
    finish_run(writer, dataset, out, n, started)
    return writer
