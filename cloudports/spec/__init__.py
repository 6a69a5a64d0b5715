"""Stage 1 of the pipeline: read a topology spec (YAML + includes + catalogs) into a checked Topology."""

from cloudports.spec.loader import load_topology
from cloudports.spec.model import Topology

__all__ = ["Topology", "load_topology"]
