"""Feature-visualization benchmark (issue 6): one command, prints a table.

    .venv/bin/python benchmarks/featvis.py            # full: 256 steps, demo + ResNet-20
    .venv/bin/python benchmarks/featvis.py --quick    # small sizes while developing
    .venv/bin/python benchmarks/featvis.py --speed-only --models resnet20   # issue 13's rows

For each model (``demo`` on the built-in ``shapes`` images; ``cifar-resnet20`` with the shared
checkpoint on the shared CIFAR-10 JPEGs) and one layer (demo ``block3``, ResNet-20 ``layer3``,
GAP-reduced):

* nodes: a Mapper graph of the layer's activations (topoact.mapper.build_graph); its three
  largest nodes. If building the graph fails, class groups are used as "nodes" (reported).
* node visualization: projection on the node's mean direction reached by a batch of 8 vs the
  node's real members (mean, max).
* inverse sets: the channel with the widest range at levels 0.25/0.5/0.75: % of 8 samples
  within ±5 % of the range, pixel / feature diversity with the diversity term vs 8 independent
  restarts without it (a batch of 8 with diversity weight 0: every loss term is per sample,
  so the members are independent restarts from different random starts), from Lucid's
  near-grey start (sd 0.01) and from a wide random start (sd 0.5).
* class-agnostic: mean activation gain vs RMS pixel distance for several weights.
* DGN-AM vs pixel space: trained generator (time-limited), projection reached and the
  classifier's confidence for the node's majority class.
* speed (issue 13): ResNet-20, 32 px, a batch of 8 and one image, NodeVisualization (Fourier
  parameterization, transforms, diversity term, ``threads='auto'``) against the bare 20-line
  loop (pixel parameters, Adam, no transforms, full forward, torch's thread count),
  interleaved in one run; ratio of the summed times and the activation reached.
* timing at the model's input size / STEPS steps: one image, a batch of 8, a cached repeat
  through the service, and the same channel objective with torch-lucent 0.1.8 (its own
  transforms, ``fixed_image_size`` = the input size, same thread count) as a time ratio.

Speed notes (ResNet-20, 32 px, one thread, CPU time per forward+backward step measured with
``time.process_time`` on the shared 2-core machine at load 4-6): batch 1 ~7 ms, batch 8
~29 ms; mkldnn convolution forward + backward is ~76 % of it (torch.profiler), batch norm
backward 5 %, ReLU 8 %, Python / transforms / Adam < 10 %. Hence:

* early stop after the last hooked layer (topoact.features.render): identical pixels, saves
  ~35 % CPU for ``layer1`` and ~15-25 % for ``layer2`` targets; nothing for ``layer3`` (only
  the pooling and the linear head follow it);
* ``channels_last`` (model and input): 0-5 %, within noise -> not used;
* batch norm folded into the convolutions on a private copy of the model, the pairs found on a
  ``torch.fx`` trace (topoact.features.fold): -22 % CPU per ResNet-20 step;
* threads: ``threads='auto'`` keeps torch's own setting at any load (an earlier heuristic that
  dropped to one thread when the load average exceeded the cores halved the speed on a busy
  machine and was removed; issue 13).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from topoact.features import objectives as O  # noqa: E402
from topoact.features import param, service  # noqa: E402
from topoact.features.cache import to_uint8  # noqa: E402
from topoact.features.generator import train_generator  # noqa: E402
from topoact.features.methods import DGNAM, ClassAgnostic, InverseSet, LevelTarget, NodeVisualization  # noqa: E402
from topoact.features.methods.base import layer_features  # noqa: E402
from topoact.features.methods.node import projection  # noqa: E402
from topoact.features.render import optimize, thread_limit  # noqa: E402
from topoact.features.transforms import standard_transforms  # noqa: E402

SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))
log = logging.getLogger("featvis")


def load_images(name: str, n_per_class: int):
    from topoact.data import open_dataset

    if name == "demo":
        ds = open_dataset(f"shapes:{n_per_class * 8}")
        rows = list(range(len(ds)))
    else:
        ds = open_dataset(str(SHARED / "cifar10" / "images"))
        labels = ds.labels()
        rows = [int(i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:n_per_class]]
    return ds, rows, np.asarray(ds.labels())[rows]


def make_nodes(feats, labels, n_nodes=3):
    try:
        from topoact.mapper import build_graph

        graph = build_graph(feats, labels=labels, n_jobs=1).to_dict()
        nodes = sorted(graph["nodes"], key=lambda n: -n["size"])[:n_nodes]
        if len(nodes) < n_nodes or nodes[-1]["size"] < 5:
            raise ValueError("graph too small")
        return "mapper", graph, [(n["id"], np.asarray(n["members"]), int(n["majority_label"])) for n in nodes]
    except Exception as exc:  # noqa: BLE001 - reported in the table
        log.warning("Mapper graph unavailable (%s); using class groups as nodes", exc)
        classes = np.unique(labels)[:n_nodes]
        nodes = [{"id": int(c), "members": np.flatnonzero(labels == c).tolist(), "size": int((labels == c).sum())}
                 for c in classes]
        return "class groups", {"key": "classes", "nodes": nodes}, [
            (int(c), np.flatnonzero(labels == c), int(c)) for c in classes]


class BenchRun:
    """In-memory stand-in for a run directory satisfying ``topoact.store.RunLike``, so the
    benchmark can time the service's cache path on exactly these images."""

    def __init__(self, path, bundle, layer, feats, pixels, graph):
        self.path, self._bundle, self._pixels, self._graph = Path(path), bundle, pixels, graph
        self._acts = {layer: feats.astype(np.float32)}
        self.meta = {"model": {"hash": bundle.hash or bundle.spec}, "reduce": "gap",
                     "layers": {layer: {"reduce": "gap"}}}
        self.layers, self.n = [layer], len(pixels)

    def activations(self, layer):
        return self._acts[layer]

    def fingerprint(self, layer):
        from topoact.hashing import array_hash
        return array_hash(self._acts[layer])

    def reduce_of(self, layer):
        return self.meta["layers"][layer]["reduce"]

    def graph(self, layer, key=None):
        return self._graph

    def node_means(self, layer, key=None):
        acts = self._acts[layer]
        return np.stack([acts[nd["members"]].mean(0) for nd in self._graph["nodes"]])

    def image(self, i):
        from PIL import Image
        return Image.fromarray(self._pixels[i])

    def model(self):
        return self._bundle

    def results_dir(self, kind, create=False):
        p = self.path / kind
        if create:
            p.mkdir(parents=True, exist_ok=True)
        return p


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def lucent_time(bundle, layer, channel, steps, batch):
    try:
        from lucent.optvis import param as lparam, render as lrender, transform as ltransform
    except ImportError as exc:
        return None, f"torch-lucent not importable: {exc}"
    size = bundle.input_size[0]
    norm = lambda x: bundle.normalize(x)  # noqa: E731
    transforms = list(ltransform.standard_transforms) + [norm]
    torch.manual_seed(0)
    with thread_limit(bundle, "auto"):
        _, secs = timed(lambda: lrender.render_vis(
            bundle.module, f"{layer.replace('.', '_')}:{channel}",
            param_f=lambda: lparam.image(size, batch=batch), transforms=transforms,
            thresholds=(steps,), preprocess=False, progress=False, show_image=False,
            fixed_image_size=size))
    bundle.module.eval()
    for p in bundle.module.parameters():
        p.requires_grad_(False)
    return secs, ""


