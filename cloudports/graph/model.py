"""Compiled policy -> a neutral graph: roles and networks as nodes, one edge per flow, source and destination.

Pure functions, sorted output: the same spec always gives the same graph, whatever the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cloudports.errors import CloudportsError, Diagnostic, did_you_mean
from cloudports.spec.model import INTERNET, Flow, Topology
from cloudports.spec.ports import looks_like_port

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy

PORTS_PER_LINE = 5


@dataclass(frozen=True, order=True)
class Node:
    id: str  # stable and safe in every format: names hold only lower-case letters, digits and '-'
    name: str
    kind: Literal["role", "network", "foreign"]  # foreign: a group or block the spec does not know (graph --live)
    detail: str  # a network's address blocks; empty for roles
    description: str


@dataclass(frozen=True)
class Edge:
    source: str  # node ids
    target: str
    services: tuple[str, ...]  # the named services, as the spec wrote them (inline ports are in `ports` only)
    ports: tuple[str, ...]  # each port once
    phase: str | None  # set: the flow belongs to a phase (drawn dashed)
    flagged: str  # non-empty: why the exposure lint marks the flow (drawn red with a warning sign)
    description: str

    @property
    def lines(self) -> list[str]:
        """The edge label, line by line: phase, exposure mark, services, ports."""
        lines = [f"phase: {self.phase}"] if self.phase else []
        lines += [f"⚠ {self.flagged}"] if self.flagged else []
        lines += [", ".join(self.services)] if self.services else []
        ports = list(self.ports)
        lines += [", ".join(ports[i : i + PORTS_PER_LINE]) for i in range(0, len(ports), PORTS_PER_LINE)]
        return lines


@dataclass(frozen=True)
class Graph:
    title: str
    description: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def node_id(name: str) -> str:
    return "n_" + name.replace("-", "_")


def _flag(flow: Flow, warned: set[tuple[str, int, int]]) -> str:
    loc = flow.ports_loc
    if (loc.file, loc.line, loc.col) in warned:
        return "exposure warning"
    if (flow.allow_exposure or "").strip():
        return "exposure allowed"
    return ""


def _edges(policy: CompiledPolicy, role: str | None) -> list[Edge]:
    """One edge per source and destination of every flow; flows that draw the same edge are drawn once. Nothing
    here depends on where a flow stands in the spec: the same spec in any order gives the same edges."""
    topo = policy.topology
    warned = {(d.loc.file, d.loc.line, d.loc.col) for d in policy.warnings if d.loc is not None}
    edges = set()
    for flow in [*topo.flows, *topo.skipped_flows]:
        flag = _flag(flow, warned)
        # sorted, each once: the order a spec lists services, ports or addresses in must not change the picture
        ports = tuple(dict.fromkeys(str(p) for p in sorted(flow.ports)))
        services = tuple(sorted({name for name in flow.service_names if not looks_like_port(name)}))
        for src in flow.sources:
            for dst in flow.destinations:
                if role is None or role in (src, dst):
                    edges.add(Edge(node_id(src), node_id(dst), services, ports, flow.phase, flag, flow.description))
    return sorted(edges, key=_edge_key)


def _edge_key(e: Edge) -> tuple[str, str, str, tuple[str, ...], tuple[str, ...], str, str]:
    return (e.source, e.target, e.phase or "", e.services, e.ports, e.flagged, e.description)


def spec_node(topo: Topology, name: str) -> Node:
    """The node of a role or network of the spec."""
    if topo.is_role(name):
        return Node(node_id(name), name, "role", "", topo.roles[name].description)
    net = topo.networks[name]
    cidrs = sorted(net.cidrs, key=lambda c: (c.version, c))
    # a network without addresses: machines a target names otherwise (targets.aws.security_groups)
    detail = "any address" if name == INTERNET else ", ".join(str(c) for c in cidrs) or "no addresses"
    return Node(node_id(name), name, "network", detail, net.description)


def build_graph(policy: CompiledPolicy, role: str | None = None) -> Graph:
    """Every role and network (the built-in internet only where a flow uses it) and every flow of every phase;
    with `role`, only that role's ingress and egress and the nodes at their other ends."""
    topo = policy.topology
    if role is not None and not topo.is_role(role):
        raise CloudportsError([Diagnostic(None, f"--role {role}: no such role", did_you_mean(role, topo.roles))])
    edges = _edges(policy, role)
    used = {e.source for e in edges} | {e.target for e in edges}
    if role is not None:
        names = {role} | {n for n in [*topo.roles, *topo.networks] if node_id(n) in used}
    else:
        names = set(topo.roles) | {n for n in topo.networks if n != INTERNET or node_id(n) in used}
    nodes = tuple(sorted((spec_node(topo, n) for n in names), key=lambda n: (n.kind != "role", n.name)))
    return Graph(topo.name, topo.description, nodes, tuple(edges))
