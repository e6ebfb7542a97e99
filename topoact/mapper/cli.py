"""argparse glue for ``topoact mapper`` and ``topoact sweep`` (wired into topoact/cli.py)."""
from __future__ import annotations

import argparse
import logging

from ..fileio import write_json
from .config import BACKENDS, CLUSTERERS, COVERS, LENSES, METRICS, MapperConfig

logger = logging.getLogger(__name__)

__all__ = ["add_mapper_arguments", "add_sweep_arguments", "run_mapper_command",
           "run_sweep_command", "config_from_args"]


def _eps(text: str):
    return text if text == "auto" else _number(text, "--eps")


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} must be a number, got {text!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``mapper`` and ``sweep`` (ranges are checked by ``MapperConfig``)."""
    parser.add_argument("run_dir", help="run directory written by `topoact collect`")
    parser.add_argument("--layer", required=True, help="layer name (see meta.json)")
    parser.add_argument("--lens", choices=list(LENSES[:-1]), default="l2")
    parser.add_argument("--cover", choices=list(COVERS), default="uniform")
    parser.add_argument("--clusterer", choices=list(CLUSTERERS), default="dbscan")
    parser.add_argument("--eps", type=_eps, default="auto",
                        help="DBSCAN eps: a finite number > 0, or 'auto' (k-distance knee)")
    parser.add_argument("--min-samples", type=int, default=3, help="DBSCAN min_samples, >= 1")
    parser.add_argument("--metric", choices=list(METRICS), default="euclidean")
    parser.add_argument("--jobs", type=int, default=2, help="threads (clustering, sweep pair pass)")


def add_mapper_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``topoact mapper``."""
    _common(parser)
    parser.add_argument("--n-intervals", "--intervals", dest="n_intervals", type=int, default=10,
                        help="cover intervals, >= 1 (--intervals: deprecated spelling)")
    parser.add_argument("--overlap", type=float, default=0.3, help="interval overlap in (0, 1)")
    parser.add_argument("--eps-scale", type=float, default=1.0, help="factor on the automatic eps, > 0")
    parser.add_argument("--backend", choices=list(BACKENDS), default="topoact")
    parser.add_argument("--set-default", action="store_true",
                        help="make this graph the layer's default (without it the default is set "
                        "only when the layer has none yet)")
    parser.add_argument("--out", help="also write the graph JSON to this file "
                        "(.html: KeplerMapper standalone HTML)")
    return parser


def _floats(text: str) -> list[float]:
    return [_number(x, "list value") for x in text.split(",") if x]


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers like 20,40,60, got {text!r}") from None


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``topoact sweep``."""
    _common(parser)
    parser.add_argument("--n-intervals", "--intervals", dest="n_intervals", type=_ints,
                        default=[20, 40, 60], help="e.g. 20,40,60 (--intervals: deprecated spelling)")
    parser.add_argument("--overlaps", "--overlap", dest="overlaps", type=_floats, default=[0.2, 0.3],
                        help="e.g. 0.2,0.3 (--overlap: deprecated spelling)")
    parser.add_argument("--eps-scales", "--eps-scale", dest="eps_scales", type=_floats,
                        default=[1.0, 1.25], help="e.g. 1,1.25 (--eps-scale: deprecated spelling)")
    parser.add_argument("--out", help="write the summaries as JSON to this file")
    return parser


def config_from_args(args: argparse.Namespace, **overrides) -> MapperConfig:
    """The MapperConfig of parsed ``mapper`` / ``sweep`` options (validated there)."""
    fields = dict(lens=args.lens, cover=args.cover, clusterer=args.clusterer, eps=args.eps,
                  min_samples=args.min_samples, metric=args.metric)
    for name in ("n_intervals", "overlap", "eps_scale", "backend"):
        if isinstance(getattr(args, name, None), (int, float, str)):
            fields[name] = getattr(args, name)
    fields.update(overrides)
    return MapperConfig(**fields)


def _table(rows, cols) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)))
    return "\n".join(lines)


def run_mapper_command(args: argparse.Namespace) -> int:
    """``topoact mapper``: build (or open) the graph, print its summary, optionally export it.

    The layer's default graph is set only when it has none yet, or with ``--set-default``.
    """
    from ..store import open_run
    from .export import save_graph_json, save_kmapper_html
    from .run_graphs import build_run_graph

    run = open_run(args.run_dir)
    config = config_from_args(args)
    graph = build_run_graph(run, args.layer, config, n_jobs=args.jobs,
                            default=True if args.set_default else None)
    s = graph.summary()
    s.update(layer=args.layer, key=graph.key, eps=graph.params.get("eps_resolved"),
             default="yes" if run.default_graph_key(args.layer) == graph.key else "no",
             mean_purity=None if s["mean_purity"] is None else round(s["mean_purity"], 3))
    print(_table([s], ["layer", "key", "default", "eps", "nodes", "edges", "components", "cycles",
                       "mean_purity", "covered_points"]))
    if args.out:
        if str(args.out).endswith(".html"):
            save_kmapper_html(graph, args.out)
        else:
            save_graph_json(graph, args.out)
        print(f"wrote {args.out}")
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    """``topoact sweep``: one summary row per (n_intervals, overlap, eps_scale) setting."""
    from ..store import open_run
    from .run_graphs import sweep_run

    if args.clusterer != "dbscan":
        raise SystemExit("topoact sweep: only --clusterer dbscan is swept")
    run = open_run(args.run_dir)
    base = config_from_args(args)                 # validates the fixed options
    grid = {k: v for k, v in base.to_dict().items()
            if k not in ("n_intervals", "overlap", "eps_scale", "backend")}
    grid.update(n_intervals=args.n_intervals, overlaps=args.overlaps, eps_scales=args.eps_scales)
    rows = sweep_run(run, args.layer, grid, n_jobs=max(1, int(args.jobs)))
    for r in rows:
        r["mean_purity"] = None if r["mean_purity"] is None else round(r["mean_purity"], 3)
        r["seconds"] = round(r["seconds"], 2)
    print(_table(rows, ["n_intervals", "overlap", "eps_scale", "eps", "nodes", "edges",
                        "components", "cycles", "mean_purity", "seconds"]))
    if args.out:
        write_json(args.out, rows)
        print(f"wrote {args.out}")
    return 0