def bare_loop(bundle, layer, vector, batch, steps, seed=0):
    """The bare 20-line PyTorch loop of issue 13: pixel parameters, Adam, no transforms, full
    forward, torch's own thread count; maximises the projection on ``vector`` at ``layer``."""
    model = bundle.module.eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    store = {}
    hook = dict(model.named_modules())[layer].register_forward_hook(
        lambda _m, _i, out: store.__setitem__("a", out))
    v = torch.as_tensor(vector / np.linalg.norm(vector), dtype=torch.float32)
    x = (torch.randn(batch, 3, *bundle.input_size, generator=torch.Generator().manual_seed(seed))
         * 0.01).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        model(bundle.normalize(torch.sigmoid(x)))
        loss = -(store["a"].mean((2, 3)) @ v).mean()
        loss.backward()
        opt.step()
    hook.remove()
    for p, f in zip(model.parameters(), flags):
        p.requires_grad_(f)
    return torch.sigmoid(x).detach()


def bench_speed(name, args, rows_out):
    """Issue 13's speed rows: a batch of 8 and one image, ours (NodeVisualization: Fourier
    parameterization, transforms, diversity, threads='auto') vs the bare loop, interleaved
    (bare, ours, bare, ours) so that both see the same load; ratio of the sums."""
    from topoact.models import load_model

    weights = SHARED / "cifar10-resnet" / "resnet20.th"
    if name != "resnet20" or not weights.is_file():
        return
    bundle, layer, steps = load_model("cifar-resnet20", weights=weights), "layer3", args.steps
    ds, rows, labels = load_images(name, 10)
    unit = torch.stack([bundle.to_unit_tensor(ds.load(i)) for i in rows])
    feats = layer_features(bundle, unit, layer)[0]
    v = feats[labels == labels[0]].mean(0)
    members = projection(feats[labels == labels[0]], v).mean()

    def add(k, val):
        rows_out.append((name, k, val))
        print(f"{name:<9} {k:<28} {val}", flush=True)

    for batch in (8, 1):
        bare_t, ours_t, reached, first = [], [], [], []
        for _ in range(args.repeats):
            bare_t.append(timed(lambda: bare_loop(bundle, layer, v, batch, steps))[1])
            start, seen = time.perf_counter(), []

            def preview(step, images):  # what the app shows first: the 32-step preview
                if not seen:
                    seen.append(time.perf_counter() - start)

            res, secs = timed(lambda: NodeVisualization(steps=steps, batch=batch).visualize(bundle, layer, v,
                                                                                            preview=preview))
            ours_t.append(secs)
            first += seen
            reached.append(res.metrics["activation_mean"] / members)
        if first:
            add(f"first preview, batch {batch}", f"{' '.join(f'{t:.2f}' for t in first)} s after the request "
                f"(32 steps; what the app shows first; goal < 1 s) | load {os.getloadavg()[0]:.1f}")
        add(f"speed batch {batch} ({steps} st.)", f"ours {' '.join(f'{t:.2f}' for t in ours_t)} s | bare loop "
            f"{' '.join(f'{t:.2f}' for t in bare_t)} s | ours/bare {sum(ours_t) / sum(bare_t):.2f}x "
            f"(goal <= 1) | activation {np.mean(reached):.2f}x members' mean | load {os.getloadavg()[0]:.1f}")


