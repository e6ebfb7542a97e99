"""argparse glue for ``topoact mapper`` and ``topoact sweep`` (wired into topoact/cli.py)."""
from __future__ import annotations

import argparse
import json
import logging

logger = logging.getLogger(__name__)

__all__ = ["add_mapper_arguments", "add_sweep_arguments", "run_mapper_command",
           "run_sweep_command"]

_LENS_CHOICES = ["l2", "l1", "pca", "pca2", "knn", "umap", "maxprob", "entropy"]


def _eps(text):
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--eps must be a number or 'auto', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("--eps must be > 0")
    return value


def _common(parser):
    parser.add_argument("run_dir", help="run directory written by `topoact collect`")
    parser.add_argument("--layer", required=True, help="layer name (see meta.json)")
    parser.add_argument("--lens", choices=_LENS_CHOICES, default="l2")
    parser.add_argument("--cover", choices=["uniform", "balanced"], default="uniform")
    parser.add_argument("--clusterer", choices=["dbscan", "single"], default="dbscan")
    parser.add_argument("--eps", type=_eps, default="auto", help="DBSCAN eps or 'auto' (k-distance knee)")
    parser.add_argument("--min-samples", type=int, default=3)
    parser.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean")
    parser.add_argument("--jobs", type=int, default=2, help="threads clustering intervals")


def add_mapper_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    _common(parser)
    parser.add_argument("--intervals", type=int, default=10)
    parser.add_argument("--overlap", type=float, default=0.3)
    parser.add_argument("--eps-scale", type=float, default=1.0, help="factor on the automatic eps")
    parser.add_argument("--backend", choices=["topoact", "kmapper"], default="topoact")
    parser.add_argument("--out", help="also write the graph JSON to this file "
                        "(.html: KeplerMapper standalone HTML)")
    return parser


def _floats(text):
    return [float(x) for x in text.split(",") if x]


def _ints(text):
    return [int(x) for x in text.split(",") if x]


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    _common(parser)
    parser.add_argument("--intervals", type=_ints, default=[20, 40, 60], help="e.g. 20,40,60")
    parser.add_argument("--overlap", type=_floats, default=[0.2, 0.3], help="e.g. 0.2,0.3")
    parser.add_argument("--eps-scale", type=_floats, default=[1.0, 1.25], help="e.g. 1,1.25")
    parser.add_argument("--out", help="write the summaries as JSON to this file")
    return parser


def _table(rows, cols) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)))
    return "\n".join(lines)


def run_mapper_command(args) -> int:
    from ..store import open_run
    from .export import save_graph_json, save_kmapper_html
    from .graph import MapperGraph
    from .run_graphs import build_run_graph, mapper_params

    run = open_run(args.run_dir)
    params = mapper_params(lens=args.lens, cover=args.cover, intervals=args.intervals,
                           overlap=args.overlap, clusterer=args.clusterer, eps=args.eps,
                           eps_scale=args.eps_scale, min_samples=args.min_samples,
                           metric=args.metric, backend=args.backend)
    data = build_run_graph(run, args.layer, params, n_jobs=args.jobs)
    g = MapperGraph.from_dict(data)
    s = g.summary()
    s.update(layer=args.layer, key=data["key"], eps=data["params"].get("eps_resolved"),
             mean_purity=None if s["mean_purity"] is None else round(s["mean_purity"], 3))
    print(_table([s], ["layer", "key", "eps", "nodes", "edges", "components", "cycles",
                       "mean_purity", "covered_points"]))
    if args.out:
        if str(args.out).endswith(".html"):
            save_kmapper_html(data, args.out)
        else:
            save_graph_json(data, args.out, run.node_means(args.layer, data["key"]))
        print(f"wrote {args.out}")
    return 0


def run_sweep_command(args) -> int:
    from ..store import open_run
    from .run_graphs import sweep_run

    run = open_run(args.run_dir)
    grid = {"lens": args.lens, "cover": args.cover, "metric": args.metric,
            "min_samples": args.min_samples, "eps": args.eps, "intervals": args.intervals,
            "overlaps": args.overlap, "eps_scales": args.eps_scale}
    if args.clusterer != "dbscan":
        raise SystemExit("topoact sweep: only --clusterer dbscan is swept")
    rows = sweep_run(run, args.layer, grid)
    for r in rows:
        r["mean_purity"] = None if r["mean_purity"] is None else round(r["mean_purity"], 3)
        r["seconds"] = round(r["seconds"], 2)
    print(_table(rows, ["intervals", "overlap", "eps_scale", "eps", "nodes", "edges",
                        "components", "cycles", "mean_purity", "seconds"]))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)
        print(f"wrote {args.out}")
    return 0
