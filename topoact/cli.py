"""The ``topoact`` command line: thin argparse wrappers over the Python API.

Every expected mistake (bad arguments, unknown layers, damaged or locked runs, files in the way)
ends with ONE line ``topoact COMMAND: error: ...`` on stderr and exit code 2; ``-v`` shows the
traceback instead. Argument names follow the library's vocabulary: ``--layers a,b``,
``--reduce``, ``--seed``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Run

__all__ = ["build_parser", "main", "port_number", "layer_list"]


def port_number(text: str) -> int:
    """argparse type of a TCP port: an integer in 1..65535.

    Parameters
    ----------
    text : str

    Returns
    -------
    int
    """
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number in 1..65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 1..65535, got {port}")
    return port


def layer_list(text: str) -> list[str]:
    """argparse type of ``--layers``: comma-separated module paths, blanks dropped.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
    """
    layers = [name.strip() for name in text.split(",") if name.strip()]
    if not layers:
        raise argparse.ArgumentTypeError("give at least one layer (see `topoact layers --model SPEC`)")
    return layers


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="demo | cifar-resnet20|32|44|56|110 | torchvision:NAME | torchscript:PATH")
    parser.add_argument("--weights", help="local weights file (state dict; 'state_dict' wrappers and "
                                          "'module.' prefixes are handled); for collect also several "
                                          "checkpoints: a glob 'ckpt_*.th', a directory or a,b,c (a series)")


def cmd_layers(args: argparse.Namespace) -> int:
    """``topoact layers``: print a model's hookable layers with their output shapes.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit code.
    """
    from .models import load_model
    from .models.layers import list_layers

    bundle = load_model(args.model, weights=args.weights)
    rows = list_layers(bundle)
    width = max(len(name) for name, _ in rows)
    print(f"{'layer'.ljust(width)}  output shape (without batch)")
    for name, shape in rows:
        print(f"{name.ljust(width)}  {'-' if shape is None else tuple(shape)}")
    return 0


def accuracy_line(run: "Run") -> str:
    """``model accuracy 81.0%``, or why accuracy means nothing for this run.

    Parameters
    ----------
    run : Run

    Returns
    -------
    str
    """
    if not run.labels_match_model:
        return "accuracy n/a: dataset classes do not match the model's"
    labels = run.labels
    if len(labels) == 0 or not (labels >= 0).all():
        return "accuracy n/a: the images are unlabelled"
    return f"model accuracy {float((run.predictions == labels).mean()):.1%}"


def cmd_collect(args: argparse.Namespace) -> int:
    """``topoact collect``: collect layer activations into a run directory.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit code.
    """
    from .series import is_checkpoint_list

    if is_checkpoint_list(args.weights):
        return _collect_series(args)
    from .collection import collect

    run = collect(args.model, args.data, args.layers, args.out, reduce=args.reduce, limit=args.limit,
                  batch_size=args.batch_size, chunk_size=args.chunk_size, seed=args.seed,
                  num_workers=args.workers, weights=args.weights, progress=True, overwrite=args.overwrite,
                  store=args.store, scheduler=args.scheduler)
    if args.attributes:
        from .attributes import import_attributes
        from .store import open_run

        done = import_attributes(run, args.attributes)
        print(f"attributes {', '.join(done.attributes)} stored; {done.unmatched} CSV rows matched no image")
        run = open_run(run.path)
    print(f"{run.n} images collected into {run.path} (layers: {', '.join(run.layers)}); "
          f"skipped {run.report.get('n_skipped', 0)}; {accuracy_line(run)}")
    return 0


def step_list(text: str) -> list[int]:
    """argparse type of ``--steps``: comma-separated whole numbers.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of int
    """
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated whole numbers, got {text!r}") from None


def _collect_series(args: argparse.Namespace) -> int:
    """``topoact collect --weights GLOB|DIR|a,b``: one run per checkpoint in a series directory."""
    from .series import collect_series

    if args.attributes:
        raise ValueError("--attributes is not supported with several checkpoints; import them per run "
                         "with `topoact attributes`")
    if args.scheduler:
        raise ValueError("--scheduler is not supported with several checkpoints yet: collect each checkpoint "
                         "with its own `topoact collect --weights FILE --scheduler ...`, or drop --scheduler")
    series = collect_series(args.model, args.data, args.layers, weights=args.weights, out=args.out,
                            steps=args.steps, reduce=args.reduce, limit=args.limit, batch_size=args.batch_size,
                            chunk_size=args.chunk_size, seed=args.seed, num_workers=args.workers, progress=True,
                            store=args.store)
    for entry in series.failed:
        print(f"step {entry['step']} skipped ({entry['checkpoint']}): {entry['error']}")
    last = series.run(series.steps[-1])
    print(f"series of {len(series.steps)} checkpoints (steps {', '.join(map(str, series.steps))}) in {series.path}; "
          f"{last.n} images each; last step: {accuracy_line(last)}")
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    """``topoact timeline``: per-step summaries, node matches and events of one layer of a series.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit code.
    """
    from .fileio import write_json
    from .series import open_series
    from .timeline import build_timeline

    series = open_series(args.series_dir)
    timeline = build_timeline(series, args.layer, persistence=not args.no_persistence,
                              max_motion=args.max_motion)
    data = timeline.to_dict()
    if args.out:
        write_json(args.out, data)
    for row in timeline.steps:
        events = row.get("events") or {}
        acc = "n/a" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        purity = "n/a" if row["purity"] is None else f"{row['purity']:.3f}"
        print(f"step {row['step']:>6}: accuracy {acc}  nodes {row['nodes']:>4}  components {row['components']:>3}  "
              f"loops {row['loops']:>3}  purity {purity}  "
              + "  ".join(f"{k} {v}" for k, v in events.items() if v))
    if args.out:
        print(f"timeline of {args.layer} written to {args.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``topoact check``: list what is wrong with a run directory; exit 1 when it has errors.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit code.
    """
    from .check import check_run

    problems = check_run(args.run_dir)
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    if not problems:
        print(f"{args.run_dir}: no problems found")
    return 1 if errors else 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``topoact serve``: start the Dash app on a run directory.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit code.
    """
    from .app import serve
    from .store import open_run

    open_run(args.run_dir)  # a missing, unfinished or damaged run fails here in one line
    if args.compare_dir is not None:
        open_run(args.compare_dir)
    serve(args.run_dir, host=args.host, port=args.port, debug=args.debug, server=args.server,
          threads=args.threads, compare=args.compare_dir)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``topoact demo``: prepare the demo run (cached) and serve it.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit code.
    """
    from .demo import prepare_demo

    run = prepare_demo(progress=True)
    print(f"demo run ready at {run.path}")
    if args.no_serve:
        return 0
    from .app import serve

    serve(run.path, host=args.host, port=args.port, debug=False, server=args.server, threads=args.threads)
    return 0


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=8050, help="TCP port, 1..65535 (default 8050)")
    parser.add_argument("--server", choices=["waitress", "flask"], default="waitress",
                        help="waitress (default): a production WSGI server, fine for a team on a shared "
                             "machine; flask: Flask's development server (what --debug uses)")
    parser.add_argument("--threads", type=int, default=8, help="request threads of the waitress server (default 8)")


