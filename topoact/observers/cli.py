"""``topoact probe``, ``topoact compare`` and ``topoact attributes``: thin wrappers that print tables."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..fileio import write_json

__all__ = ["add_probe_arguments", "run_probe_command", "add_compare_arguments", "run_compare_command",
           "add_attributes_arguments", "run_attributes_command"]


def _layers(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def add_probe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--target", default="label", help="label (default) or an attribute of the run")
    p.add_argument("--layers", help="comma-separated layers (default: all, in the run's order)")
    p.add_argument("--model", default="auto", choices=["auto", "logistic", "sgd", "mlp"],
                   help="probe model (auto: logistic, SGD for large runs)")
    p.add_argument("--test-size", type=float, default=0.3, help="held-out share of the images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the result as JSON here")


def run_probe_command(args) -> int:
    from ..store import open_run
    from .probes import ProbeConfig, probe_layers

    run = open_run(args.run_dir)
    config = ProbeConfig(target=args.target, model=args.model, test_size=args.test_size, seed=args.seed)
    result = probe_layers(run, _layers(args.layers), config)
    print(f"probe target {result.target} ({result.target_kind}, {result.metric}) on {run.path}")
    print(f"{'layer':<24} {'accuracy':>8}  {'95% CI':>15}  {'chance':>6}  {'shuffled':>8}  model")
    for name, v in result.layers.items():
        print(f"{name:<24} {v['accuracy']:8.3f}  [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]  {v['chance']:6.3f}  "
              f"{v['shuffled']:8.3f}  {v['model']}")
    if args.out:
        write_json(Path(args.out), result.to_dict())
    return 0


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B", nargs="?", help="second run on the same images (default: RUN_A)")
    p.add_argument("--targets", default="label", help="comma-separated probe targets for the curves")
    p.add_argument("--out", help="write the result as JSON here")


def run_compare_command(args) -> int:
    from ..store import open_run
    from .compare import compare_runs

    run_a = open_run(args.run_a)
    run_b = open_run(args.run_b) if args.run_b else run_a
    result = compare_runs(run_a, run_b, targets=tuple(_layers(args.targets) or ["label"]))
    if result.cka is not None:
        cols = result.cka["cols"]
        print("linear CKA (rows: " + run_a.path.name + ", cols: " + run_b.path.name + ")")
        print(f"{'':<16}" + "".join(f"{c[:9]:>10}" for c in cols))
        for name, row in zip(result.cka["rows"], result.cka["values"]):
            print(f"{name[:16]:<16}" + "".join(f"{v:10.3f}" for v in row))
    print(result.summary)
    if args.out:
        write_json(Path(args.out), result.to_dict())
    return 0


def _pairs(items: list[str] | None, what: str) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--{what} takes NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        out[name.strip()] = value.strip()
    return out


def add_attributes_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("csv", metavar="FILE.csv", help="a 'path' or 'id' column plus one column per attribute")
    p.add_argument("--kind", action="append", metavar="NAME=KIND",
                   help="categorical | circular | linear (default: guessed from the values)")
    p.add_argument("--period", action="append", metavar="NAME=PERIOD", help="period of a circular attribute")


def run_attributes_command(args) -> int:
    from ..attributes import import_attributes
    from ..store import open_run

    periods = {k: float(v) for k, v in _pairs(args.period, "period").items()}
    result = import_attributes(open_run(args.run_dir), args.csv, kinds=_pairs(args.kind, "kind"), periods=periods)
    print(f"stored {', '.join(f'{k} ({v})' for k, v in result.attributes.items())} for {result.matched} images; "
          f"{result.missing_images} images without a value")
    if result.unmatched:
        print(f"{result.unmatched} of {result.n_csv_rows} CSV rows matched no image, e.g. "
              f"{', '.join(map(str, result.unmatched_examples))}")
    return 0
