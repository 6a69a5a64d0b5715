"""Topology -> neutral atomic rules: expand flows, drop duplicates, merge port ranges, apply egress policy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from cloudports.compile.lint import lint_exposure
from cloudports.compile.rules import Peer, Rule
from cloudports.errors import Diagnostic, Problems
from cloudports.gcpause import gc_paused
from cloudports.spec.model import Flow, Topology


@dataclass
class CompiledPolicy:
    """What every target builds from: the checked topology plus its atomic rules (sorted, merged)."""

    topology: Topology
    rules: list[Rule]
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # only with compile_topology(keep_going=True)

    def rules_of(self, role: str, direction: str) -> list[Rule]:
        return [r for r in self.rules if r.role == role and r.direction == direction]


def _peers(topology: Topology, name: str) -> list[Peer]:
    if topology.is_role(name):
        return [Peer("role", name)]
    cidrs = topology.networks[name].cidrs
    if not cidrs:  # a network a target names without addresses (the loader allows no other)
        return [Peer("network", name)]
    return [Peer("cidr", name, net.with_prefixlen) for net in cidrs]


PeerCache = dict[str, list[Peer]]


def expand_flow(topology: Topology, flow: Flow, peers: PeerCache | None = None) -> Iterable[Rule]:
    """One flow becomes ingress on each destination role and, under strict egress, egress on each source role.

    `peers` (endpoint name -> its peers) is filled as names are met: one Peer object per endpoint for the whole
    compile, so that each CIDR is formatted and its family parsed once, not once per flow and port.
    """
    peers = {} if peers is None else peers
    meta = ((flow.description,), (flow.loc,))  # descriptions, origins
    strict = topology.egress == "strict"
    for src in flow.sources:
        for dst in flow.destinations:
            to_role, from_role = topology.is_role(dst), strict and topology.is_role(src)
            src_peers = _cached_peers(topology, src, peers) if to_role else []
            dst_peers = _cached_peers(topology, dst, peers) if from_role else []
            for port in flow.ports:
                params = port.params
                for peer in src_peers:
                    if peer.version is None or port.applies_to(peer.version):
                        yield Rule(dst, "ingress", port.protocol, port.from_port, port.to_port, peer, *meta, params)
                for peer in dst_peers:
                    if peer.version is None or port.applies_to(peer.version):
                        yield Rule(src, "egress", port.protocol, port.from_port, port.to_port, peer, *meta, params)


def _cached_peers(topology: Topology, name: str, peers: PeerCache) -> list[Peer]:
    found = peers.get(name)
    if found is None:
        found = peers[name] = _peers(topology, name)
    return found


def _merge_meta(rules: list[Rule]) -> dict:
    # Sorted, not in spec order: reordering flows, lists or files must not change a merged description.
    return {
        "descriptions": tuple(sorted(set(d for r in rules for d in r.descriptions))),
        "origins": tuple(sorted(set(o for r in rules for o in r.origins))),
        "port_params": tuple(sorted(set(p for r in rules for p in r.port_params))),
    }


def merge_rules(rules: Iterable[Rule]) -> list[Rule]:
    """Remove duplicates and subsumed rules, and merge adjacent/overlapping tcp/udp ranges of the same peer."""
    by_peer: dict[tuple, list[Rule]] = defaultdict(list)
    for rule in rules:
        by_peer[(rule.role, rule.direction, rule.peer)].append(rule)
    merged: list[Rule] = []
    for group in by_peer.values():
        if _single(group):  # the common case: one rule for the peer, which merging would copy unchanged
            merged.append(group[0])
            continue
        alls = [r for r in group if r.protocol == "all"]
        if alls:  # 'all' covers every other protocol and port for this peer
            merged.append(replace(alls[0], **_merge_meta(group)))
            continue
        by_proto: dict[str, list[Rule]] = defaultdict(list)
        for rule in group:
            by_proto[rule.protocol].append(rule)
        for proto, items in by_proto.items():
            if proto in ("icmp", "icmpv6"):
                merged.extend(_merge_icmp(items))
            else:
                merged.extend(_merge_ranges(items))
    return sorted(merged, key=_order)


def _order(rule: Rule) -> tuple:
    """The dataclass order of Rule (its compared fields, the peer's spelled out), as one tuple per rule: sorting
    with it is several times faster than sorting with Rule.__lt__, which builds two tuples per comparison."""
    peer = rule.peer
    return (rule.role, rule.direction, rule.protocol, rule.from_port, rule.to_port, peer.kind, peer.name, peer.cidr)


def _single(run: list[Rule]) -> bool:
    """A run that merging would copy unchanged: one rule, with at most one description and one origin."""
    return len(run) == 1 and len(run[0].descriptions) <= 1 and len(run[0].origins) <= 1


def _merged_run(run: list[Rule], lo: int, hi: int) -> Rule:
    if _single(run):
        return run[0]  # the common case: dataclasses.replace would build an equal copy, slowly
    return replace(run[0], from_port=lo, to_port=hi, **_merge_meta(run))


def _merge_ranges(items: list[Rule]) -> list[Rule]:
    out: list[Rule] = []
    run: list[Rule] = []
    lo = hi = -2
    for rule in sorted(items, key=lambda r: (r.from_port, r.to_port)):
        if run and rule.from_port <= hi + 1:
            run.append(rule)
            hi = max(hi, rule.to_port)
            continue
        if run:
            out.append(_merged_run(run, lo, hi))
        run, lo, hi = [rule], rule.from_port, rule.to_port
    if run:
        out.append(_merged_run(run, lo, hi))
    return out


def _merge_icmp(items: list[Rule]) -> list[Rule]:
    """Any-type covers every type; any-code of a type covers its codes; the rest are deduplicated."""
    if any(r.from_port < 0 for r in items):
        first = next(r for r in items if r.from_port < 0)
        return [replace(first, from_port=-1, to_port=-1, **_merge_meta(items))]
    out: list[Rule] = []
    by_type: dict[int, list[Rule]] = defaultdict(list)
    for rule in items:
        by_type[rule.from_port].append(rule)
    for rules in by_type.values():
        wild = [r for r in rules if r.to_port < 0]
        if wild:
            out.append(replace(wild[0], **_merge_meta(rules)))
            continue
        by_code: dict[int, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_code[rule.to_port].append(rule)
        out.extend(replace(rs[0], **_merge_meta(rs)) for rs in by_code.values())
    return out


@gc_paused()  # builds a large acyclic structure: see gcpause
def compile_topology(topology: Topology, keep_going: bool = False) -> CompiledPolicy:
    """Compile; raises SpecError when the exposure lint finds an error. keep_going: the lint's errors go into
    the policy's `errors` instead, for reports that list every finding (validate --format sarif)."""
    problems = Problems(list(topology.warnings))
    lint_exposure(topology, problems)
    if not keep_going:
        problems.raise_if_errors()
    peers: PeerCache = {}
    rules = merge_rules(r for flow in topology.flows for r in expand_flow(topology, flow, peers))
    return CompiledPolicy(topology, rules, problems.warnings, problems.errors)
