"""The topology as a picture: a small neutral graph built from a compiled policy, then one renderer per format."""

from __future__ import annotations

from cloudports.graph.model import Edge, Graph, Node, build_graph
from cloudports.graph.render import render

__all__ = ["Edge", "Graph", "Node", "build_graph", "render"]
