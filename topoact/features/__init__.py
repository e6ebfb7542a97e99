"""Feature visualizations synthesized on demand (lucent-style small modules).

``param`` (image parameterizations) · ``transforms`` (robustness transforms) ·
``objectives`` (composable objectives) · ``hooks`` (recording, model state) · ``render``
(the optimisation loop) · ``methods`` (node, inverse sets, class-agnostic, DGN-AM) ·
``generator`` (DGN-AM's generator) · ``cache`` (PNG + manifest cache) · ``service``
(run-level entry points) · ``cli`` (argparse glue).
"""
from ..lazy import lazy_exports

_MODULES = {
    "methods": ["DGNAM", "ClassAgnostic", "FeatureResult", "InverseSet", "LevelTarget", "NodeVisualization"],
    "render": ["Cancelled", "evaluate", "optimize"],
}
# imported on first use: the command line's parser and the app import submodules without torch
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES, submodules=("objectives", "param", "transforms"))
