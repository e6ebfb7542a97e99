"""Typed, JSON-able results and their run-level cache.

Every engine result is a dataclass deriving from :class:`Result`: ``to_dict()`` gives the JSON
form written to disk (with ``kind`` and ``schema_version``), ``from_dict()`` reads it back.

:class:`ResultCache` stores results of one kind in ``<run>/<kind>/<layer>-<key>.json``. Each
file records the fingerprint of the inputs it was computed from (``run.fingerprint(layer)``:
the activation file's size and a content digest); a cached result whose inputs changed since
(a truncated or rewritten layer, NaN rows written into it) is not returned: ``load`` logs why and
answers None, so the caller recomputes.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

from .fileio import read_json, safe_name, write_json
from .hashing import stable_hash

__all__ = ["Result", "ResultCache"]

log = logging.getLogger(__name__)
R = TypeVar("R", bound="Result")


@dataclasses.dataclass
class Result:
    """Base of every engine result: ``kind`` and ``schema_version`` go into the JSON form."""

    kind: ClassVar[str] = "result"
    schema_version: ClassVar[int] = 1

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "schema_version": self.schema_version}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        version = int(data.get("schema_version", 1))
        if version > cls.schema_version:
            raise ValueError(f"{cls.__name__} file has schema_version {version}; this topoact "
                             f"reads up to {cls.schema_version}: upgrade topoact")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class ResultCache:
    """JSON results of one ``kind`` cached in a run, guarded by input fingerprints.

    Parameters
    ----------
    run : Run (anything with ``path``, ``results_dir(kind, create)``, ``fingerprint(layer)``
        and ``meta``)
    kind : folder name, lower case (``persistence``, ``anomalies``, ``probes`` ...)
    version : bump when the engine's output changes meaning, so old files are not reused
    """

    def __init__(self, run, kind: str, version: int = 1):
        self.run, self.kind, self.version = run, kind, int(version)

    def key(self, layers, params: Any) -> str:
        """Cache key of (layers, params, model hash, engine version)."""
        if hasattr(params, "to_dict"):
            params = params.to_dict()
        model = (getattr(self.run, "meta", None) or {}).get("model", {})
        model_hash = model.get("hash") if isinstance(model, dict) else None
        return stable_hash({"layers": layers, "params": params, "model": model_hash,
                            "kind": self.kind, "v": self.version})

    def _name(self, layers, key: str) -> str:
        if isinstance(layers, str):
            return f"{safe_name(layers)}-{key}.json"
        return f"{key}.json"

    def path(self, layers, key: str, *, create: bool = False) -> Path:
        return Path(self.run.results_dir(self.kind, create=create)) / self._name(layers, key)

    def _inputs(self, layers) -> dict:
        names = [layers] if isinstance(layers, str) else list(layers or [])
        return {name: self.run.fingerprint(name) for name in names}

    def load(self, layers, key: str) -> dict | None:
        """The cached JSON dict, or None when absent or computed from other inputs."""
        path = self.path(layers, key)
        if not path.is_file():
            return None
        data = read_json(path)
        stored = data.get("inputs")
        current = self._inputs(layers)
        if stored != current:
            log.warning("%s: cached %s result was computed from other data (%s vs now %s); "
                        "recomputing", path, self.kind, stored, current)
            return None
        return data

    def save(self, layers, key: str, data: Mapping[str, Any]) -> Path:
        """Write ``data`` with the inputs' fingerprints; returns the file path."""
        out = dict(data, inputs=self._inputs(layers), key=key)
        return write_json(self.path(layers, key, create=True), out)
