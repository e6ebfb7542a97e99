"""The built-in demo CNN: trained by topoact itself on the ``shapes`` set on first use, cached.

Choices:

* Architecture (``DemoCNN``): three blocks ``conv3x3 -> BN -> ReLU -> maxpool2`` of 32, 64, 128
  channels (32x32 -> 4x4), global average pool, ``linear`` 128 -> 8. Hookable names:
  ``block1.conv``, ``block1.bn``, ``block1.relu``, ``block1`` (= after pooling), ...,
  ``avgpool``, ``linear``.
* Training (``DemoConfig``): 2,000 ``shapes`` images of seed 1, 6 epochs of AdamW with a
  one-cycle learning rate (max 3e-3), batch 64, no augmentation, on ONE thread with
  ``torch.manual_seed(0)`` (bit-reproducible on a given machine; ~20 s on an idle core,
  46 s measured on a 2-core machine shared with other jobs).
  Validation: 1,000 images of seed 2 (the default ``shapes`` data, seed 0, is never seen
  in training). Measured held-out accuracy: 0.915 (chance 0.125); stored in
  ``bundle.info["val_accuracy"]``.
* Topology check (measured): global-average-pooled ``block3`` activations of 1,500 grating
  images, 50% densest by 15-NN distance, 500 points: the top H1 bar (Rips, ripser) has
  persistence 0.36 vs 0.09 for the next - the orientation loop. Without density filtering the
  circular hue of the gratings blurs it (0.28 vs 0.22).
* Input: 32x32, mean (0.5, 0.5, 0.5), std (0.25, 0.25, 0.25); class names = shapes classes.
* Cache: ``demo-model-<version hash>.pt`` holding ``{"state_dict": ..., "meta": {...}}`` where
  the version hash covers ``DEMO_VERSION`` and the config, in :func:`topoact.cachedir.cache_dir`
  (``$TOPOACT_CACHE_DIR`` if set, else the user's cache directory, e.g. ``~/.cache/topoact``;
  never the source tree). Written with :func:`topoact.fileio.atomic_write`; loaded with
  ``weights_only=True``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..cachedir import cache_dir
from ..fileio import atomic_write
from ..hashing import stable_hash
from .base import ModelBundle
from .checkpoints import load_state_dict_strict, read_weights, state_dict_sha256

__all__ = ["DemoCNN", "DemoConfig", "DEFAULT_CONFIG", "load_demo", "train_demo", "demo_model_path",
           "evaluate", "DEMO_MEAN", "DEMO_STD"]

log = logging.getLogger(__name__)

DEMO_VERSION = 1
DEMO_MEAN = (0.5, 0.5, 0.5)
DEMO_STD = (0.25, 0.25, 0.25)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Training recipe of the demo CNN (part of the cache key)."""

    n_train: int = 2000
    train_seed: int = 1
    n_val: int = 1000
    val_seed: int = 2
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    widths: tuple[int, int, int] = (32, 64, 128)

    def version_hash(self) -> str:
        """12-hex digest of ``DEMO_VERSION`` and this recipe: the cache file's name."""
        return stable_hash({"version": DEMO_VERSION, "config": dataclasses.asdict(self)}, 12)


DEFAULT_CONFIG = DemoConfig()


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        bn=nn.BatchNorm2d(cout),
        relu=nn.ReLU(),
        pool=nn.MaxPool2d(2),
    ))


