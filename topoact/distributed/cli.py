"""Command-line pieces of the scale-out: ``--scheduler`` / ``--store`` options and ``topoact convert``."""
from __future__ import annotations

import argparse
import functools
from typing import Callable

__all__ = ["add_scheduler_argument", "add_store_argument", "with_scheduler", "add_convert_arguments",
           "run_convert_command"]

SCHEDULER_HELP = ("run on Dask: local (one worker process per core), local:N, or tcp://HOST:PORT of a running "
                  "`dask scheduler` whose workers see the run directory and the data (see the README)")


def _scheduler(text: str) -> str:
    from ..errors import InvalidParameterError
    from .scheduler import check_scheduler

    try:
        return check_scheduler(text)
    except InvalidParameterError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_scheduler_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler local[:N] | tcp://HOST:PORT`` (validated while parsing)."""
    parser.add_argument("--scheduler", type=_scheduler, default=None, metavar="local[:N]|tcp://HOST:PORT",
                        help=SCHEDULER_HELP)


def add_store_argument(parser: argparse.ArgumentParser, default: str | None = "npy") -> None:
    """Add ``--store npy|zarr``."""
    parser.add_argument("--store", choices=["npy", "zarr"], default=default,
                        help="activation files: npy (memory-mapped, default) or zarr (Zarr v3 arrays, one chunk "
                             "per collection chunk; readable by zarr, dask and xarray)")


def with_scheduler(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command with ``args.scheduler`` as the default scheduler of its steps (one client)."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from .scheduler import use_scheduler

        with use_scheduler(getattr(args, "scheduler", None)):
            return command(args)
    return run


def add_convert_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``topoact convert RUN --store zarr|npy``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    add_store_argument(parser, default="zarr")
    return parser


def run_convert_command(args: argparse.Namespace) -> int:
    """``topoact convert``: rewrite a finished run's activations in the other store."""
    from ..storage.convert import convert_run
    from ..store import open_run

    run = open_run(convert_run(args.run_dir, args.store))
    print(f"{run.path}: activations of {', '.join(run.layers)} stored as {run.store}")
    return 0
