"""What the interactive page (`graph --format html`) shows of a compiled policy: every flow with where the spec
says it and what the exposure lint says of it, the drawn edges (one per source and destination, the flows between
them bundled), meshes (every role of a set to every other on the same services) and self-loops set apart as badges,
and per target the rules its build makes of each flow.

Same spec, same data: flows are numbered in the order of their content, never of their place in the spec; only the
spec positions (`at`) and the lint's messages, which name spec lines, move with the spec.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudports.errors import CloudportsError, Loc
from cloudports.graph.model import Node, build_graph, node_id, spec_node
from cloudports.spec.model import INTERNET, Flow, PortSpec
from cloudports.spec.ports import looks_like_port

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy
    from cloudports.targets.base import Row, Target

MESH_SMALLEST = 3  # two roles that talk both ways are two edges, not a mesh
EXPOSURE_RULES = "exposure/"  # the exposure lint's checks (cloudports/compile/lint.py RULES)

Pair = tuple[str, str]
Concerns = tuple[tuple[str, ...], tuple[str, ...]]  # sources, destinations
Signature = tuple[tuple[str, ...], tuple[str, ...], str | None]  # services, ports, phase


@dataclass(frozen=True)
class PageFlow:
    id: str  # "f<n>", n in the order of the flows' content
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    services: tuple[str, ...]  # the named services (inline ports are in `ports` only)
    ports: tuple[str, ...]  # each once
    phase: str | None
    description: str
    at: str  # "topology.yaml:12": the spec file (relative to the spec's folder) and line
    exposure: tuple[str, ...]  # the exposure lint's warnings about this flow
    allowed: str  # its allow_exposure reason


@dataclass(frozen=True)
class Bundle:
    """Flows drawn together: an edge (one source, one target), a mesh (members) or a self-loop (one member)."""

    id: str
    members: tuple[str, ...]  # edge: (source, target); mesh: the roles; loop: (role,)
    flows: tuple[str, ...]
    services: tuple[str, ...]
    ports: tuple[str, ...]
    phased: bool  # every flow belongs to a phase (drawn dashed)
    flagged: bool  # the exposure lint marks one of its flows


@dataclass(frozen=True)
class TargetRules:
    error: str  # why the target could not build this spec; "" when it could
    # (rule name, one-line summary, the flows it comes from, which of their sources and destinations it admits)
    rules: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]


@dataclass(frozen=True)
class Explorer:
    title: str
    description: str
    nodes: tuple[Node, ...]
    flows: tuple[PageFlow, ...]
    edges: tuple[Bundle, ...]
    meshes: tuple[Bundle, ...]
    loops: tuple[Bundle, ...]
    targets: dict[str, TargetRules] = field(default_factory=dict)
    place: str = "spec"  # what a flow's `at` names: its place in the spec, or (graph --live) the live rule


def _at(loc: Loc, base: Path) -> str:
    try:
        name = Path(os.path.relpath(loc.file, base)).as_posix()
    except ValueError:  # another drive (Windows)
        name = Path(loc.file).name
    return f"{name}:{loc.line}"


def _ports(flow: Flow) -> list[PortSpec]:
    return sorted(set(flow.ports))


def _services(flow: Flow) -> tuple[str, ...]:
    return tuple(sorted({name for name in flow.service_names if not looks_like_port(name)}))


def _content(flow: Flow) -> tuple[object, ...]:
    return (
        sorted(flow.sources),
        sorted(flow.destinations),
        _services(flow),
        _ports(flow),
        flow.phase or "",
        flow.description,
        flow.allow_exposure or "",
    )


def _page_flows(policy: CompiledPolicy, base: Path, role: str | None) -> list[tuple[PageFlow, Flow]]:
    topo = policy.topology
    findings: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    for d in policy.warnings:
        if d.loc is not None and d.rule.startswith(EXPOSURE_RULES):
            findings[(d.loc.file, d.loc.line, d.loc.col)].append(d.message)
    flows = [f for f in [*topo.flows, *topo.skipped_flows] if role is None or role in (*f.sources, *f.destinations)]
    result = []
    for n, flow in enumerate(sorted(flows, key=lambda f: (_content(f), f.loc))):
        loc = flow.ports_loc
        page_flow = PageFlow(
            id=f"f{n}",
            sources=tuple(sorted(set(flow.sources))),
            destinations=tuple(sorted(set(flow.destinations))),
            services=_services(flow),
            ports=tuple(str(p) for p in _ports(flow)),
            phase=flow.phase,
            description=flow.description,
            at=_at(flow.loc, base),
            exposure=tuple(sorted(set(findings.get((loc.file, loc.line, loc.col), [])))),
            allowed=(flow.allow_exposure or "").strip(),
        )
        result.append((page_flow, flow))
    return result


def _signature(flow: PageFlow) -> Signature:
    return flow.services, flow.ports, flow.phase


def find_mesh(pairs: set[Pair]) -> tuple[str, ...]:
    """The largest set of nodes (found greedily: the node missing most pairs leaves first, ties by name) in which
    every node reaches every other through `pairs`; () if it has fewer than MESH_SMALLEST nodes."""
    members = sorted({a for a, _ in pairs} & {b for _, b in pairs})
    while len(members) >= MESH_SMALLEST:
        missing = {a: sum((a, b) not in pairs or (b, a) not in pairs for b in members if b != a) for a in members}
        worst = max(members, key=lambda a: (missing[a], a))
        if missing[worst] == 0:
            return tuple(members)
        members.remove(worst)
    return ()


def _meshes(flows: list[PageFlow], roles: set[str]) -> dict[Signature, tuple[str, ...]]:
    """Per services, ports and phase: the roles that all reach each other on them (a ping mesh, a cluster)."""
    pairs: dict[Signature, set[Pair]] = defaultdict(set)
    for flow in flows:
        for src in flow.sources:
            for dst in flow.destinations:
                if src != dst and src in roles and dst in roles:
                    pairs[_signature(flow)].add((src, dst))
    found = {sig: find_mesh(p) for sig, p in pairs.items()}
    return {sig: members for sig, members in found.items() if members}


def _bundle(prefix: str, n: int, members: tuple[str, ...], flows: Iterable[PageFlow]) -> Bundle:
    chosen = sorted(set(flows), key=lambda f: int(f.id[1:]))
    ports = {p: None for f in chosen for p in f.ports}  # each once, in the flows' order (each flow's sorted)
    return Bundle(
        id=f"{prefix}{n}",
        members=members,
        flows=tuple(f.id for f in chosen),
        services=tuple(sorted({s for f in chosen for s in f.services})),
        ports=tuple(ports),
        phased=all(f.phase for f in chosen),
        flagged=any(f.exposure or f.allowed for f in chosen),
    )


def _bundles(flows: list[PageFlow], roles: set[str]) -> tuple[list[Bundle], list[Bundle], list[Bundle]]:
    meshes = _meshes(flows, roles)
    by_pair: dict[Pair, list[PageFlow]] = defaultdict(list)
    by_mesh: dict[Signature, list[PageFlow]] = defaultdict(list)
    by_loop: dict[str, list[PageFlow]] = defaultdict(list)
    for flow in flows:
        members = meshes.get(_signature(flow), ())
        for src in flow.sources:
            for dst in flow.destinations:
                if src in members and dst in members:
                    by_mesh[_signature(flow)].append(flow)
                elif src == dst:
                    by_loop[src].append(flow)
                else:
                    by_pair[(src, dst)].append(flow)
    edges = [_bundle("e", n, pair, by_pair[pair]) for n, pair in enumerate(sorted(by_pair))]
    mesh_list = [_bundle("m", n, meshes[sig], by_mesh[sig]) for n, sig in enumerate(sorted(by_mesh, key=str))]
    loops = [_bundle("l", n, (role,), by_loop[role]) for n, role in enumerate(sorted(by_loop))]
    return edges, mesh_list, loops


def _rule_name(row: dict[str, object]) -> str:
    """AWS: the SgRule key; Azure: the NSG rule's name (with its NSG where the spec splits NSGs per subnet)."""
    if "key" in row:
        return str(row["key"])
    return " / ".join(str(row[k]) for k in ("nsg", "name") if k in row)


