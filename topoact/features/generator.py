"""topoact's own image generator for DGN-AM: inverts one layer of the user's model.

``train_generator`` fits a network ``G`` that maps a layer's code back to an image, on a set
of real images. The code is the layer's whole output (C, h, w) for conv layers
(``code='spatial'``, :class:`~topoact.features.networks.SpatialCodeGenerator`; the default
for them) or the stored reduced vector (D,) (``code='reduced'``, :class:`CodeGenerator`, an
up-convolutional network from a 4x4 start). The loss is

    mean((G(c) - x) ** 2) + feature_weight * mean((E(G(c)) - c) ** 2) / var(c)
        + adversarial * softplus(-D(G(c)))

(pixels + feature matching through the frozen classifier ``E`` at the code's layer, a
perceptual loss in ``E``'s own feature space + the non-saturating adversarial term of a small
spectral-normalised patch discriminator ``D`` trained alongside, as in DGN-AM's generator).
The first ``pixel_warmup`` of the budget uses the pixel term alone (no classifier pass, so
about 3x more images per second: the image prior is learnt there); the feature and
adversarial terms then fine-tune it. Training images are augmented with their mirror images
(codes computed once, up front) and the learning rate follows a cosine over the planned
epochs or ``max_seconds``. A hold-out split reports the reconstruction error next to that of
the mean training image. The per-unit
code statistics (mean, std, bounds) are kept for DGN-AM's code clipping: ``[0, 3 std]`` when
all training codes are non-negative (post-ReLU layers, as in the paper), else ``mean ± 3 std``.
``save_generator``/``load_generator`` store the tensors in one ``torch.save`` file (loaded with
``weights_only=True``) and the configuration in a JSON file beside it.
"""
from __future__ import annotations

import logging
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..fileio import atomic_write, read_json, write_json
from ..progress import CancelFn, ProgressFn, check_cancelled, report
from .hooks import frozen, recording
from .networks import PatchDiscriminator, SpatialCodeGenerator, up_block
from .objectives import reduce as reduce_output, resolve_reduce
from .render import thread_limit

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["CodeGenerator", "SpatialCodeGenerator", "GeneratorFit", "train_generator",
           "save_generator", "load_generator", "build_generator", "codes_of", "GeneratorFormatError",
           "FORMAT_VERSION"]

#: version of the (.pt tensors + .json) generator files
FORMAT_VERSION = 2
_STATS = ("code_mean", "code_std", "code_low", "code_high")


class GeneratorFormatError(ValueError):
    """A generator file topoact cannot load safely (old pickled format, or a damaged pair)."""

log = logging.getLogger(__name__)


