"""CLI glue for ``topoact visualize RUN_DIR --layer L --node N --method M`` (argparse).

``add_visualize_arguments(parser)`` adds the arguments to a (sub)parser and
``visualize_from_args(args)`` runs the request through :mod:`topoact.features.service`
(cached in the run), copies the PNGs to ``--out`` (default: ``RUN_DIR/features/export``) and
returns the result dict; ``run_visualize_command(args)`` (the console-script entry) does the
same, prints one line per written PNG plus a summary, and returns the exit code 0. Without ``--node``,
``--channel`` selects channel-level requests (inverse sets / channel maximisation);
``--row`` with ``--method class-agnostic`` visualizes one exemplar. ``--train-generator``
trains the DGN-AM generator for the layer first when none exists.
"""
from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

__all__ = ["add_visualize_arguments", "run_visualize_command", "visualize_from_args"]

log = logging.getLogger(__name__)


def add_visualize_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``topoact visualize`` arguments to ``parser`` and return it."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    parser.add_argument("--layer", required=True, help="layer name (as collected)")
    parser.add_argument("--node", type=int, default=None, help="Mapper node id")
    parser.add_argument("--graph", default=None, metavar="KEY", help="graph key (default graph)")
    parser.add_argument("--row", type=int, default=None, help="exemplar row (class-agnostic)")
    parser.add_argument("--method", default="node",
                        choices=["node", "inverse", "class-agnostic", "class_agnostic", "dgn"])
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps")
    parser.add_argument("--batch", type=int, default=None, help="images per request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--level", type=float, nargs="+", default=None,
                        help="inverse-set level(s) as fraction(s) of the exemplars' range")
    parser.add_argument("--channel", type=int, nargs="+", default=None,
                        help="channel(s): inverse-set target(s), or the channel to maximise")
    parser.add_argument("--weight", type=float, default=None, help="class-agnostic distance weight")
    parser.add_argument("--train-generator", action="store_true",
                        help="for --method dgn: train the layer's generator when missing")
    parser.add_argument("--out", default=None, metavar="DIR", help="where to copy the PNGs")
    return parser


def _params(args) -> dict:
    params: dict = {"seed": args.seed}
    if args.steps is not None:
        params["steps"] = args.steps
    if args.batch is not None:
        params["batch"] = args.batch
    if args.weight is not None:
        params["weight"] = args.weight
    if args.level is not None:
        params["level"] = args.level[0] if len(args.level) == 1 else list(args.level)
    if args.channel is not None and args.node is not None:
        params["channel"] = args.channel[0] if len(args.channel) == 1 else list(args.channel)
    return params


def run_visualize_command(args: argparse.Namespace) -> int:
    """Console entry: run the request, print the written files, return 0."""
    result = visualize_from_args(args)
    for path in result["written"]:
        print(path)
    metrics = result["metrics"]
    summary = {k: metrics[k] for k in ("activation_mean", "members_activation_mean",
                                        "fraction_within", "gain_mean", "pixel_distance_mean")
               if k in metrics}
    took = "cached" if result["cached"] else "%.1f s" % result["seconds"]
    print(f"{len(result['written'])} image(s), method {result['method']}, {took}; {summary}")
    return 0


def visualize_from_args(args: argparse.Namespace) -> dict:
    """Run one request; returns the service's result dict plus ``"written"`` (PNG paths)."""
    from topoact.store import open_run

    from . import service

    run = open_run(args.run_dir)
    method = args.method.replace("-", "_")
    params = _params(args)
    if method == "dgn" and args.train_generator and not service.generator_available(run, args.layer):
        log.info("training a generator for layer %s", args.layer)
        service.train_generator_for_run(run, args.layer)
    if args.node is not None:
        result = service.visualize_node(run, args.layer, args.graph, args.node, method, params)
    elif args.row is not None:
        result = service.visualize_exemplar(run, args.layer, args.row, method, params)
    elif args.channel is not None:
        channels = args.channel[0] if len(args.channel) == 1 else list(args.channel)
        result = service.visualize_units(run, args.layer, channels, method, params)
    else:
        raise ValueError("give --node N (with optional --graph KEY), --row I or --channel C")
    out = Path(args.out) if args.out else run.path / "features" / "export"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, rel in enumerate(result["images"]):
        dest = out / f"{args.layer.replace('.', '_')}-{method}-{result['key']}-{i:03d}.png"
        shutil.copyfile(run.path / rel, dest)
        written.append(str(dest))
    return {**result, "written": written}
