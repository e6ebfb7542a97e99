"""Series and timeline speed: node matching of two 1,000-node graphs, and a 10-checkpoint series
collected vs 10 separate collections.

    python benchmarks/timeline.py [--n 10000] [--checkpoints 10] [--nodes 1000]

1. Matching: two Mapper-like graphs of ``--nodes`` overlapping nodes on ``--n`` rows (windows of
   a 1-D lens, 30 % overlap; in the second graph each row's lens drifted by ~1/5 of a node width) matched by ``match_graphs`` (transport plan,
   optimal assignment, events); reference: the greedy ``layout.match_nodes`` on the same graphs.
2. Collection: ``--checkpoints`` state dicts of the demo CNN architecture (seeded random
   weights), ``shapes:<n>`` images, layers block3 + linear. Reference: one ``topoact.collect``
   per checkpoint (each opening the data from its spec, as ten commands would); measured:
   ``collect_series`` growing by the same checkpoint, interleaved with the reference (a shared
   machine's load drifts over minutes). Target: ratio <= 1.1.
Prints seconds, ratios and ``os.getloadavg()`` (before and after).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from topoact.collection import collect  # noqa: E402
from topoact.data.synthetic import SHAPE_CLASSES  # noqa: E402
from topoact.mapper.graph import MapperGraph  # noqa: E402
from topoact.mapper.layout import match_nodes  # noqa: E402
from topoact.mapper.matching import match_graphs  # noqa: E402
from topoact.models import load_model  # noqa: E402
from topoact.models.demo import DEMO_MEAN, DEMO_STD, DemoCNN  # noqa: E402
from topoact.series import collect_series  # noqa: E402

LAYERS = ["block3", "linear"]


def window_graph(lens: np.ndarray, n_nodes: int) -> MapperGraph:
    """``n_nodes`` nodes: overlapping windows (30 % overlap) of the rows sorted by ``lens``."""
    order = np.argsort(lens, kind="stable")
    width = len(lens) / n_nodes
    members = []
    for k in range(n_nodes):
        lo, hi = int(k * width - 0.3 * width), int((k + 1) * width + 0.3 * width)
        members.append(np.sort(order[max(lo, 0):min(hi, len(lens))]))
    return MapperGraph(members, len(lens), intervals=list(range(n_nodes)))


def bench_matching(n: int, nodes: int) -> dict:
    rng = np.random.default_rng(0)
    rank = rng.permutation(n).astype(float)
    a = window_graph(rank, nodes)
    # the second graph: every image's rank drifts by about a fifth of a node's width
    b = window_graph(rank + rng.normal(scale=0.2 * n / nodes, size=n), nodes)
    t = time.perf_counter()
    m = match_graphs(a, b)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    match_nodes(b, a)
    ref = time.perf_counter() - t
    return {"match_graphs": ours, "greedy": ref, "pairs": len(m.pairs), "events": m.counts()}


def bench_collection(n: int, checkpoints: int, work: Path) -> dict:
    folder = work / "ckpt"
    folder.mkdir(parents=True)
    paths = []
    for k in range(checkpoints):
        torch.manual_seed(k)
        path = folder / f"step_{k:03d}.th"
        torch.save(DemoCNN(len(SHAPE_CLASSES)).state_dict(), path)
        paths.append(path)
    options = {"class_names": list(SHAPE_CLASSES), "input_size": (32, 32), "mean": DEMO_MEAN, "std": DEMO_STD}
    kwargs = {"num_workers": 0, "batch_size": 200, "chunk_size": 2000}
    data = f"shapes:{n}"
    # warm-up (imports, first forward pass) outside both timings
    collect(load_model(DemoCNN(len(SHAPE_CLASSES)), **options), "shapes:50", LAYERS, work / "warm", **kwargs)
    # interleaved, so both sides see the same machine load: checkpoint k is collected alone, then
    # the series grows by checkpoint k (collect_series on checkpoints 0..k resumes: it re-hashes the
    # earlier checkpoints and skips their steps, an overhead a single call would not have)
    separate = series = 0.0
    print(f"  {'step':>4}{'separate s':>12}{'series s':>10}{'load':>8}", flush=True)
    for k, path in enumerate(paths):
        t = time.perf_counter()
        bundle = load_model(DemoCNN(len(SHAPE_CLASSES)), weights=str(path), **options)
        collect(bundle, data, LAYERS, work / "separate" / f"run{k}", **kwargs)
        one = time.perf_counter() - t
        t = time.perf_counter()
        collect_series(DemoCNN(len(SHAPE_CLASSES)), data, LAYERS, weights=[str(p) for p in paths[:k + 1]],
                       out=work / "series", model_options=options, **kwargs)
        step = time.perf_counter() - t
        separate, series = separate + one, series + step
        print(f"  {k:>4}{one:>12.1f}{step:>10.1f}{os.getloadavg()[0]:>8.1f}", flush=True)
    t = time.perf_counter()
    collect_series(DemoCNN(len(SHAPE_CLASSES)), data, LAYERS, weights=str(folder), out=work / "series",
                   model_options=options, **kwargs)
    rerun = time.perf_counter() - t
    return {"separate": separate, "series": series, "rerun": rerun}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--work", help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--matching-only", action="store_true", help="only the matching part (seconds)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    m = bench_matching(args.n, args.nodes)
    print(f"matching two {args.nodes}-node graphs on {args.n} rows")
    print(f"  {'method':<28}{'seconds':>10}")
    print(f"  {'match_graphs (ours)':<28}{m['match_graphs']:>10.3f}")
    print(f"  {'greedy layout.match_nodes':<28}{m['greedy']:>10.3f}")
    print(f"  ratio ours / greedy: {m['match_graphs'] / m['greedy']:.2f}; pairs {m['pairs']}; events {m['events']}")
    if args.matching_only:
        return
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="topoact-bench-timeline-"))
    print(f"\n{args.checkpoints} checkpoints x {args.n} images (demo CNN architecture, layers {','.join(LAYERS)})")
    try:
        c = bench_collection(args.n, args.checkpoints, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"  {'what':<34}{'seconds':>10}")
    print(f"  {str(args.checkpoints) + ' separate collections':<34}{c['separate']:>10.1f}")
    print(f"  {'collect_series':<34}{c['series']:>10.1f}")
    print(f"  {'collect_series rerun (resume)':<34}{c['rerun']:>10.1f}")
    print(f"  ratio series / separate: {c['series'] / c['separate']:.3f} (target <= 1.1)")
    print(f"load average before {tuple(round(x, 2) for x in load_before)}, "
          f"after {tuple(round(x, 2) for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
