"""Observers at scale and on the shared CIFAR ResNets.

    python benchmarks/probes.py [--big /tmp/obs/shapes100k] [--big-b /tmp/obs/shapes100k-center]
                                [--r20 /tmp/obs/r20] [--r32 /tmp/obs/r32] [--skip-big] [--skip-resnets]

Missing runs are collected first (and the command is printed), e.g.::

    topoact collect --model demo --data shapes:100000 --layers block1,block2,block3,linear --out /tmp/obs/shapes100k
    topoact collect --model demo --data shapes:100000 --layers block1,block2,block3,linear --reduce center \
        --out /tmp/obs/shapes100k-center
    topoact collect --model cifar-resnet20 --weights .../resnet20.th --data .../cifar10/images \
        --layers relu,layer1.0,layer1,layer2.0,layer2,layer3.0,layer3.1,layer3,linear --out /tmp/obs/r20

Tables:

1. Probes for every layer of the 100,000-image run (class label; ``model="auto"`` = lbfgs
   logistic regression at this size), each with its shuffled control; reference = the same with
   ``model="sgd"`` (5 epochs); ratio = ours / reference; budget 5 min.
2. CKA between all layers of two 100,000-image runs (exact streaming, one pass); reference = the
   naive per-pair feature-space CKA (each pair read and centred on its own); budget 1 min.
3. ResNet-20 / ResNet-32: class-probe accuracy per layer with its interval and controls, and the
   model's own accuracy; CKA matrix between the two models; the paper's depth claim (share of
   units denoting the class label and their mean label proportion per layer).
Every table ends with ``os.getloadavg()``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import topoact  # noqa: E402
from topoact.observers import cka_matrix, linear_cka, probe_layers, unit_report  # noqa: E402
from topoact.observers.probes import ProbeConfig  # noqa: E402

SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))
DEMO_LAYERS = ["block1", "block2", "block3", "linear"]
R20_LAYERS = ["relu", "layer1.0", "layer1", "layer2.0", "layer2", "layer3.0", "layer3.1", "layer3", "linear"]
R32_LAYERS = ["relu", "layer1.0", "layer1", "layer2.0", "layer2", "layer3.0", "layer3.2", "layer3", "linear"]


def load() -> str:
    return "load average %.1f %.1f %.1f on %d cores" % (*os.getloadavg(), os.cpu_count() or 1)


def ensure(path: Path, model: str, data: str, layers: list[str], weights: str | None = None, reduce: str = "gap"):
    if (path / "meta.json").exists():
        try:
            return topoact.open_run(path)
        except Exception:  # noqa: BLE001 - unfinished: resume below
            pass
    print(f"collecting: topoact collect --model {model} {'--weights ' + weights if weights else ''} --data {data} "
          f"--layers {','.join(layers)} --reduce {reduce} --out {path}", flush=True)
    return topoact.collect(model, data, layers, out=path, weights=weights, reduce=reduce, progress=True,
                           num_workers=0, batch_size=256, chunk_size=8192)


def big_probes(run) -> None:
    print(f"\n== probes, every layer of {run.path} ({run.n:,} images), target label ==")
    t0 = time.perf_counter()
    report = probe_layers(run, config=ProbeConfig(target="label"), cache=False)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    sgd = probe_layers(run, config=ProbeConfig(target="label", model="sgd"), cache=False)
    reference = time.perf_counter() - t0
    print(f"{'layer':<10} {'dim':>5} {'model':>8} {'accuracy':>9} {'95% CI':>16} {'chance':>7} {'shuffled':>9} "
          f"{'SGD acc':>8}")
    for name, v in report.layers.items():
        print(f"{name:<10} {v['n_features']:>5} {v['model']:>8} {v['accuracy']:9.3f} "
              f"[{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] {v['chance']:7.3f} {v['shuffled']:9.3f} "
              f"{sgd.layers[name]['accuracy']:8.3f}")
    print(f"all {len(run.layers)} layers, probe + shuffled control each: {total:.1f} s (budget 300 s: "
          f"{total / 300:.2f} of it); reference SGD (5 epochs) on the same: {reference:.1f} s; "
          f"ratio ours / reference = {total / reference:.2f}")
    print(load())


def big_cka(run_a, run_b) -> None:
    print(f"\n== CKA between {run_a.path.name} and {run_b.path.name} ({run_a.n:,} images) ==")
    t0 = time.perf_counter()
    result = cka_matrix(run_a, run_b, cache=False)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = np.zeros((len(run_a.layers), len(run_b.layers)))
    for i, a in enumerate(run_a.layers):
        for j, b in enumerate(run_b.layers):
            naive[i, j] = linear_cka(np.asarray(run_a.activations(a)), np.asarray(run_b.activations(b)))
    reference = time.perf_counter() - t0
    print_matrix(result.to_dict(), f"rows {run_a.path.name}, cols {run_b.path.name}")
    print(f"streaming CKA {ours:.1f} s (budget 60 s: {ours / 60:.2f} of it); naive per-pair reference "
          f"{reference:.1f} s; ratio {ours / reference:.2f}; max |difference| {np.abs(naive - np.asarray(result.values)).max():.1e}")
    print(load())


def print_matrix(cka: dict, title: str) -> None:
    print(title)
    print(f"{'':<10}" + "".join(f"{c[:8]:>9}" for c in cka["cols"]))
    for name, row in zip(cka["rows"], cka["values"]):
        print(f"{name[:10]:<10}" + "".join(f"{v:9.3f}" for v in row))


def resnets(r20, r32) -> None:
    for run in (r20, r32):
        accuracy = float((run.predictions == run.labels).mean())
        t0 = time.perf_counter()
        report = probe_layers(run, target="label", cache=False)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        units = unit_report(run, targets=("label",), cache=False)
        unit_seconds = time.perf_counter() - t0
        print(f"\n== {run.meta['model']['spec']} on {run.n} CIFAR-10 images: model accuracy {accuracy:.3f} ==")
        print(f"{'layer':<10} {'dim':>4} {'probe acc':>9} {'95% CI':>16} {'chance':>7} {'shuffled':>8}"
              f" {'units=label':>11} {'LP(label units)':>15} {'LP(all)':>8}")
        for name, v in report.layers.items():
            entry = units.layers[name]["label"]
            lp_all = float(np.mean(units.label_proportion[name]))
            lp = entry["label_proportion"]
            print(f"{name:<10} {v['n_features']:>4} {v['accuracy']:9.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] "
                  f"{v['chance']:7.3f} {v['shuffled']:8.3f} {entry['share']:11.2f} "
                  f"{'-' if lp is None else f'{lp:.3f}':>15} {lp_all:8.3f}")
        last = report.layers[run.layers[-1]]["accuracy"]
        print(f"last layer probe {last:.3f} vs model {accuracy:.3f}: {100 * (last - accuracy):+.1f} points; "
              f"probes {seconds:.1f} s, units {unit_seconds:.1f} s; {load()}")
    t0 = time.perf_counter()
    cka = cka_matrix(r20, r32, cache=False)
    print_matrix(cka.to_dict(), f"\nCKA ResNet-20 (rows) vs ResNet-32 (cols), {time.perf_counter() - t0:.1f} s")
    print(load())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=Path, default=Path("/tmp/obs/shapes100k"))
    parser.add_argument("--big-b", type=Path, default=Path("/tmp/obs/shapes100k-center"))
    parser.add_argument("--r20", type=Path, default=Path("/tmp/obs/r20"))
    parser.add_argument("--r32", type=Path, default=Path("/tmp/obs/r32"))
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-cka", action="store_true")
    parser.add_argument("--skip-resnets", action="store_true")
    args = parser.parse_args(argv)
    print(load())
    if not args.skip_big:
        run = ensure(args.big, "demo", "shapes:100000", DEMO_LAYERS)
        big_probes(run)
        if not args.skip_cka:
            big_cka(run, ensure(args.big_b, "demo", "shapes:100000", DEMO_LAYERS, reduce="center"))
    if not args.skip_resnets:
        images = SHARED / "cifar10" / "images"
        if not images.is_dir():
            print(f"shared CIFAR data not found at {SHARED}; ResNet tables skipped")
            return 0
        r20 = ensure(args.r20, "cifar-resnet20", str(images), R20_LAYERS, str(SHARED / "cifar10-resnet" / "resnet20.th"))
        r32 = ensure(args.r32, "cifar-resnet32", str(images), R32_LAYERS, str(SHARED / "cifar10-resnet" / "resnet32.th"))
        resnets(r20, r32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
