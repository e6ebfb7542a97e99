"""Observer models and architecture diagnosis: what each layer knows, and how two networks differ.

- :mod:`.targets`  -- labels and attributes as probe targets (categorical, circular, linear)
- :mod:`.probes`   -- linear probes per layer with confidence intervals and controls
- :mod:`.units`    -- single units that denote attributes; label proportion vs depth
- :mod:`.cka`      -- linear CKA (exact streaming and minibatch) and effective rank
- :mod:`.heatmaps` -- relevance (probe weight x activation) per unit and per position
- :mod:`.depth`    -- curves over depth and the tunnel
- :mod:`.compare`  -- two runs side by side
"""
from __future__ import annotations

from ..lazy import lazy_exports

_MODULES = {
    "cka": ["CKAMatrix", "StreamingCKA", "cka_matrix", "effective_rank", "linear_cka", "minibatch_cka"],
    "compare": ["RunComparison", "compare_runs"],
    "depth": ["DepthCurves", "depth_curves", "find_tunnel"],
    "heatmaps": ["SpatialRelevance", "spatial_relevance", "unit_relevance"],
    "probes": ["LayerProbe", "ProbeConfig", "ProbeReport", "fit_probe", "probe_layers"],
    "targets": ["Target", "available_targets", "make_target"],
    "units": ["UnitsConfig", "UnitsReport", "unit_report", "unit_scores"],
}
# imported on first use: the command line's parser imports .cli without scipy.stats
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
