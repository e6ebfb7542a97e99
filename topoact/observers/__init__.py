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

from .cka import CKAMatrix, StreamingCKA, cka_matrix, effective_rank, linear_cka, minibatch_cka
from .compare import RunComparison, compare_runs
from .depth import DepthCurves, depth_curves, find_tunnel
from .heatmaps import SpatialRelevance, spatial_relevance, unit_relevance
from .probes import LayerProbe, ProbeConfig, ProbeReport, fit_probe, probe_layers
from .targets import Target, available_targets, make_target
from .units import UnitsConfig, UnitsReport, unit_report, unit_scores

__all__ = ["CKAMatrix", "StreamingCKA", "cka_matrix", "effective_rank", "linear_cka", "minibatch_cka",
           "RunComparison", "compare_runs", "DepthCurves", "depth_curves", "find_tunnel",
           "SpatialRelevance", "spatial_relevance", "unit_relevance",
           "LayerProbe", "ProbeConfig", "ProbeReport", "fit_probe", "probe_layers",
           "Target", "available_targets", "make_target", "UnitsConfig", "UnitsReport", "unit_report",
           "unit_scores"]