class DemoCNN(nn.Module):
    """Small 3-block CNN for 32x32 RGB images."""

    def __init__(self, num_classes: int = 8, widths: tuple[int, int, int] = (32, 64, 128)):
        super().__init__()
        w1, w2, w3 = widths
        self.block1 = _block(3, w1)
        self.block2 = _block(w1, w2)
        self.block3 = _block(w2, w3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(w3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 32, 32) normalised images -> (B, num_classes) logits."""
        x = self.block3(self.block2(self.block1(x)))
        return self.linear(torch.flatten(self.avgpool(x), 1))


def demo_model_path(config: DemoConfig | None = None) -> Path:
    """Where the demo CNN of ``config`` is cached (nothing is created by asking).

    Parameters
    ----------
    config : DemoConfig, optional
        Default ``DEFAULT_CONFIG``.

    Returns
    -------
    Path
        ``<cache_dir()>/demo-model-<version hash>.pt``.
    """
    config = DEFAULT_CONFIG if config is None else config
    return cache_dir() / f"demo-model-{config.version_hash()}.pt"


def _tensors(ds, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = np.stack([ds.array(i) for i in range(n)])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(DEMO_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(DEMO_STD).view(1, 3, 1, 1)
    return (x - mean) / std, torch.from_numpy(ds.labels())


def evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Top-1 accuracy of ``module`` on normalised inputs.

    Parameters
    ----------
    module : nn.Module
    x : torch.Tensor, shape (N, 3, 32, 32)
    y : torch.Tensor of int64, shape (N,)
    batch : int

    Returns
    -------
    float
    """
    module.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            correct += int((module(x[s:s + batch]).argmax(1) == y[s:s + batch]).sum())
    return correct / max(len(x), 1)


def train_demo(config: DemoConfig | None = None, on_epoch: Callable[[int, nn.Module], None] | None = None
               ) -> tuple[DemoCNN, dict]:
    """Train the demo CNN from scratch (one thread, seeded: bit-reproducible on a machine).

    Parameters
    ----------
    config : DemoConfig, optional
        Default ``DEFAULT_CONFIG``.
    on_epoch : callable, optional
        ``on_epoch(epoch, model)`` after each epoch (1-based), e.g. to save a checkpoint; it must
        not change the model (training is the same with or without it).

    Returns
    -------
    (DemoCNN, dict)
        The model in eval mode and its metadata (accuracies, seconds, final loss, config).
    """
    from ..data.synthetic import SHAPE_CLASSES, ShapesDataset

    config = DEFAULT_CONFIG if config is None else config

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            x, y = _tensors(ShapesDataset(config.n_train, config.train_seed), config.n_train)
            xv, yv = _tensors(ShapesDataset(config.n_val, config.val_seed), config.n_val)
            model = DemoCNN(len(SHAPE_CLASSES), config.widths)
            steps_per_epoch = max(len(x) // config.batch_size, 1)
            opt = torch.optim.AdamW(model.parameters(), config.lr, weight_decay=config.weight_decay)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, config.lr, total_steps=config.epochs * steps_per_epoch)
            gen = torch.Generator().manual_seed(config.seed)
            loss = torch.tensor(float("nan"))
            for epoch in range(config.epochs):
                model.train()
                perm = torch.randperm(len(x), generator=gen)
                for b in range(steps_per_epoch):
                    idx = perm[b * config.batch_size:(b + 1) * config.batch_size]
                    loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                log.debug("demo epoch %d/%d loss %.4f", epoch + 1, config.epochs, loss.item())
                if on_epoch is not None:
                    on_epoch(epoch + 1, model)
            val_acc = evaluate(model, xv, yv)
            train_acc = evaluate(model, x, y)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    plain_config = {k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(config).items()}  # weights_only-loadable
    meta = {"version": DEMO_VERSION, "config": plain_config,
            "val_accuracy": val_acc, "train_accuracy": train_acc,
            "train_seconds": round(seconds, 2), "final_loss": loss.item(),
            "torch": str(torch.__version__)}
    log.info("demo CNN trained in %.1f s: held-out accuracy %.3f (chance %.3f)", seconds,
             val_acc, 1.0 / len(SHAPE_CLASSES))
    model.eval()
    return model, meta


def _save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: torch.save(obj, handle), binary=True)


def load_demo(config: DemoConfig | None = None, *, retrain: bool = False) -> ModelBundle:
    """The demo CNN as a ``ModelBundle``, trained and cached on first use.

    Parameters
    ----------
    config : DemoConfig, optional
        Training recipe; defaults to the module's ``DEFAULT_CONFIG`` (read at call time).
    retrain : bool
        Train again even when a cached model exists (and replace it).

    Returns
    -------
    ModelBundle
        ``info`` holds ``cache_path``, ``trained_now`` and the training metadata
        (``val_accuracy``, ...). An unreadable cache file is retrained with a warning.
    """
    from ..data.synthetic import SHAPE_CLASSES

    config = DEFAULT_CONFIG if config is None else config

    path = demo_model_path(config)
    model = DemoCNN(len(SHAPE_CLASSES), config.widths)
    meta: dict = {}
    trained_now = False
    if path.is_file() and not retrain:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
            load_state_dict_strict(model, read_weights(path), source=str(path))
            meta = dict(raw.get("meta", {})) if isinstance(raw, dict) else {}
            log.debug("demo CNN loaded from cache %s", path)
        except Exception as exc:  # corrupt cache: retrain rather than fail
            log.warning("demo cache %s unreadable (%s); retraining", path, exc)
            meta = {}
    if not meta:
        log.info("training the demo CNN on the built-in shapes set (%d images, %d epochs, one "
                 "thread; once - cached at %s)", config.n_train, config.epochs, path)
        model, meta = train_demo(config)
        trained_now = True
        try:
            _save({"state_dict": model.state_dict(), "meta": meta}, path)
        except OSError as exc:
            log.warning("could not cache the demo CNN at %s (%s); it will be retrained next time",
                        path, exc)
    model.eval()
    return ModelBundle(
        module=model, input_size=(32, 32), mean=DEMO_MEAN, std=DEMO_STD,
        class_names=list(SHAPE_CLASSES), spec="demo", weights=None,
        hash=state_dict_sha256(model),
        info={"cache_path": str(path), "trained_now": trained_now, **meta},
    )
