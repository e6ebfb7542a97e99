"""Collection chunks as Dask tasks (``collect(..., scheduler=...)``, ``topoact collect --scheduler``).

The client (the ``collect`` call) owns the run: lock, ``meta.json``, the small per-image tables
and ``progress.json``. Each chunk is one task: the worker loads the model and opens the data set
once per process (:func:`topoact.distributed.tasks.worker_cached`; models given as Python objects
are scattered to the workers once), runs the same :func:`topoact.collection.collect_chunk` as a
single process, writes the chunk's activation rows into the chunk's own slot (rows
``chunk * chunk_size ..``, so no two tasks write the same file region or Zarr chunk) and returns
the small tables. The client commits the chunk in ``progress.json`` when the task's result
arrives: a chunk is either committed or redone. Dask reruns the tasks of a worker that dies;
the rerun rewrites the same slot. Gaps left by unreadable images are closed at the end
(``RunWriter.finish``), so the rows and their order equal a single-process run's.

Progress: workers send ``{"chunk", "done"}`` events after each batch; the client sums them into
one bar (a rerun chunk restarts from 0).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..collection import (
    _Preprocessor,
    check_classes,
    collect_chunk,
    finish_run,
    hooked_layers,
    open_writer,
)
from ..allocator import tune_malloc
from ..progress import check_cancelled, report
from ..store import RunWriter, open_layer_writer
from .scheduler import dask_client
from .tasks import emit, worker_cached

__all__ = ["ChunkJob", "run_chunk", "write_distributed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to collect any chunk of one run (small and picklable)."""

    out: str
    store: str
    key: str                      # the run's config hash: the worker cache key
    topic: str                    # progress event topic
    model_spec: str | None        # None: the model is passed as a scattered object
    weights: str | None
    data_spec: str | None         # None: the data set is passed as a scattered object
    layers: tuple[str, ...]
    hooked: tuple[str, ...]
    reduce: str
    seed: int
    batch_size: int
    chunk_size: int
    n: int
    thumbnail: tuple[int, int] | None
    preprocess: _Preprocessor


def _resources(job: ChunkJob, model: Any, dataset: Any) -> tuple[Any, Any, threading.Lock]:
    """(model bundle, data set, lock) of this worker process, made once per run."""
    def make():
        from ..data import open_dataset
        from ..models import load_model

        tune_malloc()  # Dask's MALLOC_TRIM_THRESHOLD_ makes every batch fault its buffers in again
        bundle = model if model is not None else load_model(job.model_spec, weights=job.weights)
        bundle.module.eval()
        data = dataset if dataset is not None else open_dataset(job.data_spec)
        return bundle, data, threading.Lock()

    token = job.key + ("" if model is None else f"-m{id(model)}") + ("" if dataset is None else f"-d{id(dataset)}")
    return worker_cached(token, make)


def run_chunk(job: ChunkJob, chunk: int, model: Any = None, dataset: Any = None) -> dict:
    """Collect chunk ``chunk`` on a worker: write its activations into its slot, return its tables.

    Parameters
    ----------
    job : ChunkJob
    chunk : int
    model : ModelBundle, optional
        The (scattered) model when it cannot be rebuilt from ``job.model_spec``.
    dataset : ImageSet, optional
        The (scattered) data set when it cannot be reopened from ``job.data_spec``.

    Returns
    -------
    dict
        ``chunk``, ``index`` (k,), ``predictions`` (k,), ``probabilities`` (k, C),
        ``thumbnails`` (k, h, w, 3) or None, ``skipped`` (list of dict).
    """
    bundle, data, lock = _resources(job, model, dataset)
    indices = np.arange(chunk * job.chunk_size, min((chunk + 1) * job.chunk_size, job.n))
    done = 0
    emit(job.topic, {"chunk": int(chunk), "done": 0})

    def on_batch(images: int) -> None:
        nonlocal done
        done += images
        emit(job.topic, {"chunk": int(chunk), "done": done})

    # hooks live on the shared module: one forward pass at a time per process
    with lock, hooked_layers(bundle.module, job.hooked, job.reduce, job.seed) as (captured, set_batch), \
            torch.inference_mode():
        rows = collect_chunk(bundle.module, captured, set_batch, data, indices, job.preprocess, job.thumbnail,
                             job.layers, batch_size=job.batch_size, num_workers=0, on_batch=on_batch)
    start = chunk * job.chunk_size
    for layer, values in rows.activations.items():
        open_layer_writer(job.out, layer, job.store).write(start, values)
    return {"chunk": int(chunk), "index": rows.index, "predictions": rows.predictions,
            "probabilities": rows.probabilities, "thumbnails": rows.thumbnails, "skipped": rows.skipped}


