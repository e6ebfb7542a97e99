"""Per-image attributes from a user CSV, stored in a run (``topoact attributes RUN FILE.csv``).

The CSV has a ``path`` or an ``id`` column and one column per attribute. Rows are matched to the
run's images by id (``run.ids``) or by path (exact, then resolved absolute path, then the
trailing path components, so ``cat/001.png`` matches ``/data/images/cat/001.png``). Images without
a CSV row get NaN; CSV rows that match no image are reported (count and the first few).

Kinds: numeric columns are ``linear`` unless all values are integers with at most 20 distinct
values (``categorical``); text columns are ``categorical`` with integer codes and their category
names in ``attributes_meta[name]["categories"]``. ``kinds={"angle": "circular"}`` and
``periods={"angle": 360}`` override. The attributes are merged into ``attributes.npz`` (same
names replaced) and ``meta.json`` (``attribute_kinds``, ``attributes_meta``), both written
atomically (:mod:`topoact.fileio`).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path, PurePosixPath
from typing import Mapping

import numpy as np

from .errors import InvalidParameterError
from .fileio import atomic_write, read_json, write_json
from .results import Result

__all__ = ["AttributeImport", "read_attribute_csv", "import_attributes"]

KINDS = ("categorical", "circular", "linear")


@dataclasses.dataclass
class AttributeImport(Result):
    """What an import did: attribute names and kinds, matched rows, unmatched CSV keys."""

    kind = "attribute_import"

    attributes: dict
    matched: int
    n_csv_rows: int
    unmatched: int
    unmatched_examples: list
    missing_images: int


def read_attribute_csv(path) -> tuple[str, list[str], dict[str, list[str]]]:
    """``(key column, keys, {attribute: raw strings})`` of a CSV with a ``path`` or ``id`` column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attribute file {path} not found")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        key = "id" if "id" in columns else "path" if "path" in columns else None
        if key is None:
            raise InvalidParameterError(f"{path}: needs an 'id' or 'path' column; found columns {columns}")
        names = [c for c in columns if c not in ("id", "path")]
        if not names:
            raise InvalidParameterError(f"{path}: no attribute columns besides {key!r}")
        keys, values = [], {name: [] for name in names}
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            keys.append(row.get(key, ""))
            for name in names:
                values[name].append(row.get(name, ""))
    return key, keys, values


def _convert(name: str, raw: list[str], kind: str | None, period: float | None) -> tuple[np.ndarray, str, dict]:
    def number(text):
        try:
            return float(text) if text != "" else math.nan
        except ValueError:
            return None

    numbers = [number(t) for t in raw]
    meta: dict = {}
    if all(v is not None for v in numbers):
        values = np.array(numbers, np.float64)
        finite = values[np.isfinite(values)]
        integral = finite.size > 0 and np.all(finite == np.round(finite))
        guessed = "categorical" if integral and np.unique(finite).size <= 20 else "linear"
    else:
        if kind not in (None, "categorical"):
            raise InvalidParameterError(f"attribute {name!r} has non-numeric values; it can only be categorical")
        categories = sorted({t for t in raw if t != ""})
        codes = {c: i for i, c in enumerate(categories)}
        values = np.array([codes[t] if t != "" else math.nan for t in raw], np.float64)
        meta["categories"] = categories
        guessed = "categorical"
    kind = kind or guessed
    if kind not in KINDS:
        raise InvalidParameterError(f"unknown kind {kind!r} for {name!r}; choose from {', '.join(KINDS)}")
    if kind == "circular":
        meta["period"] = float(period) if period else 2 * math.pi
    return values, kind, meta


def _match(run, key: str, keys: list[str]) -> np.ndarray:
    """(len(keys),) run row of each CSV key, -1 when none."""
    if key == "id":
        lookup = {str(i): r for r, i in enumerate(run.ids)}
        return np.array([lookup.get(k, -1) for k in keys], np.int64)
    paths = list(run.paths)
    exact = {str(p): r for r, p in enumerate(paths) if p}
    resolved = {os.path.realpath(p): r for r, p in enumerate(paths) if p}
    suffix: dict[tuple, int] = {}
    for r, p in enumerate(paths):
        if p:
            parts = PurePosixPath(Path(p).as_posix()).parts
            for n in range(1, len(parts) + 1):
                tail = parts[-n:]
                suffix[tail] = r if tail not in suffix else -2  # -2: ambiguous, never matched
    out = []
    for k in keys:
        row = exact.get(k, resolved.get(os.path.realpath(k), -1) if k else -1)
        if row < 0 and k:
            row = suffix.get(PurePosixPath(Path(k).as_posix()).parts, -1)
        out.append(row if row >= 0 else -1)
    return np.array(out, np.int64)


def import_attributes(run, csv_path, *, kinds: Mapping[str, str] | None = None,
                      periods: Mapping[str, float] | None = None) -> AttributeImport:
    """Read ``csv_path`` and store its attributes in ``run`` (see module docstring).

    Returns
    -------
    AttributeImport (reopen the run with ``topoact.open_run`` to see the new attributes)
    """
    kinds, periods = dict(kinds or {}), dict(periods or {})
    key, keys, columns = read_attribute_csv(csv_path)
    unknown = sorted((set(kinds) | set(periods)) - set(columns))
    if unknown:
        raise InvalidParameterError(f"kind/period given for {unknown}, not columns of {csv_path}: {sorted(columns)}")
    rows = _match(run, key, keys)
    hit = rows >= 0
    if not hit.any():
        raise InvalidParameterError(f"no row of {csv_path} matches an image of the run by {key!r} "
                                    f"(first CSV {key}s: {keys[:3]}; first run {key}s: "
                                    f"{list(run.ids if key == 'id' else run.paths)[:3]})")
    path = Path(run.path)
    existing = dict(run.attributes) if (path / "attributes.npz").exists() else {}
    meta = read_json(path / "meta.json")
    attr_kinds = dict(meta.get("attribute_kinds", {}))
    attr_meta = dict(meta.get("attributes_meta", {}))
    summary = {}
    for name, raw in columns.items():
        values, kind, extra = _convert(name, raw, kinds.get(name), periods.get(name))
        full = np.full(run.n, np.nan)
        full[rows[hit]] = values[hit]
        existing[name] = full
        attr_kinds[name] = kind
        attr_meta[name] = {**attr_meta.get(name, {}), **extra, "source": str(csv_path)}
        summary[name] = kind

    def write(handle):
        buffer = io.BytesIO()
        np.savez(buffer, **existing)
        handle.write(buffer.getvalue())

    atomic_write(path / "attributes.npz", write, binary=True)
    write_json(path / "meta.json", {**meta, "attribute_kinds": attr_kinds, "attributes_meta": attr_meta})
    return AttributeImport(attributes=summary, matched=int(len(np.unique(rows[hit]))), n_csv_rows=len(keys),
                           unmatched=int((~hit).sum()), unmatched_examples=[keys[i] for i in np.flatnonzero(~hit)[:5]],
                           missing_images=int(run.n - len(np.unique(rows[hit]))))