def _summary(row: dict[str, object]) -> str:
    return " ".join(str(v) for k, v in row.items() if k not in ("origin", "description", "key", "name", "nsg"))


def _concerns(ends: tuple[set[str], set[str]], flows: list[PageFlow], names: dict[str, set[str]]) -> Concerns:
    """Which of the flows' sources and destinations a rule lets traffic come from and go to (a role by its group's
    name, a network by one of its blocks); all of them where the target's rows name neither."""
    froms, tos = ends
    sources = {s for f in flows for s in f.sources}
    destinations = {d for f in flows for d in f.destinations}
    found_from = sorted(s for s in sources if names.get(s, set()) & froms)
    found_to = sorted(d for d in destinations if names.get(d, set()) & tos)
    return tuple(found_from or sorted(sources)), tuple(found_to or sorted(destinations))


def target_rules(policy: CompiledPolicy, flows: dict[str, PageFlow]) -> dict[str, TargetRules]:
    """Per target, the rules its build makes (as `show` lists them), each with the flows it comes from (`flows`:
    by their spec positions) and the roles and networks it concerns."""
    from cloudports.pipeline import prepare
    from cloudports.targets import registry

    topo = policy.topology
    networks = {name: {str(c) for c in net.cidrs} for name, net in topo.networks.items()}
    result = {}
    for name in registry.names():
        try:
            target, _widened = prepare(policy, name)  # the widening warnings belong to show/emit, not to a picture
            state = target.build(policy)
            rows = target.rows(state)
        except CloudportsError as exc:
            result[name] = TargetRules(" ".join(d.message for d in exc.diagnostics), ())
            continue
        names = {role: {name} for role, name in target.role_names(state).items()} | networks
        rules = []
        for row in rows:
            origins = [o for o in str(row.get("origin", "")).split(", ") if o]
            found = sorted({flows[o] for o in origins if o in flows}, key=lambda f: int(f.id[1:]))
            concerns = _concerns(target.row_ends(row), found, names)
            rules.append((_rule_name(row), _summary(row), tuple(f.id for f in found), *concerns))
        result[name] = TargetRules("", tuple(rules))
    return result


