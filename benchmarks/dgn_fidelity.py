"""DGN-AM fidelity (issue 13): is the generator an image prior, and do DGN-AM images look real?

    .venv/bin/python benchmarks/dgn_fidelity.py --out /tmp/dgn            # train if needed, evaluate
    .venv/bin/python benchmarks/dgn_fidelity.py --train-only --models resnet20   # training only
    .venv/bin/python benchmarks/dgn_fidelity.py --quick --out /tmp/dgn    # small sizes

Issue 13's run (the defaults; one process per model, one thread each, both at once)::

    nohup nice -n 10 python benchmarks/dgn_fidelity.py --models resnet20 --retrain --out DIR &
    nohup nice -n 10 python benchmarks/dgn_fidelity.py --models resnet32 --retrain --out DIR &

(without ``--retrain`` the generators saved by that run are loaded and only evaluated).

For each shared CIFAR ResNet (``cifar-resnet20``, ``cifar-resnet32``) and ``layer3``:

* generator: a spatial-code generator (64 x 8 x 8 codes) trained on 90 % of the 5,000 shared
  CIFAR-10 JPEGs and their mirror images, first on the pixel loss alone (``--pixel-warmup``
  of the time: no classifier pass, ~3x more images per second), then with pixel + feature
  (perceptual, ``--feature-weight``) + adversarial (``--adversarial``) losses, time-limited
  (``--train-seconds``), saved in topoact's cache dir (``topoact.cachedir``, never the repo)
  and reused on the next run (``--retrain`` to train again). Row: hold-out reconstruction MSE
  vs the mean training image's (goal: ratio <= 0.6), training time and threads.
* nodes: the ten classes' image groups ("nodes"), direction = the members' mean GAP code.
  For each, a batch of 8 pixel-space node visualizations (NodeVisualization, Fourier
  parameterization + transforms) and 8 DGN-AM images through the generator, same objective.
  Row: activation (projection on the direction) of both vs the members' mean (goal: DGN-AM
  above the members' mean).
* realism: Fréchet distance between GAP ``layer3`` feature statistics of the real images and
  of each synthetic set, computed with the OTHER shared model (the one that did not produce
  the images). Goal: DGN-AM closer to the real images than pixel space.
* figures: ``<out>/dgn_<model>.png``, one row per node: 8 real members (highest projection) |
  8 pixel-space | 8 DGN-AM, upscaled x2.

Prints a table with ratios and ``os.getloadavg()``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from topoact.cachedir import cache_dir  # noqa: E402
from topoact.features.generator import load_generator, save_generator, train_generator  # noqa: E402
from topoact.features.methods import DGNAM, NodeVisualization  # noqa: E402
from topoact.features.methods.base import layer_features  # noqa: E402
from topoact.features.methods.node import projection  # noqa: E402
from topoact.features.render import thread_limit  # noqa: E402

SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))
MODELS = {"resnet20": "cifar-resnet20", "resnet32": "cifar-resnet32"}
log = logging.getLogger("dgn_fidelity")


def load_bundle(name: str):
    from topoact.models import load_model

    weights = SHARED / "cifar10-resnet" / f"{name}.th"
    if not weights.is_file():
        raise SystemExit(f"no checkpoint at {weights}; set TOPOACT_SHARED_DATA")
    return load_model(MODELS[name], weights=weights)


def load_images(n_per_class: int | None):
    """(unit images (N, 3, 32, 32), labels (N,)) of the shared CIFAR-10 JPEGs."""
    from topoact.data import open_dataset

    ds = open_dataset(str(SHARED / "cifar10" / "images"))
    labels = np.asarray(ds.labels())
    rows = [int(i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:n_per_class]]
    from torchvision.transforms.functional import pil_to_tensor

    unit = torch.stack([pil_to_tensor(ds.load(i).convert("RGB")).float() / 255 for i in rows])
    return unit, labels[rows]


def generator_file(bundle, layer: str, tag: str) -> Path:
    return cache_dir("dgn", create=True) / f"{bundle.spec}-{(bundle.hash or '')[:12]}-{layer}-{tag}.pt"


def get_generator(name, bundle, layer, unit, args, add):
    path = generator_file(bundle, layer, args.tag)
    if path.exists() and path.with_suffix(".json").exists() and not args.retrain:
        fit = load_generator(path)
        add(name, "generator", f"loaded {path}")
    else:
        fit = train_generator(bundle, unit, layer, epochs=args.epochs, batch_size=args.batch_size,
                              max_seconds=args.train_seconds, width=args.width, lr=args.lr,
                              threads=args.threads, pixel_warmup=args.pixel_warmup,
                              feature_weight=args.feature_weight, adversarial=args.adversarial)
        save_generator(fit, path)
        add(name, "generator", f"trained and saved {path}")
    m = fit.metrics
    add(name, "generator training", f"{m['epochs']} epochs ({m.get('images_seen')} images, "
        f"{m.get('images_seen_pixel_only', 0)} pixel-only), {m['seconds']:.0f} s "
        f"({m.get('seconds_pixel_only', 0):.0f} s pixel-only; process CPU "
        f"{m.get('cpu_seconds', float('nan')):.0f} s), threads "
        f"{args.threads}, code {m.get('code', 'reduced')} {fit.config.get('code_shape')}, "
        f"{m['n_train']} train / {m['n_holdout']} hold-out images")
    add(name, "hold-out MSE / mean image", f"{m['holdout_mse']:.4f} / {m['mean_image_mse']:.4f} = "
        f"{m['holdout_mse'] / m['mean_image_mse']:.2f}x (goal <= 0.60x) | feature err "
        f"{m['holdout_feature_error']:.3f}")
    return fit


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def grid(rows: list[list[torch.Tensor]], scale: int = 2, gap: int = 4):
    """PIL image of rows of image batches (each (B, 3, H, W) in [0, 1]), groups separated."""
    from PIL import Image

    lines = []
    for groups in rows:
        parts = []
        for g in groups:
            parts.append(torch.cat(list(g), dim=2))
            parts.append(torch.ones(3, g.shape[2], gap))
        lines.append(torch.cat(parts[:-1], dim=2))
        lines.append(torch.ones(3, 2, lines[-1].shape[2]))
    img = torch.cat(lines[:-1], dim=1)
    arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(arr)
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def evaluate_model(name, other_name, bundles, unit, labels, fit, args, add):
    bundle, other = bundles[name], bundles[other_name]
    layer = args.layer
    feats = layer_features(bundle, unit, layer)[0]
    real_other = layer_features(other, unit, layer)[0]
    rows, pix_all, dgn_all = [], [], []
    pix_ok = dgn_ok = 0
    classes = np.unique(labels)[: args.nodes]
    t_pix = t_dgn = 0.0
    for c in classes:
        members = np.flatnonzero(labels == c)
        v = feats[members].mean(0)
        mp = projection(feats[members], v)
        t = time.perf_counter()
        pix = NodeVisualization(steps=args.steps, batch=args.batch, seed=int(c)).visualize(bundle, layer, v)
        t_pix += time.perf_counter() - t
        t = time.perf_counter()
        dgn = DGNAM(steps=args.steps, batch=args.batch, seed=int(c)).visualize(bundle, fit, layer, v)
        t_dgn += time.perf_counter() - t
        pa, da = pix.metrics["activation_mean"], dgn.metrics["activation_mean"]
        pix_ok += pa > mp.mean()
        dgn_ok += da > mp.mean()
        add(name, f"node class {c} activation", f"DGN-AM {da:.3g} | pixel {pa:.3g} | members mean "
            f"{mp.mean():.3g} max {mp.max():.3g} | DGN/members {da / mp.mean():.2f}x")
        top = members[np.argsort(-mp)[: args.batch]]
        rows.append([unit[top], pix.images, dgn.images])
        pix_all.append(pix.images)
        dgn_all.append(dgn.images)
    pix_all, dgn_all = torch.cat(pix_all), torch.cat(dgn_all)
    fd_pix = frechet(real_other, layer_features(other, pix_all, layer)[0])
    fd_dgn = frechet(real_other, layer_features(other, dgn_all, layer)[0])
    sub = unit[np.random.default_rng(0).permutation(len(unit))[: len(dgn_all)]]
    fd_real = frechet(real_other, layer_features(other, sub, layer)[0])
    add(name, "activation above members' mean", f"DGN-AM {dgn_ok}/{len(classes)} nodes | pixel "
        f"{pix_ok}/{len(classes)} nodes")
    add(name, f"Frechet dist. ({other_name} {layer})",
        f"DGN-AM {fd_dgn:.2f} | pixel {fd_pix:.2f} | DGN/pixel {fd_dgn / fd_pix:.2f}x (goal < 1) | "
        f"{len(dgn_all)} real images {fd_real:.2f} (same-size floor)")
    add(name, "synthesis time", f"DGN-AM {t_dgn:.1f} s | pixel {t_pix:.1f} s ({len(classes)} x "
        f"{args.batch} images, {args.steps} steps)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"dgn_{name}.png"
        grid(rows).save(path)
        add(name, "figure (real | pixel | DGN-AM)", str(path))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet20,resnet32")
    ap.add_argument("--layer", default="layer3")
    ap.add_argument("--out", default=None, help="folder for the PNG grids (not in the repo)")
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--train-seconds", type=float, default=1500.0)
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64, help="generator training batch")
    ap.add_argument("--lr", type=float, default=2e-3, help="generator Adam step (cosine-decayed)")
    ap.add_argument("--pixel-warmup", type=float, default=0.75,
                    help="fraction of the training time on the pixel loss alone")
    ap.add_argument("--feature-weight", type=float, default=0.25)
    ap.add_argument("--adversarial", type=float, default=0.005)
    ap.add_argument("--tag", default="long", help="generator file tag in the cache dir")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="small sizes (development)")
    args = ap.parse_args(argv)
    if args.quick:
        args.per_class, args.train_seconds, args.epochs, args.steps, args.nodes = 60, 30, 3, 32, 3
        args.tag = "quick"
    logging.basicConfig(level=logging.WARNING)
    names = [n.strip() for n in args.models.split(",")]
    print(f"{'model':<9} {'measure':<36} result   (load average at start {os.getloadavg()})",
          flush=True)
    print("-" * 120, flush=True)
    table = []

    def add(model, k, v):
        table.append((model, k, v))
        print(f"{model:<9} {k:<36} {v}", flush=True)

    unit, labels = load_images(args.per_class)
    bundles = {n: load_bundle(n) for n in MODELS} if not args.train_only else \
        {n: load_bundle(n) for n in names}
    with thread_limit(bundles[names[0]], args.threads):
        fits = {n: get_generator(n, bundles[n], args.layer, unit, args, add) for n in names}
        if not args.train_only:
            for n in names:
                other = next(o for o in MODELS if o != n)
                evaluate_model(n, other, bundles, unit, labels, fits[n], args, add)
    add("all", "load average at end", str(os.getloadavg()))
    return table


if __name__ == "__main__":
    main()