class CodeGenerator(nn.Module):
    """Code (B, D) -> images (B, 3, H, W) in [0, 1].

    Parameters
    ----------
    code_dim : int
        Length D of a code (the layer's stored vector).
    output_size : (int, int)
        Image size (H, W) of the model's input.
    width : int
        Channels of the first up-convolution (halved at each doubling, at least 16).
    """

    def __init__(self, code_dim: int, output_size: tuple[int, int], width: int = 64):
        super().__init__()
        self.code_dim, self.output_size, self.width = int(code_dim), tuple(output_size), int(width)
        side = min(min(self.output_size), 64)
        self.base = max(8, 2 ** int(math.floor(math.log2(side))))
        n_up = int(math.log2(self.base // 4))
        self.fc = nn.Sequential(nn.Linear(self.code_dim, width * 2 * 16), nn.LeakyReLU(0.2))
        blocks, ch = [], width * 2
        for i in range(n_up):
            out = max(width // (2 ** i), 16)
            blocks += up_block(ch, out)
            ch = out
        self.up = nn.Sequential(*blocks)
        self.out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] from codes (B, D)."""
        h = self.fc(code).view(len(code), self.width * 2, 4, 4)
        img = torch.sigmoid(self.out(self.up(h)))
        if tuple(img.shape[-2:]) != self.output_size:
            img = F.interpolate(img, size=self.output_size, mode="bilinear", align_corners=False)
        return img


@dataclass
class GeneratorFit:
    """A trained generator and the code statistics DGN-AM needs.

    Attributes
    ----------
    generator : CodeGenerator or SpatialCodeGenerator
    layer : str
    reduce : str
        The run's reduction the codes were computed with.
    code_mean, code_std, code_low, code_high : ndarray of shape (D,)
        Per-unit statistics of the training codes and DGN-AM's clipping bounds.
    model_hash : str
        Hash of the classifier the generator inverts.
    metrics : dict
        Hold-out errors and training time.
    config : dict
        Network shape and training parameters.
    """

    generator: nn.Module
    layer: str
    reduce: str
    code_mean: np.ndarray
    code_std: np.ndarray
    code_low: np.ndarray
    code_high: np.ndarray
    model_hash: str = ""
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


def _code_kind(code: str, sample: torch.Tensor) -> str:
    """'spatial' for a conv output (B, C, h, w) with h * w > 1 under ``'auto'``, else 'reduced'."""
    if code not in ("auto", "reduced", "spatial"):
        raise ValueError(f"code must be 'auto', 'reduced' or 'spatial', got {code!r}")
    is_map = sample.dim() == 4 and sample.shape[-1] * sample.shape[-2] > 1
    if code == "spatial" and not is_map:
        raise ValueError(f"code='spatial' needs a conv layer output (B, C, h, w); this layer "
                         f"gives {tuple(sample.shape[1:])}")
    if code == "auto":
        return "spatial" if is_map else "reduced"
    return code


def _code(out: torch.Tensor, kind: str, reduce: str) -> torch.Tensor:
    return out.flatten(1) if kind == "spatial" else reduce_output(out, reduce).flatten(1)


@torch.no_grad()
def codes_of(bundle: ModelBundle, images: torch.Tensor, layer: str, reduce: str = "gap",
             batch_size: int = 256, code: str = "reduced") -> torch.Tensor:
    """Codes of images at ``layer``: the stored (reduced) vector, or the full output.

    Parameters
    ----------
    bundle : ModelBundle
    images : tensor of shape (N, 3, H, W)
        Images in [0, 1].
    layer : str
    reduce : {'gap', 'center', 'random'}
        The run's reduction (:func:`topoact.features.objectives.reduce`), for reduced codes.
    batch_size : int
    code : {'reduced', 'spatial'}
        'reduced': the stored vector (as collection stores it); 'spatial': the whole output
        flattened (C * h * w).

    Returns
    -------
    tensor of shape (N, D)
    """
    out = []
    with frozen(bundle.module), recording(bundle.module, [layer], bundle) as acts:
        for s in range(0, len(images), batch_size):
            bundle.module(bundle.normalize(images[s:s + batch_size]))
            out.append(_code(acts[layer], code, reduce).clone())
    return torch.cat(out)


def build_generator(config: dict) -> nn.Module:
    """The (untrained) generator network a fit's ``config`` describes.

    Parameters
    ----------
    config : dict
        ``code`` ('reduced' or 'spatial'), ``code_dim`` or ``code_shape``, ``output_size``,
        ``width``.

    Returns
    -------
    CodeGenerator or SpatialCodeGenerator
    """
    if config.get("code", "reduced") == "spatial":
        return SpatialCodeGenerator(tuple(config["code_shape"]), tuple(config["output_size"]),
                                    config["width"])
    return CodeGenerator(config["code_dim"], tuple(config["output_size"]), config["width"])


def train_generator(bundle: ModelBundle, images: torch.Tensor, layer: str, reduce: str = "gap",
                    epochs: int = 20, batch_size: int = 64, lr: float = 2e-3,
                    feature_weight: float = 0.25, width: int = 64, holdout: float = 0.1,
                    max_seconds: float | None = 180.0, seed: int = 0,
                    progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                    threads: int | str | None = "auto", *, code: str = "auto",
                    adversarial: float = 0.005, augment: bool = True,
                    pixel_warmup: float = 0.75, reduction: str | None = None) -> GeneratorFit:
    """Train a generator inverting ``layer`` on ``images``.

    Parameters
    ----------
    bundle : ModelBundle
    images : tensor of shape (N, 3, H, W)
        Training images in [0, 1] (N >= 4; a ``holdout`` fraction is kept aside).
    layer : str
    reduce : {'gap', 'center', 'random'}
        The run's reduction (``reduction=`` is its deprecated alias).
    epochs, batch_size, lr, feature_weight, width, holdout
        Training length, batch, Adam step (cosine-decayed over the planned epochs or time),
        weight of the feature-matching term, network width, hold-out fraction.
    max_seconds : float or None
        Stop after this long (whichever of ``epochs`` and ``max_seconds`` comes first).
    seed : int
    progress, should_cancel : callable, optional
        :mod:`topoact.progress`: ``progress(epoch, epochs, message)`` after each epoch.
    threads : int, 'auto' or None
        As in :func:`~topoact.features.render.optimize`.
    code : {'auto', 'spatial', 'reduced'}
        What the generator reads: the layer's whole output (C, h, w) ('spatial', chosen by
        'auto' for conv layers) or the stored reduced vector ('reduced').
    adversarial : float
        Weight of the adversarial term (a :class:`PatchDiscriminator` trained alongside;
        0 disables it).
    augment : bool
        Add the mirror images of the training images (their codes computed once, up front:
        the code of a flipped image is not the flipped code).
    pixel_warmup : float in [0, 1)
        Fraction of the training budget (planned epochs or ``max_seconds``, whichever is
        further along) spent on the pixel loss alone, before the feature and adversarial
        terms join. A pixel-only step never runs the classifier, so it sees about 3x more
        images per second (ResNet-20 ``layer3``, one thread: pixel loss alone reaches 0.41x
        the mean image's hold-out MSE after 150 s, all three losses from the start 0.87x
        after 900 s).

    Returns
    -------
    GeneratorFit
        ``metrics`` hold the hold-out reconstruction MSE and that of the mean training image.
    """
    reduce = resolve_reduce(reduce, reduction, "train_generator")
    if adversarial < 0 or feature_weight < 0:
        raise ValueError("adversarial and feature_weight must be >= 0")
    if not 0 <= pixel_warmup < 1:
        raise ValueError(f"pixel_warmup must be in [0, 1), got {pixel_warmup}")
    with thread_limit(bundle, threads):
        return _train(bundle, images, layer, reduce, epochs, batch_size, lr, feature_weight,
                      width, holdout, max_seconds, seed, progress, should_cancel, code,
                      float(adversarial), bool(augment), float(pixel_warmup))


def _train(bundle, images, layer, reduce, epochs, batch_size, lr, feature_weight, width,
           holdout, max_seconds, seed, progress, should_cancel, code, adversarial,
           augment, pixel_warmup) -> GeneratorFit:
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.dim() != 4 or len(images) < 4:
        raise ValueError(f"need at least 4 images (N, 3, H, W), got {tuple(images.shape)}")
    if not 0 < holdout < 1:
        raise ValueError("holdout must be in (0, 1)")
    torch.manual_seed(seed)  # module init; the data order uses its own generator below
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(images), generator=gen)
    n_hold = max(1, int(round(holdout * len(images))))
    hold, train = images[perm[:n_hold]], images[perm[n_hold:]]
    module = bundle.module
    with frozen(module), recording(module, [layer], bundle) as acts, torch.no_grad():
        module(bundle.normalize(train[:2]))
        sample = acts[layer]
    kind = _code_kind(code, sample)
    n_train = len(train)
    if augment:
        train = torch.cat([train, train.flip(-1)])
    codes_train = codes_of(bundle, train, layer, reduce, code=kind)
    codes_hold = codes_of(bundle, hold, layer, reduce, code=kind)
    var = codes_train.var().clamp_min(1e-8)
    config = {"code": kind, "code_dim": int(codes_train.shape[1]),
              "code_shape": list(sample.shape[1:]) if kind == "spatial" else None,
              "output_size": list(bundle.input_size), "width": width, "epochs": epochs, "lr": lr,
              "feature_weight": feature_weight, "adversarial": adversarial, "augment": augment,
              "batch_size": batch_size, "seed": seed, "pixel_warmup": pixel_warmup}
    model = build_generator(config)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    critic = PatchDiscriminator() if adversarial > 0 else None
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999)) if critic else None
    start, cpu_start = time.perf_counter(), time.process_time()
    done, n_batches = 0, -(-len(train) // batch_size)
    history, seen, seen_pixel_only, t_full = [], 0, 0, None
    with frozen(module), recording(module, [layer], bundle) as acts:
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(train), generator=gen)
            total = 0.0
            for b, s in enumerate(range(0, len(train), batch_size)):
                check_cancelled(should_cancel, "generator training")
                elapsed = (time.perf_counter() - start) / max_seconds if max_seconds else 0.0
                frac = min(1.0, max((epoch + b / n_batches) / epochs, elapsed))
                for group in opt.param_groups + (opt_d.param_groups if opt_d else []):
                    group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
                x, c = train[order[s:s + batch_size]], codes_train[order[s:s + batch_size]]
                full = frac >= pixel_warmup
                recon = model(c)
                pixel = F.mse_loss(recon, x)
                loss = pixel
                if full:
                    if t_full is None:
                        t_full = time.perf_counter() - start
                    module(bundle.normalize(recon))
                    feat = _code(acts[layer], kind, reduce)
                    loss = loss + feature_weight * F.mse_loss(feat, c) / var
                    if critic is not None:
                        loss = loss + adversarial * F.softplus(-critic(recon)).mean()
                else:
                    seen_pixel_only += len(x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if critic is not None and full:
                    d_loss = (F.softplus(-critic(x)).mean()
                              + F.softplus(critic(recon.detach())).mean())
                    opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    opt_d.step()
                total += float(pixel.detach()) * len(x)
                seen += len(x)
                if max_seconds is not None and time.perf_counter() - start > max_seconds:
                    break
            done = epoch + 1
            history.append(total / min(len(train), (b + 1) * batch_size))
            report(progress, done, epochs, f"epoch {done}/{epochs}")
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                log.info("generator training stopped after %d epochs (time limit)", done)
                break
    model.eval()
    with torch.no_grad():
        recon_hold = torch.cat([model(codes_hold[s:s + 256]) for s in range(0, len(hold), 256)])
        mse = float(F.mse_loss(recon_hold, hold))
        mean_img = train.mean(0, keepdim=True)
        mse_mean = float(((hold - mean_img) ** 2).mean())
        feat_hold = codes_of(bundle, recon_hold, layer, reduce, code=kind)
        feat_err = float(F.mse_loss(feat_hold, codes_hold) / var)
    c = codes_train.numpy().astype(np.float64)
    mean, std = c.mean(0), c.std(0) + 1e-8
    if (c >= 0).all():
        low, high = np.zeros_like(mean), 3 * std
    else:
        low, high = mean - 3 * std, mean + 3 * std
    seconds = time.perf_counter() - start
    metrics = {"holdout_mse": mse, "mean_image_mse": mse_mean, "holdout_feature_error": feat_err,
               "epochs": done, "images_seen": seen, "images_seen_pixel_only": seen_pixel_only,
               "seconds": seconds, "seconds_pixel_only": seconds if t_full is None else t_full,
               "cpu_seconds": time.process_time() - cpu_start,
               "n_train": n_train, "n_holdout": len(hold), "code": kind,
               "train_pixel_mse": [round(v, 6) for v in history]}
    return GeneratorFit(model, layer, reduce, mean.astype(np.float32), std.astype(np.float32),
                        low.astype(np.float32), high.astype(np.float32),
                        getattr(bundle, "hash", ""), metrics, config)


def _json_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_generator(fit: GeneratorFit, path: str | Path) -> Path:
    """Write ``fit`` as ``path`` (tensors only) plus ``path.with_suffix('.json')``, atomically.

    Parameters
    ----------
    fit : GeneratorFit
    path : str or Path
        The ``.pt`` file; its folder is created when missing.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"generator.{k}": v.detach().cpu() for k, v in fit.generator.state_dict().items()}
    tensors.update({name: torch.as_tensor(np.asarray(getattr(fit, name), np.float32))
                    for name in _STATS})
    atomic_write(path, lambda handle: torch.save(tensors, handle), binary=True)
    write_json(_json_path(path), {"format_version": FORMAT_VERSION, "layer": fit.layer,
                                  "reduce": fit.reduce, "model_hash": fit.model_hash,
                                  "metrics": fit.metrics, "config": fit.config,
                                  "weights": path.name})
    return path


