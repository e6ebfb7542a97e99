"""Feature-visualization methods, one per file over a shared base."""
from .base import FeatureMethod, FeatureResult
from .class_agnostic import ClassAgnostic
from .dgn import DGNAM
from .inverse import InverseSet, LevelTarget
from .node import NodeVisualization

__all__ = ["FeatureMethod", "FeatureResult", "NodeVisualization", "InverseSet", "LevelTarget",
           "ClassAgnostic", "DGNAM"]
