"""Benchmark: the automatic default graph vs the L2 / 10-interval baseline vs KeplerMapper's defaults.

    python benchmarks/defaults.py                       # both shared CIFAR ResNets, every layer
    python benchmarks/defaults.py --runs r20=/path/run  # any collected runs

For every collected layer of each run: size-weighted purity (sum over nodes of the majority
label count / sum of node sizes), coverage (share of images in at least one node), node and
component counts of

- ``auto``: ``topoact.mapper.build_default_graph`` (parameters chosen without labels, see
  ``topoact/mapper/auto.py``; "chosen" names the winner);
- ``l2-10``: ``MapperConfig()`` (L2 lens, 10 uniform intervals, overlap 0.3, DBSCAN auto eps):
  the run-level default before the automatic choice;
- ``kmapper``: KeplerMapper 2.1.0 with its own defaults (``KeplerMapper().fit_transform(X)``:
  sum projection + MinMax scaler; ``map(lens, X)``: Cover(n_cubes=10, perc_overlap=0.1), DBSCAN
  eps=0.5, min_samples=3).

The model's accuracy on the same images is the reference: "pur/acc" is purity divided by it.
The goal (issue 15): on the late layer the auto graph's purity at most 3 points below the
accuracy with coverage >= 0.85, and a clearly lower purity on the first block. Runs are copied
to a temporary folder first (graphs, embeddings and choices are written there, never into the
source run). A run that is missing is collected with ``topoact collect`` (ResNet-20 / -32 on the
shared CIFAR-10 test images, layers layer1,layer2,layer3). "seconds" is the wall time of the
auto choice + graph (UMAP's numba compilation included on the first layer of a process), with
the 1-minute load average printed below the table.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The shared CIFAR-10 images and ResNets beside the project (or TOPOACT_SHARED_DATA).
SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_RUNS = {          # run folder name under --work, model spec, weights file
    "resnet20": ("r20", "cifar-resnet20", "resnet20.th"),
    "resnet32": ("r32", "cifar-resnet32", "resnet32.th"),
}


def purity_coverage(members, labels, n):
    """(size-weighted purity, coverage) of node member lists."""
    if not members:
        return 0.0, 0.0
    sizes = sum(len(m) for m in members)
    majority = sum(np.bincount(labels[np.asarray(m)]).max() for m in members)
    covered = np.unique(np.concatenate([np.asarray(m) for m in members]))
    return majority / sizes, len(covered) / n


def kmapper_default(X):
    """Members of KeplerMapper 2.1.0's default graph of X (its default lens, cover, clusterer)."""
    import warnings

    import kmapper

    km = kmapper.KeplerMapper(verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lens = km.fit_transform(X)
        graph = km.map(lens, X)
    return [sorted(v) for v in graph["nodes"].values()]


def ensure_run(path: Path, spec: str, weights: str) -> Path:
    """Collect the run with ``topoact collect`` when it is not there yet or not finished
    (the same command resumes an interrupted collection)."""
    import json

    meta = path / "meta.json"
    if meta.exists() and json.loads(meta.read_text()).get("status") == "complete":
        return path
    cmd = [sys.executable, "-m", "topoact", "collect", "--model", spec, "--weights",
           str(SHARED / "cifar10-resnet" / weights), "--data", str(SHARED / "cifar10" / "images"),
           "--layers", "layer1,layer2,layer3", "--out", str(path)]
    print("collecting:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return path


def measure(name: str, source: Path, work: Path) -> list[dict]:
    import topoact
    from topoact.mapper import MapperConfig, build_default_graph, build_run_graph

    copy = work / name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("graphs", "embeddings", "mapper_auto"))
    run = topoact.open_run(copy)
    labels = np.asarray(run.labels)
    acc = float((np.asarray(run.predictions) == labels).mean())
    rows = []
    for layer in run.layers:
        X = np.asarray(run.activations(layer))
        start = time.perf_counter()
        auto = build_default_graph(run, layer, default=True)
        seconds = time.perf_counter() - start
        base = build_run_graph(run, layer, MapperConfig())
        km = kmapper_default(X)
        win = auto.params["auto"]["candidates"][auto.params["auto"]["winner"]]
        for method, members, extra in (
                ("auto", auto.members, {"chosen": win["label"], "seconds": f"{seconds:.1f}",
                                        "components": auto.n_components}),
                ("l2-10", base.members, {"components": base.n_components}),
                ("kmapper", km, {})):
            pur, cov = purity_coverage(members, labels, run.n)
            rows.append({"model": name, "accuracy": f"{acc:.3f}", "layer": layer, "method": method,
                         "nodes": str(len(members)), "coverage": f"{cov:.3f}", "purity": f"{pur:.3f}",
                         "pur/acc": f"{pur / acc:.2f}", **{k: str(v) for k, v in extra.items()}})
        print(f"  {name} {layer}: auto {rows[-3]['purity']} / cov {rows[-3]['coverage']} "
              f"({win['label']}, {seconds:.0f} s)", flush=True)
    return rows


def table(rows, cols) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    out += ["  ".join(r.get(c, "").ljust(w) for c, w in zip(cols, widths)) for r in rows]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", help="name=path,... (default: the two shared ResNets)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "topoact-defaults-bench"),
                        help="folder for the collected ResNet runs (collected when missing)")
    args = parser.parse_args(argv)
    runs = {}
    if args.runs:
        for item in args.runs.split(","):
            name, _, path = item.partition("=")
            runs[name] = Path(path)
    else:
        if not SHARED.is_dir():
            raise SystemExit(f"shared data not found at {SHARED}; set TOPOACT_SHARED_DATA or pass --runs")
        for name, (folder, spec, weights) in DEFAULT_RUNS.items():
            runs[name] = ensure_run(Path(args.work) / folder, spec, weights)
    rows = []
    with tempfile.TemporaryDirectory(prefix="topoact-defaults-") as work:
        for name, path in runs.items():
            rows += measure(name, path, Path(work))
    print()
    print(table(rows, ["model", "accuracy", "layer", "method", "chosen", "nodes", "components",
                       "coverage", "purity", "pur/acc", "seconds"]))
    print(f"\nload average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in runs:
        mine = [r for r in rows if r["model"] == name and r["method"] == "auto"]
        first, last = mine[0], mine[-1]
        acc, pur, cov = float(last["accuracy"]), float(last["purity"]), float(last["coverage"])
        ok = pur >= acc - 0.03 and cov >= 0.85 and float(first["purity"]) < pur - 0.2
        print(f"{name}: late layer {last['layer']} purity {pur:.3f} vs accuracy {acc:.3f} "
              f"(goal >= {acc - 0.03:.3f}), coverage {cov:.3f} (goal >= 0.85), first block "
              f"{first['layer']} purity {first['purity']}: goal {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
