"""The ``topoact`` command line: thin argparse wrappers over the Python API."""
from __future__ import annotations

import argparse
import logging
import sys

DEMO_LAYERS = None  # the demo model names its own default layers (topoact.demo.DEMO_LAYERS)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="demo | cifar-resnet20|32|44|56|110 | torchvision:NAME | torchscript:PATH")
    parser.add_argument("--weights", help="local weights file (state dict; 'state_dict' wrappers and "
                                          "'module.' prefixes are handled)")


def cmd_layers(args) -> int:
    from .models import load_model
    from .models.layers import list_layers

    bundle = load_model(args.model, weights=args.weights)
    rows = list_layers(bundle)
    width = max(len(name) for name, _ in rows)
    print(f"{'layer'.ljust(width)}  output shape (without batch)")
    for name, shape in rows:
        print(f"{name.ljust(width)}  {'-' if shape is None else tuple(shape)}")
    return 0


def cmd_collect(args) -> int:
    from .collection import collect

    run = collect(args.model, args.data, args.layers, args.out, reduce=args.reduce, limit=args.limit,
                  batch_size=args.batch_size, chunk_size=args.chunk_size, seed=args.seed,
                  num_workers=args.workers, weights=args.weights, progress=True, overwrite=args.overwrite)
    if args.attributes:
        from .attributes import import_attributes
        from .store import open_run

        done = import_attributes(run, args.attributes)
        print(f"attributes {', '.join(done.attributes)} stored; {done.unmatched} CSV rows matched no image")
        run = open_run(run.path)
    accuracy = float((run.predictions == run.labels).mean()) if (run.labels >= 0).all() else float("nan")
    print(f"{run.n} images collected into {run.path} (layers: {', '.join(run.layers)}); "
          f"skipped {run.report.get('n_skipped', 0)}; model accuracy {accuracy:.1%}")
    return 0


def cmd_serve(args) -> int:
    from .app import serve

    serve(args.run_dir, host=args.host, port=args.port, debug=args.debug, compare=args.compare_dir)
    return 0


def cmd_demo(args) -> int:
    from .demo import prepare_demo

    run = prepare_demo(progress=True)
    print(f"demo run ready at {run.path}")
    if args.no_serve:
        return 0
    from .app import serve

    serve(run.path, host=args.host, port=args.port, debug=False)
    return 0


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8050)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="topoact", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("layers", help="list a model's hookable layers with their output shapes")
    _add_model_arguments(p)
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("collect", help="collect layer activations of a model on an image set")
    _add_model_arguments(p)
    p.add_argument("--data", required=True, help="shapes | shapes:N | digits | an ImageFolder directory")
    p.add_argument("--layers", required=True, help="comma-separated module paths (see `topoact layers`)")
    p.add_argument("--out", required=True, help="run directory (an interrupted run there is resumed)")
    p.add_argument("--reduce", choices=["gap", "random", "center"], default="gap",
                   help="spatial reduction of conv maps (default gap: global average pooling)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--chunk-size", type=int, default=2048, help="images per resumable chunk")
    p.add_argument("--seed", type=int, default=0, help="seed of the random spatial positions")
    p.add_argument("--workers", type=int, help="image-loading processes (default: by core count)")
    p.add_argument("--overwrite", action="store_true", help="delete an existing different run in --out")
    p.add_argument("--attributes", metavar="FILE.csv", help="per-image attributes ('path' or 'id' column)")
    p.set_defaults(func=cmd_collect)

    from .mapper.cli import add_mapper_arguments, add_sweep_arguments, run_mapper_command, run_sweep_command

    p = sub.add_parser("mapper", help="build and save a Mapper graph of one layer")
    add_mapper_arguments(p)
    p.set_defaults(func=run_mapper_command)
    p = sub.add_parser("sweep", help="Mapper parameter sweep with a summary per setting")
    add_sweep_arguments(p)
    p.set_defaults(func=run_sweep_command)

    from .topology.cli import add_persistence_arguments, run_persistence_command

    p = sub.add_parser("persistence", help="persistence diagrams of a layer's activation point cloud")
    add_persistence_arguments(p)
    p.set_defaults(func=run_persistence_command)

    from .features.cli import add_visualize_arguments, run_visualize_command

    p = sub.add_parser("visualize", help="synthesize feature visualizations of a Mapper node")
    add_visualize_arguments(p)
    p.set_defaults(func=run_visualize_command)

    from .observers import cli as observers_cli

    for name, text, add, run_command in (
            ("probe", "linear probes per layer with confidence intervals and controls",
             observers_cli.add_probe_arguments, observers_cli.run_probe_command),
            ("compare", "CKA, depth curves and a summary of two runs (or one)",
             observers_cli.add_compare_arguments, observers_cli.run_compare_command),
            ("attributes", "store per-image attributes from a CSV in a run",
             observers_cli.add_attributes_arguments, observers_cli.run_attributes_command)):
        p = sub.add_parser(name, help=text)
        add(p)
        p.set_defaults(func=run_command)

    p = sub.add_parser("serve", help="start the Dash app on a run directory (two: compare them)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("compare_dir", metavar="RUN_B", nargs="?", help="a second run to compare with")
    _add_serve_arguments(p)
    p.add_argument("--debug", action="store_true", help="Dash debug mode (development only)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="train the demo model, collect, map and serve the built-in dataset")
    _add_serve_arguments(p)
    p.add_argument("--no-serve", action="store_true", help="prepare the demo run and exit")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, RuntimeError) as error:
        # Expected user errors: one clear line, no traceback (use -v for details).
        if args.verbose:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"topoact {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
