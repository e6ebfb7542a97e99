"""Anomaly finder: mislabelled, out-of-distribution and duplicate images, scored and ranked.

``topoact.anomalies(run, ...)`` (:func:`.finder.anomalies`) returns a pandas DataFrame, one row
per image, each score in [0, 1] (higher = more suspicious) with a plain-words reason.

One module per score kind: :mod:`.labels` (label issues), :mod:`.outliers` (out of
distribution), :mod:`.duplicates`, :mod:`.topology` (Mapper evidence); :mod:`.combine` builds
the table, :mod:`.export` renames it for cleanlab / FiftyOne users.

The package is named ``anomaly`` (singular) on purpose: ``topoact.anomalies`` is the *function*,
and a subpackage of that name would replace the attribute with the module on first import of
any of its submodules.
"""
from __future__ import annotations

from ..lazy import lazy_exports

_MODULES = {
    "export": ["FORMATS", "to_cleanlab", "to_fiftyone"],
    "finder": ["anomalies", "cached_anomalies", "run_kinds"],
    "params": ["DEFAULT_THRESHOLDS", "KIND_NAMES", "KINDS", "AnomalyConfig"],
}
# imported on first use: the command line's parser imports .cli without scipy.stats and pandas
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