def load_generator(path: str | Path) -> GeneratorFit:
    """Read a generator written by :func:`save_generator` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : str or Path
        The ``.pt`` file (its ``.json`` sidecar must be beside it).

    Returns
    -------
    GeneratorFit

    Raises
    ------
    GeneratorFormatError
        For a file of the old pickled format (or without its JSON): retrain the generator.
    FileNotFoundError
        When ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no generator file {path}")
    retrain = ("retrain it (topoact.features.service.train_generator_for_run, or the app's "
               "'train generator' button); old generator files are not loaded because reading "
               "them would unpickle arbitrary code")
    meta_path = _json_path(path)
    if not meta_path.exists():
        raise GeneratorFormatError(f"{path} was written by an older topoact (one pickled file "
                                   f"without {meta_path.name}); {retrain}")
    meta = read_json(meta_path)
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise GeneratorFormatError(f"{meta_path} has format_version {meta['format_version']}; "
                                   f"this topoact reads up to {FORMAT_VERSION}: upgrade topoact")
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GeneratorFormatError(f"{path} is not a tensors-only file ({exc}); {retrain}") from None
    cfg = meta["config"]
    model = build_generator(cfg)
    prefix = "generator."
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    model.eval()
    stats = [tensors[name].numpy() for name in _STATS]
    return GeneratorFit(model, meta["layer"], meta["reduce"], *stats,
                        meta.get("model_hash", ""), meta.get("metrics", {}), cfg)