def bench_model(name, args, rows_out):
    from topoact.models import load_model

    if name == "demo":
        bundle, layer = load_model("demo"), "block3"
    else:
        weights = SHARED / "cifar10-resnet" / "resnet20.th"
        if not weights.is_file():
            rows_out.append((name, "skipped", f"no checkpoint at {weights}"))
            print(f"{name:<9} {'skipped':<28} no checkpoint at {weights}", flush=True)
            return
        bundle, layer = load_model("cifar-resnet20", weights=weights), "layer3"
    steps = args.steps
    ds, rows, labels = load_images(name, args.per_class)
    unit = torch.stack([bundle.to_unit_tensor(ds.load(i)) for i in rows])
    feats, probs = layer_features(bundle, unit, layer)
    acc = float((probs.argmax(1) == labels).mean())
    def add(k, v):
        rows_out.append((name, k, v))
        print(f"{name:<9} {k:<28} {v}", flush=True)

    add("images / layer", f"{len(rows)} images, {layer} (GAP, {feats.shape[1]} ch), top-1 {acc:.1%}")
    kind, graph, nodes = make_nodes(feats, labels)
    add("nodes", f"{kind}: sizes {[len(m) for _, m, _ in nodes]}")

    # timing
    v = feats[nodes[0][1]].mean(0)
    _, t1 = timed(lambda: NodeVisualization(steps=steps, batch=1).visualize(bundle, layer, v))
    _, t8 = timed(lambda: NodeVisualization(steps=steps, batch=8).visualize(bundle, layer, v))
    add(f"time node vis ({steps} steps)", f"1 image {t1:.2f} s | batch of 8 {t8:.2f} s "
        f"(goals 2 s / 5 s at 256 steps)")
    with tempfile.TemporaryDirectory() as tmp:
        run = BenchRun(tmp, bundle, layer, feats, to_uint8(unit), graph)
        params = {"steps": steps, "batch": 8}
        first, tf = timed(lambda: service.visualize_node(run, layer, None, nodes[0][0], "node", params))
        again, tc = timed(lambda: service.visualize_node(run, layer, None, nodes[0][0], "node", params))
        add("service first / cached", f"{tf:.2f} s / {tc * 1000:.1f} ms (cached={again['cached']}; goal < 50 ms)")
    # same objective: ours vs lucent
    ch = int(np.argmax(feats.max(0) - feats.min(0)))
    pf = param.image_param(bundle.input_size, batch=8)
    _, ours = timed(lambda: optimize(bundle, O.channel(layer, ch), pf, standard_transforms(bundle.input_size),
                                     steps=steps, seed=0))
    luc, why = lucent_time(bundle, layer, ch, steps, 8)
    add("vs torch-lucent 0.1.8", f"channel {ch} batch 8: topoact {ours:.2f} s | lucent "
        + (f"{luc:.2f} s | lucent/topoact {luc / ours:.2f}x" if luc else why))


    # node visualization (batch of 8) vs members; pixel-space results kept for DGN comparison
    pixel_conf = []
    for nid, members, cls in nodes:
        v = feats[members].mean(0)
        res, secs = timed(lambda: NodeVisualization(steps=steps, batch=8).visualize(bundle, layer, v))
        mp = projection(feats[members], v)
        p_cls = layer_features(bundle, res.images, layer)[1][:, cls]
        pixel_conf.append((res.metrics["activation_mean"], float(p_cls.mean())))
        add(f"node {nid} activation", f"synth mean {res.metrics['activation_mean']:.3g} max "
            f"{res.metrics['activation_max']:.3g} | members mean {mp.mean():.3g} max {mp.max():.3g}"
            f" | ratio(mean) {res.metrics['activation_mean'] / mp.mean():.2f} | {secs:.1f} s")

    # inverse sets
    c = int(np.argmax(feats.max(0) - feats.min(0)))
    for lv in (0.25, 0.5, 0.75):
        t = LevelTarget.from_values("channel", feats[:, c], lv, index=c)
        with_div = InverseSet(steps=steps, batch=8, diversity=0.5).visualize(bundle, layer, [t])
        no_div = InverseSet(steps=steps, batch=8, diversity=0.0).visualize(bundle, layer, [t])
        wide = InverseSet(steps=steps, batch=8, diversity=0.0, init_sd=0.5).visualize(bundle, layer, [t])
        f = lambda r: (f"{r.metrics['fraction_within']:.0%} within, div px {r.metrics['pixel_diversity']:.3f}"  # noqa: E731
                       f" / feat {r.metrics['feature_diversity']:.3f}")
        add(f"inverse ch{c} @{lv:.2f}", f"div term: {f(with_div)} | restarts sd .01: {f(no_div)}"
            f" | restarts sd .5: {f(wide)}")

    # class-agnostic
    src = unit[:: max(1, len(unit) // 8)][:8]
    parts = []
    for w in (0.0, 0.3, 1.0, 3.0):
        r = ClassAgnostic(steps=max(32, steps // 2), weight=w).visualize(bundle, layer, src)
        parts.append(f"w={w:g}: gain {r.metrics['gain_mean']:.2f} @ dist {r.metrics['pixel_distance_mean']:.3f}")
    add("class-agnostic", " | ".join(parts))

    # DGN-AM
    n_gen = min(len(unit), args.gen_images)
    fit, secs = timed(lambda: train_generator(bundle, unit[:n_gen], layer, epochs=args.gen_epochs,
                                              max_seconds=args.gen_seconds, batch_size=64))
    m = fit.metrics
    add("generator", f"{n_gen} imgs, {m['epochs']} epochs, {secs:.0f} s | hold-out MSE {m['holdout_mse']:.4f}"
        f" vs mean image {m['mean_image_mse']:.4f} | feature err {m['holdout_feature_error']:.3f}")
    for (nid, members, cls), (pix_act, pix_conf) in zip(nodes, pixel_conf):
        v = feats[members].mean(0)
        r = DGNAM(steps=200 if steps >= 200 else steps, batch=8).visualize(bundle, fit, layer, v)
        conf = float(layer_features(bundle, r.images, layer)[1][:, cls].mean())
        add(f"DGN vs pixel node {nid}", f"activation {r.metrics['activation_mean']:.3g} vs {pix_act:.3g}"
            f" | p(class {cls}) {conf:.2f} vs {pix_conf:.2f}")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="demo,resnet20")
    ap.add_argument("--quick", action="store_true", help="small sizes (development)")
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--gen-images", type=int, default=1000)
    ap.add_argument("--gen-epochs", type=int, default=30)
    ap.add_argument("--gen-seconds", type=float, default=120.0)
    ap.add_argument("--speed-only", action="store_true", help="only issue 13's speed rows")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of the speed rows")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.per_class, args.gen_images, args.gen_epochs, args.gen_seconds = 32, 20, 200, 3, 15
    logging.basicConfig(level=logging.WARNING)
    rows = []
    print(f"{'model':<9} {'measure':<28} result  (steps={args.steps}, torch threads per call: "
          f"1 at <= 64 px)", flush=True)
    print("-" * 110, flush=True)
    print(f"load average at start {os.getloadavg()}", flush=True)
    for name in args.models.split(","):
        bench_speed(name.strip(), args, rows)
        if not args.speed_only:
            bench_model(name.strip(), args, rows)
    print(f"load average at end {os.getloadavg()}", flush=True)
    return rows


if __name__ == "__main__":
    main()