def build_parser() -> argparse.ArgumentParser:
    """The ``topoact`` argument parser with every sub-command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="topoact", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages (and show tracebacks)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("layers", help="list a model's hookable layers with their output shapes")
    _add_model_arguments(p)
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("collect", help="collect layer activations of a model on an image set")
    _add_model_arguments(p)
    p.add_argument("--data", required=True, help="shapes | shapes:N | digits | an ImageFolder directory")
    p.add_argument("--layers", required=True, type=layer_list,
                   help="comma-separated module paths, e.g. layer1,layer3 (see `topoact layers`)")
    p.add_argument("--out", required=True, help="run directory (an interrupted run there is resumed)")
    p.add_argument("--reduce", choices=["gap", "random", "center"], default="gap",
                   help="reduction of conv maps and token sequences over positions (default gap: average)")
    p.add_argument("--limit", type=int, help="use only the first N images (N >= 1)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--chunk-size", type=int, default=2048, help="images per resumable chunk")
    p.add_argument("--seed", type=int, default=0, help="seed of the random spatial positions")
    p.add_argument("--workers", type=int, help="image-loading processes (default: by core count)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete a previous, different topoact run in --out (never anything else)")
    p.add_argument("--attributes", metavar="FILE.csv", help="per-image attributes ('path' or 'id' column)")
    p.add_argument("--steps", type=step_list,
                   help="with several --weights (a glob 'ckpt_*.th', a directory or a,b,c): the step of each "
                        "checkpoint (default: the last number in each file name); --out is then a series")
    from .distributed.cli import add_convert_arguments, add_scheduler_argument, add_store_argument, \
        run_convert_command, with_scheduler

    add_store_argument(p)
    add_scheduler_argument(p)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("timeline", help="per-step summaries, node matches and events of a series' layer (JSON)")
    p.add_argument("series_dir", metavar="SERIES")
    p.add_argument("--layer", required=True, help="a collected layer")
    p.add_argument("--out", metavar="FILE.json", help="write the timeline JSON here")
    p.add_argument("--max-motion", type=float, default=1.0,
                   help="how far a persisting node may move between steps in the layout (default 1)")
    p.add_argument("--no-persistence", action="store_true", help="leave out the persistence summaries (faster)")
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("convert", help="rewrite a finished run's activations as Zarr arrays (or back to .npy)")
    add_convert_arguments(p)
    p.set_defaults(func=run_convert_command)

    p = sub.add_parser("check", help="verify a run directory and say how to repair what is wrong")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_check)

    from .mapper.cli import add_mapper_arguments, add_sweep_arguments, run_mapper_command, run_sweep_command

    p = sub.add_parser("mapper", help="build and save a Mapper graph of one layer")
    add_mapper_arguments(p)
    add_scheduler_argument(p)
    p.set_defaults(func=with_scheduler(run_mapper_command))
    p = sub.add_parser("sweep", help="Mapper parameter sweep with a summary per setting")
    add_sweep_arguments(p)
    add_scheduler_argument(p)
    p.set_defaults(func=with_scheduler(run_sweep_command))

    from .topology.cli import add_persistence_arguments, run_persistence_command

    p = sub.add_parser("persistence", help="persistence diagrams of a layer's activation point cloud")
    add_persistence_arguments(p)
    add_scheduler_argument(p)
    p.set_defaults(func=with_scheduler(run_persistence_command))

    from .features.cli import add_visualize_arguments, run_visualize_command

    p = sub.add_parser("visualize", help="synthesize feature visualizations of a Mapper node")
    add_visualize_arguments(p)
    p.set_defaults(func=run_visualize_command)

    from .anomaly.cli import add_anomalies_arguments, run_anomalies_command

    p = sub.add_parser("anomalies", help="score every image for label issues, outliers and duplicates (CSV)")
    add_anomalies_arguments(p)
    add_scheduler_argument(p)
    p.set_defaults(func=with_scheduler(run_anomalies_command))

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
        if name == "probe":  # the layers' probes as Dask tasks
            add_scheduler_argument(p)
            run_command = with_scheduler(run_command)
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


def _error_message(error: BaseException) -> str:
    """One line saying what went wrong (KeyError's quoting removed, an OSError's file named)."""
    if isinstance(error, KeyError) and type(error).__str__ is KeyError.__str__ and error.args:
        text = str(error.args[0])
    else:
        text = str(error)
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{text}: {error.filename}"
    return " ".join(text.split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for a user error, printed in one line).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
    """
    from .progress import Cancelled

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"topoact {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError, RuntimeError, Cancelled) as error:
        # Expected user errors (bad input, damaged/locked runs, files in the way): one line, no
        # traceback (use -v for details). DamagedFileError, DamagedRunError, UnknownLayerError and
        # RunLockedError are among these and name the file, the layer or the other process.
        if args.verbose:
            raise
        print(f"topoact {args.command}: error: {_error_message(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
