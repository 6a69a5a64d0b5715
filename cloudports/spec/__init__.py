"""Stage 1 of the pipeline: read a topology spec (YAML + includes + catalogs) into a checked Topology.

The loader (and with it PyYAML, pydantic and the schema models) is imported on first use of load_topology, not
with the package: importing cloudports.spec.model, which the compiler and the targets need, stays cheap, and so
does starting the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudports.spec.loader import load_topology
    from cloudports.spec.model import Topology

__all__ = ["Topology", "load_topology"]


def __getattr__(name: str) -> Any:
    if name == "load_topology":
        from cloudports.spec.loader import load_topology

        return load_topology
    if name == "Topology":
        from cloudports.spec.model import Topology

        return Topology
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
