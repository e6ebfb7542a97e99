"""CLI glue: ``topoact persistence RUN_DIR --layers a,b [--landmarks N] [--max-dim 1] ...``."""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional, Sequence, TextIO


def add_persistence_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``topoact persistence`` arguments to ``parser`` and return it."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by collect")
    parser.add_argument("--layers", help="comma-separated layer names")
    parser.add_argument("--layer", action="append", default=[],
                        help="deprecated: repeated layer name (use --layers a,b)")
    parser.add_argument("--landmarks", type=int, default=1000, help="number of landmarks")
    parser.add_argument("--max-dim", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--metric", default="euclidean", choices=("euclidean", "cosine"))
    parser.add_argument("--bootstrap", type=int, default=20, help="bootstrap resamples (0: none)")
    parser.add_argument("--pca", type=int, default=None, help="project to K components first")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _layers(args: argparse.Namespace) -> list[str]:
    layers = [name.strip() for name in (args.layers or "").split(",") if name.strip()]
    if args.layer:
        warnings.warn("--layer is deprecated; use --layers a,b", DeprecationWarning, stacklevel=2)
        layers += args.layer
    if not layers:
        raise SystemExit("topoact persistence: give the layers with --layers a,b")
    return list(dict.fromkeys(layers))


def run_persistence_command(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Compute (or load) each layer's persistence and print one summary line per dimension.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed :func:`add_persistence_arguments` options.
    out : text stream, optional
        Where the table goes (default stdout).

    Returns
    -------
    int
        The exit status, 0.
    """
    from ..store import open_run
    from .config import PersistenceConfig
    from .run_persistence import layer_persistence

    out = out or sys.stdout
    layers = _layers(args)
    run = open_run(args.run_dir)
    header = (f"{'layer':<24}{'dim':>4}{'bars':>7}{'signif':>7}{'band':>9}{'longest':>10}"
              f"{'total':>10}{'exact':>7}{'time s':>8}")
    out.write(header + "\n")
    config = PersistenceConfig(n_landmarks=args.landmarks, metric=args.metric,
                               max_dim=args.max_dim, pca=args.pca, n_bootstrap=args.bootstrap,
                               seed=args.seed)
    for layer in layers:
        res = layer_persistence(run, layer, config)
        t = sum(v for k, v in res.timings.items() if k in ("landmarks", "persistence",
                                                             "bootstrap"))
        for d in range(args.max_dim + 1):
            s = res.summaries[f"h{d}"]
            band = res.band[d]
            out.write(f"{layer:<24}{d:>4}{s['n_bars']:>7}{s['n_significant']:>7}"
                      f"{'-' if band is None else f'{band:.3g}':>9}{s['max_persistence']:>10.4g}"
                      f"{s['total_persistence']:>10.4g}{str(res.exact):>7}{t:>8.1f}\n")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m topoact.topology.cli``."""
    p = add_persistence_arguments(argparse.ArgumentParser(prog="topoact persistence"))
    return run_persistence_command(p.parse_args(argv))
