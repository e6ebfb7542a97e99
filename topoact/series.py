"""A training run as a series: the same images through every checkpoint, one run per step.

``collect_series(model, data, layers, weights=..., out=DIR)`` collects the activations of the
same images through each checkpoint of a training run into ``DIR``:

```
DIR/series.json          the manifest (below), rewritten atomically after every step
DIR/steps/step-000003/   one ordinary run directory per checkpoint (topoact.open_run)
```

``series.json``: ``{"kind": "series", "schema_version": 1, "model": spec, "data": spec,
"layers": [...], "reduce": ..., "limit": n | null, "steps": [{"step": int, "checkpoint": path,
"sha256": hex, "run": "steps/step-000003", "status": "complete" | "failed", "error": str | null},
...], "attached": [paths of other runs of the same model, relative to DIR]}`` in step order.

Checkpoints (``weights``) are a glob (``'ckpt_*.th'``), a directory (its ``.th/.pt/.pth/.ckpt/.bin``
files) or a list of paths; their step is the last whole number in the file name
(``epoch_12.pt`` -> 12) unless ``steps`` gives them explicitly. Two files with the same step, or a
file without a number and no explicit steps, are a clear error before anything runs.

Resumable: a step whose run is complete and whose checkpoint has the same SHA-256 as recorded is
skipped without loading the model; an interrupted step resumes inside its run (``collect``
resumes by chunk). A checkpoint that cannot be loaded (unreadable, wrong architecture) is
recorded as ``failed`` with the reason and skipped; the other steps go on. Every step collects
the same data set (opened once), so row ``i`` is the same image in every step; this is checked
(``ids`` of each run) when a series is opened.
"""
from __future__ import annotations

import glob
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from .fileio import read_json, write_json
from .hashing import file_sha256
from .progress import ProgressFn, Stage, check_cancelled, report
from .store import Run, open_run

__all__ = ["Series", "SeriesStep", "open_series", "find_series", "collect_series", "resolve_checkpoints",
           "checkpoint_step", "SERIES_FILE", "CHECKPOINT_SUFFIXES"]

log = logging.getLogger(__name__)

SERIES_FILE = "series.json"
SCHEMA_VERSION = 1
CHECKPOINT_SUFFIXES = (".th", ".pt", ".pth", ".ckpt", ".bin", ".tar")
_GLOB_CHARS = re.compile(r"[*?\[]")


def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The step of a checkpoint file: the last whole number in its name (None when there is none).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    int or None

    Examples
    --------
    >>> checkpoint_step("runs/ckpt_epoch_012.th"), checkpoint_step("final.pt")
    (12, None)
    """
    numbers = re.findall(r"\d+", Path(path).stem)
    return int(numbers[-1]) if numbers else None


def is_checkpoint_list(weights: Any) -> bool:
    """Whether ``weights`` names several checkpoints (a list, a glob, a directory, commas).

    Parameters
    ----------
    weights : str, PathLike, list or None

    Returns
    -------
    bool
    """
    if weights is None:
        return False
    if isinstance(weights, (list, tuple)):
        return True
    text = os.fspath(weights)
    return bool(_GLOB_CHARS.search(text)) or "," in text or os.path.isdir(text)


def resolve_checkpoints(weights: str | os.PathLike | Sequence[str | os.PathLike],
                        steps: Sequence[int] | None = None) -> list[tuple[int, Path]]:
    """``[(step, checkpoint path), ...]`` in step order from a glob, a directory or a list.

    Parameters
    ----------
    weights : str, PathLike or list of them
        A glob (``'ckpt_*.th'``), a directory (its checkpoint files), a comma-separated list or a
        Python list of files.
    steps : list of int, optional
        The step of each file in the order given (a list) or in name order (a glob / directory);
        default: the last whole number in each file name.

    Returns
    -------
    list of (int, Path)

    Raises
    ------
    ValueError
        No file matched, a missing file, a name without a step number, two files with one step,
        or ``steps`` of the wrong length.
    """
    if isinstance(weights, (list, tuple)):
        files = [Path(w) for w in weights]
    else:
        text = os.fspath(weights)
        if os.path.isdir(text):
            files = sorted(p for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
            if not files:
                raise ValueError(f"no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)}) in directory {text}")
        elif _GLOB_CHARS.search(text):
            files = sorted(Path(p) for p in glob.glob(text) if os.path.isfile(p))
            if not files:
                raise ValueError(f"no checkpoint file matches {text!r}")
        else:
            files = [Path(part.strip()) for part in text.split(",") if part.strip()]
    if not files:
        raise ValueError("give at least one checkpoint")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"checkpoint file(s) not found: {', '.join(missing)}")
    if steps is not None:
        steps = [int(s) for s in steps]
        if len(steps) != len(files):
            raise ValueError(f"{len(steps)} steps given for {len(files)} checkpoints; give one step per file")
    else:
        steps = []
        for f in files:
            step = checkpoint_step(f)
            if step is None:
                raise ValueError(f"checkpoint {f} has no step number in its name; give the steps "
                                 "explicitly (--steps 1,2,3 / steps=[...])")
            steps.append(step)
    seen: dict[int, Path] = {}
    for step, f in zip(steps, files):
        if step in seen:
            raise ValueError(f"checkpoints {seen[step]} and {f} have the same step {step}; give the steps explicitly")
        seen[step] = f
    return sorted(seen.items())


class SeriesStep(dict):
    """One manifest entry (a dict: step, checkpoint, sha256, run, status, error)."""

    @property
    def complete(self) -> bool:
        """Whether this step's run was collected."""
        return self.get("status") == "complete"