def build_explorer(policy: CompiledPolicy, spec: Path, role: str | None = None) -> Explorer:
    """The page's data for a spec (`spec`: its main file, to which the flows' positions are relative); with
    `role`, only that role's flows."""
    graph = build_graph(policy, role)  # the nodes, and the --role check, as every other format has them
    topo = policy.topology
    pairs = _page_flows(policy, spec.resolve().parent, role)
    flows = [p for p, _ in pairs]
    edges, meshes, loops = _bundles(flows, set(topo.roles))
    by_loc = {str(loc): p for p, flow in pairs for loc in (flow.loc, flow.ports_loc)}
    return Explorer(
        graph.title,
        graph.description,
        graph.nodes,
        tuple(flows),
        tuple(edges),
        tuple(meshes),
        tuple(loops),
        target_rules(policy, by_loc),
    )


# ---- graph --live: what the cloud holds ----


def _port_text(row: Row) -> str:
    """'tcp/22', 'udp/1000-2000', 'all' from a row's protocol and ports (AWS: tcp, -1/all; Azure: Tcp, *)."""
    protocol, ports = str(row.get("protocol", "")).lower(), str(row.get("ports", ""))
    if protocol in ("all", "*", "-1"):
        return "all"
    return f"{protocol}/{ports}" if ports and ports != "*" else protocol


def _live_node(name: str, topo_nodes: dict[str, Node]) -> Node:
    if name in topo_nodes:
        return topo_nodes[name]
    return Node(node_id(name), name, "foreign", "not in the spec", "a group or address block the spec does not know")


def live_explorer(policy: CompiledPolicy, target: Target[Any, Any], state: Any) -> Explorer:
    """The page's data for what a cloud holds: one flow per live allow rule (its rule name where the spec's place
    would be), drawn between the spec's roles (their groups) and networks (their blocks); a group or block the spec does
    not know is a node of its own, marked foreign."""
    topo = policy.topology
    spec_nodes = {name: spec_node(topo, name) for name in [*topo.roles, *topo.networks]}
    role_of = {group: role for role, group in target.role_names(state).items()}
    network_of: dict[str, str] = {}
    for name in sorted(topo.networks, key=lambda n: (n != INTERNET, n)):  # 0.0.0.0/0 is the internet first
        for block in topo.networks[name].cidrs:
            network_of.setdefault(str(block), name)

    def named(item: str) -> str:
        return role_of.get(item) or network_of.get(item) or item

    found = []
    for row in target.rows(state):
        froms, tos = target.row_ends(row)
        if not (froms and tos):  # a deny rule: the page draws what is allowed
            continue
        ends = (tuple(sorted({named(x) for x in froms})), tuple(sorted({named(x) for x in tos})))
        found.append((ends, _port_text(row), str(row.get("description", "")), _rule_name(row), row))
    flows, rules = [], []
    for n, ((sources, destinations), port, description, rule, row) in enumerate(sorted(found, key=lambda f: f[:4])):
        flows.append(PageFlow(f"f{n}", sources, destinations, (), (port,), None, description, rule, (), ""))
        rules.append((rule, _summary(row), (f"f{n}",), sources, destinations))
    used = {end for f in flows for end in (*f.sources, *f.destinations)} | set(topo.roles)
    nodes = sorted((_live_node(name, spec_nodes) for name in used), key=lambda n: (n.kind != "role", n.kind, n.name))
    edges, meshes, loops = _bundles(flows, set(topo.roles))
    title = f"{topo.name}: live {target.name}"
    description = f"What the {target.title} hold now, rule by rule (graph --live)"
    return Explorer(
        title,
        description,
        tuple(nodes),
        tuple(flows),
        tuple(edges),
        tuple(meshes),
        tuple(loops),
        {target.name: TargetRules("", tuple(rules))},
        place="live rule",
    )
