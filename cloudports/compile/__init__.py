"""Stage 2: compile a Topology into neutral atomic rules (cloud-independent), then lint them."""

from cloudports.compile.compiler import CompiledPolicy, compile_topology
from cloudports.compile.rules import Peer, Rule

__all__ = ["CompiledPolicy", "Peer", "Rule", "compile_topology"]
