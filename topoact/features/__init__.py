"""Feature visualizations synthesized on demand (lucent-style small modules).

``param`` (image parameterizations) · ``transforms`` (robustness transforms) ·
``objectives`` (composable objectives) · ``hooks`` (recording, model state) · ``render``
(the optimisation loop) · ``methods`` (node, inverse sets, class-agnostic, DGN-AM) ·
``generator`` (DGN-AM's generator) · ``cache`` (PNG + manifest cache) · ``service``
(run-level entry points) · ``cli`` (argparse glue).
"""
from . import objectives, param, transforms
from .methods import DGNAM, ClassAgnostic, FeatureResult, InverseSet, LevelTarget, NodeVisualization
from .render import Cancelled, evaluate, optimize

__all__ = ["objectives", "param", "transforms", "optimize", "evaluate", "Cancelled",
           "NodeVisualization", "InverseSet", "LevelTarget", "ClassAgnostic", "DGNAM",
           "FeatureResult"]
