"""CLI glue: ``topoact persistence RUN_DIR --layer L [--landmarks N] [--max-dim 1] ...``."""
from __future__ import annotations

import argparse
import sys


def add_persistence_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by collect")
    parser.add_argument("--layer", action="append", required=True,
                        help="layer name (repeat for several layers)")
    parser.add_argument("--landmarks", type=int, default=1000, help="number of landmarks")
    parser.add_argument("--max-dim", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--metric", default="euclidean", choices=("euclidean", "cosine"))
    parser.add_argument("--bootstrap", type=int, default=20, help="bootstrap resamples (0: none)")
    parser.add_argument("--pca", type=int, default=None, help="project to K components first")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run_persistence_command(args, out=None) -> int:
    from ..store import open_run
    from .run_persistence import layer_persistence

    out = out or sys.stdout
    run = open_run(args.run_dir)
    header = (f"{'layer':<24}{'dim':>4}{'bars':>7}{'signif':>7}{'band':>9}{'longest':>10}"
              f"{'total':>10}{'exact':>7}{'time s':>8}")
    out.write(header + "\n")
    for layer in args.layer:
        res = layer_persistence(run, layer, n_landmarks=args.landmarks, metric=args.metric,
                                max_dim=args.max_dim, pca=args.pca, n_bootstrap=args.bootstrap,
                                seed=args.seed)
        t = sum(v for k, v in res["timings"].items() if k in ("landmarks", "persistence",
                                                                 "bootstrap"))
        for d in range(args.max_dim + 1):
            s = res["summaries"][f"h{d}"]
            band = res["band"][d]
            out.write(f"{layer:<24}{d:>4}{s['n_bars']:>7}{s['n_significant']:>7}"
                      f"{'-' if band is None else f'{band:.3g}':>9}{s['max_persistence']:>10.4g}"
                      f"{s['total_persistence']:>10.4g}{str(res['exact']):>7}{t:>8.1f}\n")
    return 0


def main(argv=None) -> int:
    p = add_persistence_arguments(argparse.ArgumentParser(prog="topoact persistence"))
    return run_persistence_command(p.parse_args(argv))
