"""Collect layer activations of a model on an image set into a run directory.

One forward pass per batch feeds every chosen layer through forward hooks (under
``torch.inference_mode``); each hook reduces its output at once so full feature maps never pile
up: ``gap`` (global average pooling), ``random`` (one spatial position per image, as TopoAct,
drawn from a generator seeded by ``(seed, source index)`` so chunking and resume cannot change
it) or ``center``. Non-spatial outputs keep their full vector; token sequences (B, L, C) are
reduced over L the same way.

Images are processed in chunks of ``chunk_size``; a chunk's rows are written and then committed in
``progress.json``. Re-running the same call after an interruption (even ``kill -9``) resumes at the
first uncommitted chunk and produces files identical to an uninterrupted run.
"""
from __future__ import annotations

import logging
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .hashing import stable_hash
from .store import FORMAT_VERSION, META, Run, RunWriter, open_run, read_json

log = logging.getLogger(__name__)

REDUCTIONS = ("gap", "random", "center")
#: pseudo-layer: the model's output (logits); the only layer of a TorchScript model, whose
#: submodules cannot be hooked.
OUTPUT_LAYER = "output"
THUMBNAIL_MAX = 64


# ---------------------------------------------------------------------------------------------
# Reductions and hooks
# ---------------------------------------------------------------------------------------------
def _random_positions(seed: int, source_index: np.ndarray, n_positions: int) -> np.ndarray:
    """One position per image, fixed by (seed, image) alone."""
    return np.array([np.random.default_rng([int(seed), int(i)]).integers(n_positions) for i in source_index],
                    dtype=np.int64)


def reduce_output(output: torch.Tensor, reduction: str, seed: int = 0,
                  source_index: np.ndarray | None = None) -> torch.Tensor:
    """Reduce a layer output of shape (B, C, H, W), (B, L, C) or (B, D) to (B, D) vectors.

    (B, C, H, W) conv maps are reduced over H x W; (B, L, C) token sequences over L; anything
    of rank 2 is kept; other ranks are flattened.
    """
    if output.dim() == 2:
        return output
    if output.dim() == 4:
        flat = output.flatten(2)  # (B, C, H*W)
    elif output.dim() == 3:
        flat = output.transpose(1, 2)  # (B, C, L)
    else:
        return output.flatten(1)
    if reduction == "gap":
        return flat.mean(dim=2)
    positions = flat.shape[2]
    if reduction == "center":
        if output.dim() == 4:
            h, w = output.shape[2], output.shape[3]
            index = (h // 2) * w + w // 2
        else:
            index = positions // 2
        return flat[:, :, index]
    if reduction == "random":
        if source_index is None:
            raise ValueError("random reduction needs the images' source indices")
        picks = torch.as_tensor(_random_positions(seed, source_index, positions), device=flat.device)
        return flat[torch.arange(flat.shape[0], device=flat.device), :, picks]
    raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if hasattr(output, "logits"):
        return output.logits
    raise TypeError(f"layer output of type {type(output).__name__} is not a tensor")


@contextmanager
def hooked_layers(module: torch.nn.Module, layers: Sequence[str], reduction: str, seed: int = 0):
    """Context manager yielding ``(captured, set_batch)``: forward hooks on ``layers`` that store
    each layer's reduced output in ``captured[layer]``; call ``set_batch(source_index)`` before a
    forward pass when the reduction is ``random``. Hooks are removed on exit, whatever happens."""
    modules = dict(module.named_modules())
    captured: dict[str, torch.Tensor] = {}
    state = {"source_index": None}

    def make_hook(name):
        def hook(_module, _inputs, output):
            captured[name] = reduce_output(_first_tensor(output).detach(), reduction, seed, state["source_index"])
        return hook

    handles = []
    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(make_hook(name)))
        yield captured, lambda source_index: state.__setitem__("source_index", source_index)
    finally:
        for handle in handles:
            handle.remove()


