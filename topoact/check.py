"""``topoact check RUN``: verify a run directory and say exactly what is wrong and how to repair it.

It reads the directory as plain files (it does not go through :class:`~topoact.store.Run`, which
refuses damaged runs) and reports every problem it finds, not just the first:

- ``meta.json`` present and valid JSON; collection finished (else: resume with the same command);
- every per-image table present with N rows (labels, predictions, source index, probabilities,
  index ids/paths) and every layer's activation file readable with N rows of its stated width;
- non-finite values in activations (counted per layer);
- cached results (persistence, anomalies, probes, ...) whose recorded input fingerprint no longer
  matches the layer (they will be recomputed, and are listed so nobody trusts them meanwhile);
- saved Mapper graphs whose member rows fall outside the run, and a default pointer to a graph
  that does not exist.

Problems carry a severity: ``error`` (the run cannot be used until repaired) or ``warning``
(the run works; something cached is stale or suspicious).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from . import npyfile
from .fileio import DamagedFileError, read_json

__all__ = ["Problem", "check_run"]

RESUME = "re-run the collect command that made this run (it resumes), or with --overwrite to rebuild it"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding of :func:`check_run`.

    Attributes
    ----------
    severity : 'error' | 'warning'
    file : path relative to the run directory
    what : what is wrong
    repair : how to repair it
    """

    severity: str
    file: str
    what: str
    repair: str

    def __str__(self) -> str:
        return f"{self.severity.upper()}: {self.file}: {self.what} -- {self.repair}"


def _load_array(path: Path, problems: list, rel: str) -> np.ndarray | None:
    if path.suffix == ".zarr":  # a Zarr v3 layer (topoact.storage)
        from .errors import DamagedRunError
        from .storage.zarr_array import read_zarr

        try:
            return read_zarr(path)
        except (DamagedRunError, ValueError, OSError) as exc:
            problems.append(Problem("error", rel, f"unreadable ({exc})", RESUME))
            return None
    if not path.is_file():
        problems.append(Problem("error", rel, "missing", RESUME))
        return None
    try:
        return npyfile.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        problems.append(Problem("error", rel, f"unreadable or truncated ({exc})", RESUME))
        return None


def _check_rows(array, n: int, rel: str, problems: list, width: int | None = None) -> None:
    if array is None:
        return
    if array.shape[0] != n:
        problems.append(Problem("error", rel, f"has {array.shape[0]} rows, the run has {n}", RESUME))
    if width is not None and (array.ndim != 2 or array.shape[1] != width):
        problems.append(Problem("error", rel, f"has shape {array.shape}, expected ({n}, {width})", RESUME))


def _nonfinite_rows(array: np.ndarray, block: int = 8192) -> int:
    bad = 0
    for start in range(0, array.shape[0], block):
        chunk = np.asarray(array[start:start + block])
        bad += int((~np.isfinite(chunk)).reshape(len(chunk), -1).any(axis=1).sum())
    return bad


def check_run(path: str | Path) -> list[Problem]:
    """All problems found in the run directory ``path`` (an empty list: the run is sound).

    Parameters
    ----------
    path : run directory

    Returns
    -------
    list of :class:`Problem`, errors first.
    """
    root = Path(path)
    problems: list[Problem] = []
    if not root.is_dir():
        return [Problem("error", str(root), "is not a directory", "pass the run directory made by `topoact collect`")]
    try:
        meta = read_json(root / "meta.json")
    except FileNotFoundError:
        return [Problem("error", "meta.json", "missing: this is not a topoact run directory",
                        "pass the directory given to `topoact collect --out`")]
    except DamagedFileError as exc:
        return [Problem("error", "meta.json", str(exc), RESUME)]
    if meta.get("status") != "complete":
        problems.append(Problem("error", "meta.json", "collection has not finished", RESUME))
        return problems
    n = int(meta.get("n_rows", -1))
    from .store import INDEX, TABLE_FILES, activation_path

    for name in TABLE_FILES:
        _check_rows(_load_array(root / name, problems, name), n, name, problems)
    try:
        index = read_json(root / INDEX)
        for key in ("ids", "paths"):
            if len(index.get(key, [])) != n:
                problems.append(Problem("error", INDEX, f"{key} has {len(index.get(key, []))} entries, "
                                                        f"the run has {n}", RESUME))
    except FileNotFoundError:
        problems.append(Problem("error", INDEX, "missing", RESUME))
    except DamagedFileError as exc:
        problems.append(Problem("error", INDEX, str(exc), RESUME))

    fingerprints: dict[str, str | None] = {}
    for layer, info in (meta.get("layers") or {}).items():
        rel = str(activation_path(root, layer, meta.get("store", "npy")).relative_to(root))
        X = _load_array(root / rel, problems, rel)
        _check_rows(X, n, rel, problems, width=info.get("dim"))
        if X is not None and X.shape[0] == n:
            bad = _nonfinite_rows(X)
            if bad:
                problems.append(Problem("error", rel, f"{bad} of {n} rows hold NaN or inf values", RESUME))
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        from .store import open_run

        run = open_run(root)
        fingerprints = {layer: run.fingerprint(layer) for layer in run.layers}
        problems += _check_results(root, fingerprints)
        problems += _check_graphs(root, run, n)
    return sorted(problems, key=lambda p: p.severity != "error")


def _check_results(root: Path, fingerprints: dict) -> list[Problem]:
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            try:
                data = read_json(path)
            except DamagedFileError as exc:
                out.append(Problem("warning", str(path.relative_to(root)), str(exc),
                                   "delete the file; it is recomputed on demand"))
                continue
            inputs = data.get("inputs") if isinstance(data, dict) else None
            if not isinstance(inputs, dict):
                continue
            stale = [layer for layer, fp in inputs.items() if fingerprints.get(layer) != fp]
            if stale:
                out.append(Problem("warning", str(path.relative_to(root)),
                                   f"cached result computed from other data of {', '.join(stale)}",
                                   "it is recomputed on demand; delete it to reclaim space"))
    return out


def _check_graphs(root: Path, run, n: int) -> list[Problem]:
    out = []
    graphs = root / "graphs"
    if not graphs.is_dir():
        return out
    for folder in sorted(p for p in graphs.iterdir() if p.is_dir()):
        keys = {p.stem for p in folder.glob("*.json") if p.stem != "default"}
        pointer = folder / "default.json"
        if pointer.is_file():
            try:
                key = read_json(pointer).get("key")
            except DamagedFileError as exc:
                key = None
                out.append(Problem("error", str(pointer.relative_to(root)), str(exc),
                                   "delete it and set a default graph again"))
            if key is not None and key not in keys:
                out.append(Problem("error", str(pointer.relative_to(root)),
                                   f"points at graph {key!r}, which does not exist",
                                   "delete it and set a default graph again"))
        for key in sorted(keys):
            rel = str((folder / f"{key}.json").relative_to(root))
            try:
                data = read_json(folder / f"{key}.json")
            except DamagedFileError as exc:
                out.append(Problem("error", rel, str(exc), "delete it and rebuild the graph"))
                continue
            rows = [r for node in data.get("nodes", []) for r in node.get("members", [])]
            if rows and (max(rows) >= n or min(rows) < 0):
                out.append(Problem("error", rel, f"members outside the run's {n} rows",
                                   "delete it and rebuild the graph"))
    return out