class Series:
    """A series directory opened for reading (see the module docstring).

    Parameters
    ----------
    path : str or PathLike
        The directory holding ``series.json``.

    Attributes
    ----------
    path : Path
    manifest : dict
        The parsed ``series.json``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        file = self.path / SERIES_FILE
        if not file.is_file():
            raise FileNotFoundError(f"{self.path} is not a topoact series (no {SERIES_FILE})")
        self.manifest = read_json(file)
        if not isinstance(self.manifest, dict) or self.manifest.get("kind") != "series":
            raise ValueError(f"{file} is not a series manifest")
        self.entries = [SeriesStep(e) for e in self.manifest.get("steps", [])]
        self._runs: dict[int, Run] = {}

    def __repr__(self) -> str:
        return f"Series({str(self.path)!r}, steps={self.steps})"

    @property
    def steps(self) -> list[int]:
        """Steps whose run is complete, in order."""
        return [int(e["step"]) for e in self.entries if e.complete]

    @property
    def failed(self) -> list[SeriesStep]:
        """Manifest entries of checkpoints that could not be collected (with ``error``)."""
        return [e for e in self.entries if e.get("status") == "failed"]

    @property
    def layers(self) -> list[str]:
        """The collected layers."""
        return list(self.manifest.get("layers", []))

    def run_path(self, step: int) -> Path:
        """Directory of the run of ``step``."""
        for e in self.entries:
            if int(e["step"]) == int(step):
                return (self.path / e["run"]).resolve()
        raise KeyError(f"step {step} is not in the series; steps: {self.steps}")

    def run(self, step: int) -> Run:
        """The run of ``step`` (opened once, then kept).

        Parameters
        ----------
        step : int

        Returns
        -------
        Run

        Raises
        ------
        KeyError
            An unknown or failed step (the message lists the complete ones).
        """
        step = int(step)
        if step not in self.steps:
            raise KeyError(f"step {step} is not a complete step of the series; steps: {self.steps}")
        if step not in self._runs:
            run = open_run(self.run_path(step))
            if self._runs:
                first = next(iter(self._runs.values()))
                if run.n != first.n or run.ids != first.ids:
                    raise ValueError(f"step {step} holds other images than the series' other steps "
                                     f"({run.n} vs {first.n} rows); re-collect it")
            self._runs[step] = run
        return self._runs[step]

    def runs(self) -> list[Run]:
        """The runs of every complete step, in step order."""
        return [self.run(s) for s in self.steps]

    def contains(self, run_path: str | os.PathLike) -> bool:
        """Whether a run directory is one of this series' steps or attached runs."""
        target = Path(run_path).resolve()
        paths = [self.run_path(int(e["step"])) for e in self.entries]
        paths += [(self.path / a).resolve() for a in self.manifest.get("attached", [])]
        return target in paths

    def results_dir(self, kind: str, create: bool = False) -> Path:
        """``DIR/<kind>`` for series-level cached results (created only when asked)."""
        folder = self.path / kind
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return folder


def open_series(path: str | os.PathLike) -> Series:
    """Open a series directory written by :func:`collect_series`.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    Series
    """
    return Series(path)


def find_series(run_path: str | os.PathLike) -> Series | None:
    """The series a run belongs to: a step of a series (``DIR/steps/<run>``) or a run attached to
    one in a sibling directory (the demo run and the demo series). None when there is none.

    Parameters
    ----------
    run_path : str or PathLike

    Returns
    -------
    Series or None
    """
    run_path = Path(run_path).resolve()
    candidates = [run_path.parent.parent, run_path.parent]
    try:
        candidates += sorted(p for p in run_path.parent.iterdir() if p.is_dir() and p != run_path)
    except OSError:
        pass
    for folder in candidates:
        if (folder / SERIES_FILE).is_file():
            try:
                series = Series(folder)
                if series.contains(run_path):
                    return series
            except (OSError, ValueError, KeyError) as exc:
                log.debug("%s: not a usable series (%s)", folder, exc)
    return None


def _write_manifest(out: Path, manifest: dict) -> None:
    write_json(out / SERIES_FILE, manifest)