def activations_for_images(bundle, images: Sequence, layers: Sequence[str], reduction: str = "gap",
                           seed: int = 0, source_index: Iterable[int] | None = None):
    """Activation vectors of a few PIL images (e.g. an upload in the app).

    Returns ``({layer: (B, D) float32}, probabilities (B, C) float32)``. ``source_index`` fixes the
    random positions of the ``random`` reduction (defaults to 0..B-1).
    """
    from .models import load_model

    bundle = load_model(bundle)
    layers, hooked = _resolve(bundle, layers)
    batch = torch.stack([bundle.preprocess(image) for image in images])
    index = np.arange(len(images)) if source_index is None else np.asarray(list(source_index))
    was_training = bundle.module.training
    bundle.module.eval()
    try:
        with hooked_layers(bundle.module, hooked, reduction, seed) as (captured, set_batch), torch.inference_mode():
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


def collect(model, data, layers: str | Sequence[str], out, *, reduce: str = "gap", limit: int | None = None,
            batch_size: int = 128, chunk_size: int = 2048, seed: int = 0, num_workers: int | None = None,
            weights: str | None = None, progress: bool = True, overwrite: bool = False) -> Run:
    """Collect activations of ``layers`` of ``model`` on ``data`` into the run directory ``out``.

    Parameters
    ----------
    model : model spec string (``demo``, ``cifar-resnet20``, ``torchvision:resnet18``,
        ``torchscript:PATH``), a ModelBundle or any ``nn.Module``
    data : data spec string (``shapes``, ``digits``, a folder), an ImageSet, or a torchvision dataset
    layers : module paths (list or comma-separated string); ``topoact layers`` lists them
    out : run directory; an unfinished run there with the same settings is resumed
    reduce : ``gap`` | ``random`` | ``center`` spatial reduction of conv maps
    limit : use only the first ``limit`` images
    chunk_size : images per committed chunk (the unit of resume)

    Returns
    -------
    Run, the finished run opened for reading.
    """
    from tqdm.auto import tqdm

    from .data import open_dataset
    from .models import load_model
    from .models.layers import list_layers

    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}; choose one of {', '.join(REDUCTIONS)}")
    if batch_size < 1 or chunk_size < 1:
        raise ValueError("batch_size and chunk_size must be positive")
    bundle = load_model(model, weights=weights) if weights else load_model(model)
    attach = None if bundle.spec and not bundle.spec.startswith("module:") else bundle
    was_training = bundle.module.training  # restored at the end; collection runs in eval mode
    dataset = open_dataset(data)
    layers, hooked = _resolve(bundle, layers)
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    if n == 0:
        raise ValueError("the dataset holds no images")

    shapes = dict(list_layers(bundle)) if hooked else {}
    if OUTPUT_LAYER not in shapes:
        with torch.inference_mode():
            probe = _first_tensor(bundle.module.eval()(torch.zeros(1, 3, *bundle.input_size)))
        shapes[OUTPUT_LAYER] = tuple(probe.shape[1:])
    layer_info = {}
    for name in layers:
        shape = shapes.get(name)
        if shape is None:
            raise ValueError(f"layer {name!r} does not output a tensor; pick another layer")
        dim = shape[0] if len(shape) in (1, 3) else (shape[-1] if len(shape) == 2 else int(np.prod(shape)))
        layer_info[name] = {"shape": list(shape), "dim": int(dim),
                            "reduction": reduce if len(shape) in (2, 3) else "none"}

    description = _dataset_description(dataset, n)
    model_info = _model_description(bundle)
    config = {"model": {k: model_info[k] for k in ("spec", "hash", "input_size", "mean", "std")},
              "dataset": {k: v for k, v in description.items() if k != "length"},
              "layers": layers, "reduce": reduce, "seed": seed, "n_images": n, "chunk_size": chunk_size,
              "format": FORMAT_VERSION}
    out = Path(out)
    if overwrite and out.exists():
        import shutil

        shutil.rmtree(out)
    if (out / META).exists():
        meta = read_json(out / META)
        if meta.get("status") == "complete" and meta.get("config_hash") == stable_hash(config):
            log.info("%s is already complete", out)
            return open_run(out, model=attach)

    n_chunks = (n + chunk_size - 1) // chunk_size
    thumbnail = None
    if not description["reopenable"]:
        h, w = bundle.input_size
        scale = min(1.0, THUMBNAIL_MAX / max(h, w))
        thumbnail = (max(1, round(h * scale)), max(1, round(w * scale)))
    import PIL
    import sklearn

    meta = {
        "format": FORMAT_VERSION, "config_hash": stable_hash(config), "model": model_info,
        "dataset": description, "layers": layer_info, "reduce": reduce, "seed": seed,
        "n_images": n, "chunk_size": chunk_size, "n_chunks": n_chunks,
        "class_names": list(bundle.class_names) or list(dataset.class_names),
        "dataset_class_names": list(dataset.class_names),
        "attribute_kinds": dataset.attribute_kinds(),
        "attributes_meta": dataset.attributes_meta(),
        "preprocessing": {"input_size": list(bundle.input_size), "mean": list(bundle.mean), "std": list(bundle.std)},
        "versions": {"topoact": __import__("topoact").__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "pillow": PIL.__version__, "sklearn": sklearn.__version__,
                     "python": platform.python_version()},
    }
    n_classes = len(meta["class_names"]) or 1
    writer = RunWriter(out, meta=meta, n_rows=n, layer_dims={k: v["dim"] for k, v in layer_info.items()},
                       n_classes=n_classes, thumbnail_shape=thumbnail)
    labels_all = dataset.labels()
    preprocess = _Preprocessor(tuple(bundle.input_size), tuple(bundle.mean), tuple(bundle.std))
    workers = _default_workers() if num_workers is None else num_workers
    module = bundle.module
    module.eval()
    started = time.perf_counter()
    bar = tqdm(total=n, initial=min(writer.chunks_done * chunk_size, n), unit="img", desc="collect",
               disable=not progress, dynamic_ncols=True, smoothing=0.1)
    try:
        with hooked_layers(module, hooked, reduce, seed) as (captured, set_batch), torch.inference_mode():
            for chunk in range(writer.chunks_done, n_chunks):
                indices = np.arange(chunk * chunk_size, min((chunk + 1) * chunk_size, n))
                loader = torch.utils.data.DataLoader(
                    _ChunkItems(dataset, indices, preprocess, thumbnail), batch_size=batch_size,
                    num_workers=workers, collate_fn=_collate)
                parts: dict[str, list] = {"index": [], "pred": [], "prob": [], "thumb": []}
                acts: dict[str, list] = {name: [] for name in layers}
                skipped = []
                for index, batch, bad, thumbs in loader:
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
                    bar.update(len(index) + len(bad))
                if parts["index"]:
                    index = np.concatenate(parts["index"])
                    prob = np.concatenate(parts["prob"])
                    if prob.shape[1] != n_classes:
                        raise ValueError(f"the model outputs {prob.shape[1]} classes but {n_classes} class names "
                                         "are known; pass class_names matching the model")
                    writer.write_chunk(
                        source_index=index, labels=labels_all[index], predictions=np.concatenate(parts["pred"]),
                        probabilities=prob, activations={k: np.concatenate(v) for k, v in acts.items()},
                        thumbnails=np.concatenate(parts["thumb"]) if parts["thumb"] else None, skipped=skipped)
                else:
                    writer.write_chunk(source_index=np.zeros(0, np.int64), labels=None, predictions=None,
                                       probabilities=None, activations={}, skipped=skipped)
    finally:
        bar.close()
        module.train(was_training)

    rows = np.array(np.load(out / "source_index.npy", mmap_mode="r")[: writer.rows_done])
    index = {"ids": [dataset.item_id(int(i)) for i in rows], "paths": [dataset.path(int(i)) for i in rows]}
    attributes = {k: np.asarray(v)[rows] for k, v in dataset.attributes().items()}
    seconds = time.perf_counter() - started
    report = {"n_images": n, "n_rows": writer.rows_done, "n_skipped": n - writer.rows_done,
              "seconds_last_session": round(seconds, 3)}
    writer.finish(index=index, attributes=attributes, report=report)
    if report["n_skipped"]:
        log.warning("%d of %d images could not be read; they are listed in %s", report["n_skipped"], n,
                    out / "report.json")
    return open_run(out, model=attach)