class _Bar:
    """One progress bar fed by the workers' per-chunk events (thread-safe)."""

    def __init__(self, bar, callback, base: int, total: int):
        self.bar, self.callback, self.base, self.total = bar, callback, base, total
        self.counts: dict[int, int] = {}
        self.committed: set[int] = set()
        self.lock = threading.Lock()

    def _show(self) -> None:
        done = min(self.base + sum(self.counts.values()), self.total)
        self.bar.n = done
        self.bar.refresh()
        report(self.callback, done, self.total, "collect")

    def event(self, event) -> None:
        _timestamp, message = event
        with self.lock:
            chunk = int(message["chunk"])
            if chunk not in self.committed:
                self.counts[chunk] = int(message["done"])
                self._show()

    def commit(self, chunk: int, images: int) -> None:
        with self.lock:
            self.committed.add(chunk)
            self.counts[chunk] = images
            self._show()


def write_distributed(bundle, dataset, out: Path, layers, hooked, layer_info, classes, description, model_info,
                      config, *, n, reduce, seed, batch_size, chunk_size, num_workers, progress, should_cancel,
                      bar_factory, store, scheduler) -> RunWriter:
    """The writing half of :func:`topoact.collection.collect` on a Dask cluster (inside the run lock).

    ``num_workers`` (image-loading processes) is not used: each Dask worker decodes its own chunk.
    """
    del num_workers
    n_chunks = (n + chunk_size - 1) // chunk_size
    writer, thumbnail, n_classes = open_writer(bundle, dataset, out, layer_info, classes, description, model_info,
                                               config, n=n, reduce=reduce, seed=seed, chunk_size=chunk_size,
                                               store=store)
    meta = writer.meta
    pending = writer.pending_chunks(n_chunks)
    labels_all = classes.map_labels(dataset.labels())
    started = time.perf_counter()
    waiting = set(pending)
    done_images = sum(min(chunk_size, n - c * chunk_size) for c in range(n_chunks) if c not in waiting)
    bar = bar_factory(total=n, initial=done_images, unit="img", desc="collect", disable=progress is not True,
                      dynamic_ncols=True, smoothing=0.1)
    feed = _Bar(bar, progress if callable(progress) else None, done_images, n)
    topic = f"topoact-collect-{meta['config_hash']}-{time.time_ns()}"
    job = ChunkJob(out=str(Path(out).resolve()), store=store, key=meta["config_hash"], topic=topic,
                   model_spec=None if not model_info["reloadable"] else bundle.spec,
                   weights=model_info["weights"], data_spec=description["spec"] if description["reopenable"] else None,
                   layers=tuple(layers), hooked=tuple(hooked), reduce=reduce, seed=int(seed),
                   batch_size=int(batch_size), chunk_size=int(chunk_size), n=int(n), thumbnail=thumbnail,
                   preprocess=_Preprocessor(tuple(bundle.input_size), tuple(bundle.mean), tuple(bundle.std)))
    try:
        if pending:
            _run_on_dask(scheduler, writer, job, pending, bundle, dataset, feed, labels_all, n_classes,
                         should_cancel)
    finally:
        bar.close()
    finish_run(writer, dataset, out, n, started)
    return writer


def _run_on_dask(scheduler, writer: RunWriter, job: ChunkJob, pending: list[int], bundle, dataset, feed: _Bar,
                 labels_all: np.ndarray, n_classes: int, should_cancel) -> None:
    """Submit the pending chunks, commit each as its result arrives (any order)."""
    from distributed import wait

    n, chunk_size, topic = job.n, job.chunk_size, job.topic
    with dask_client(scheduler) as client:
        model_arg = None if job.model_spec is not None else client.scatter(bundle, broadcast=True, hash=False)
        data_arg = None if job.data_spec is not None else client.scatter(dataset, broadcast=True, hash=False)
        client.subscribe_topic(topic, feed.event)
        futures = [client.submit(run_chunk, job, chunk, model_arg, data_arg, pure=False,
                                 key=f"topoact-chunk-{chunk}-{topic}") for chunk in pending]
        remaining = set(futures)
        try:
            while remaining:
                check_cancelled(should_cancel, "collection")
                try:
                    finished, remaining = wait(remaining, timeout=0.5, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                for future in sorted(finished, key=lambda f: f.key):
                    result = future.result()  # a task's own error is raised here
                    _commit(writer, result, labels_all, n_classes)
                    feed.commit(result["chunk"], min(chunk_size, n - result["chunk"] * chunk_size))
                    future.release()
        finally:
            client.cancel(list(remaining))
            client.unsubscribe_topic(topic)


def _commit(writer: RunWriter, result: dict, labels_all: np.ndarray, n_classes: int) -> None:
    from ..collection import ChunkRows

    index = result["index"]
    check_classes(ChunkRows(index, result["predictions"], result["probabilities"], {}, None, []), n_classes)
    writer.commit_slot(result["chunk"], source_index=index, labels=labels_all[index] if len(index) else None,
                       predictions=result["predictions"], probabilities=result["probabilities"],
                       thumbnails=result["thumbnails"], skipped=result["skipped"])