def collect_series(model: Any, data: Any, layers: str | Sequence[str], *,
                   weights: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike,
                   steps: Sequence[int] | None = None, model_options: dict | None = None, attached: Sequence[str | os.PathLike] = (),
                   progress: bool | ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None,
                   **collect_kwargs: Any) -> Series:
    """Collect the same images through every checkpoint into a series directory.

    Parameters
    ----------
    model : str or torch.nn.Module
        Model spec whose architecture every checkpoint fits (``demo``, ``cifar-resnet20``, ...), or
        a module (copied for each checkpoint, then the checkpoint's state dict is loaded into it).
    data : str or ImageSet
        Data spec or image set (opened once, shared by every step).
    layers : list of str or comma-separated str
    weights : glob, directory, comma-separated list or list of checkpoint paths
        (:func:`resolve_checkpoints`).
    out : str or PathLike
        The series directory (created; rerunning resumes and skips finished steps).
    steps : list of int, optional
        Explicit step numbers (default: from the file names).
    model_options : dict, optional
        Keyword arguments of :func:`topoact.models.load_model` (``class_names``, ``input_size``).
    attached : list of paths
        Other runs of the same model to link to the series (the app then shows its timeline).
    progress : bool or callable
        True: a tqdm bar per step on stderr; a callable: ``progress(done, total, message)`` over
        the whole series.
    should_cancel : callable, optional
        Polled between steps and inside each collection.
    **collect_kwargs
        ``reduce``, ``limit``, ``batch_size``, ``chunk_size``, ``seed``, ``num_workers`` of
        :func:`topoact.collection.collect`.

    Returns
    -------
    Series

    Raises
    ------
    ValueError
        Bad checkpoint list (:func:`resolve_checkpoints`) or no checkpoint could be collected
        (the message lists each reason).
    """
    from .collection import collect
    from .data import open_dataset

    import copy

    import torch

    from .models import load_model

    if isinstance(model, torch.nn.Module):
        model_name = f"module:{type(model).__name__}"

        def make(ckpt: Path) -> Any:
            return load_model(copy.deepcopy(model), weights=str(ckpt), **dict(model_options or {}))
    elif isinstance(model, str):
        model_name = model

        def make(ckpt: Path) -> Any:
            return load_model(model, weights=str(ckpt), **dict(model_options or {}))
    else:
        raise ValueError("collect_series needs a model spec string or an nn.Module: the architecture "
                         f"every checkpoint is loaded into (got {type(model).__name__})")
    checkpoints = resolve_checkpoints(weights, steps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    layer_list = [s.strip() for s in layers.split(",")] if isinstance(layers, str) else list(layers)
    settings = {"model": model_name, "data": data if isinstance(data, str) else getattr(data, "spec", None),
                "layers": layer_list, "reduce": collect_kwargs.get("reduce", "gap"),
                "limit": collect_kwargs.get("limit")}
    old: dict[int, dict] = {}
    if (out / SERIES_FILE).is_file():
        previous = read_json(out / SERIES_FILE)
        if any(previous.get(k) != v for k, v in settings.items()):
            raise ValueError(f"{out} holds a series with other settings "
                             f"({ {k: previous.get(k) for k in settings} }); use another directory")
        old = {int(e["step"]): e for e in previous.get("steps", [])}
    manifest = {"kind": "series", "schema_version": SCHEMA_VERSION, **settings,
                "attached": [os.path.relpath(Path(a).resolve(), out.resolve()) for a in attached],
                "steps": []}
    dataset = open_dataset(data)
    entries: dict[int, dict] = dict(old)
    total = len(checkpoints)
    for k, (step, ckpt) in enumerate(checkpoints):
        check_cancelled(should_cancel, "series collection")
        run_rel = f"steps/step-{step:06d}"
        digest = file_sha256(ckpt, length=64)
        prior = old.get(step)
        if (prior and prior.get("status") == "complete" and prior.get("sha256") == digest
                and (out / run_rel / "meta.json").is_file()):
            log.info("step %d (%s) already collected; skipped", step, ckpt)
            report(progress if callable(progress) else None, k + 1, total, f"step {step}: done before")
            continue
        entry = {"step": step, "checkpoint": str(Path(ckpt).resolve()), "sha256": digest, "run": run_rel,
                 "status": "failed", "error": None}
        sub = Stage(progress, k / total, (k + 1) / total, f"step {step}") if callable(progress) else progress
        try:
            bundle = make(ckpt)
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint is reported and skipped
            entry["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log.warning("checkpoint %s (step %d) skipped: %s", ckpt, step, entry["error"])
        else:
            # same checkpoint as recorded: resume the step's run; another one: start it afresh
            changed = prior is not None and prior.get("sha256") != digest
            collect(bundle, dataset, layer_list, out / run_rel, progress=sub, should_cancel=should_cancel,
                    overwrite=changed, **collect_kwargs)
            entry["status"] = "complete"
        entries[step] = entry
        manifest["steps"] = [entries[s] for s in sorted(entries)]
        _write_manifest(out, manifest)
    manifest["steps"] = [entries[s] for s in sorted(entries)]
    _write_manifest(out, manifest)
    series = Series(out)
    if not series.steps:
        reasons = "; ".join(f"step {e['step']}: {e['error']}" for e in series.failed)
        raise ValueError(f"no checkpoint could be collected ({reasons})")
    return series
