"""The spec's intent: which flows let a probe through (both halves: ingress on the destination, egress on the
source under `egress: strict`). Networks in `to` give only egress; networks in `from` never give egress."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cloudports.query.model import BlockIndex, IPNetwork, Point, Probe, Reason, Verdict, first_verdict, in_cidr
from cloudports.query.space import Space, family_mask
from cloudports.spec.model import Flow, PortSpec, Topology


@functools.lru_cache(maxsize=65536)  # a spec's PortSpecs: 10,000 flows have more than 4,096
def port_space(ps: PortSpec, via: int | None, any_icmp: bool) -> Space:
    """What one spec PortSpec admits; `via` is the CIDR family the peer matched through, if any.
    any_icmp: ICMP at 'any type' granularity (ICMP and ICMPv6 alike between roles)."""
    if ps.protocol == "all":
        return Space.everything()
    if ps.protocol in ("tcp", "udp"):
        return Space.ports(ps.protocol, ps.from_port, ps.to_port)
    if not any_icmp:
        return Space.icmp(ps.protocol, ps.from_port, ps.to_port)
    if via is None or ps.applies_to(via):
        return Space.icmp("icmp") | Space.icmp("icmpv6")
    return Space()


def port_matches(ps: PortSpec, probe: Probe, via: int | None, any_icmp: bool) -> bool:
    """Whether one spec PortSpec admits the probe."""
    return port_space(ps, via, any_icmp).contains(probe)


def _contains(topology: Topology, names: Sequence[str], end: Point, family: int) -> list[int | None]:
    """How `end` is in the flow side `names`: None for a role-name match, else the CIDR family."""
    ways: list[int | None] = []
    for name in names:
        if (end.role is not None and name == end.role) or (end.network is not None and name == end.network):
            ways.append(None)
        elif name in topology.networks and any(in_cidr(end, c, family) for c in topology.networks[name].cidrs):
            ways.append(family)
    return list(dict.fromkeys(ways))


def _flows(
    topology: Topology, role: str, side: str, peer: Point, probe: Probe, family: int, any_icmp: bool
) -> list[Flow]:
    found = []
    for flow in topology.flows_naming.get((role, side), ()):
        other = flow.sources if side == "to" else flow.destinations
        if any(
            port_matches(ps, probe, via, any_icmp)
            for via in _contains(topology, other, peer, family)
            for ps in flow.ports
        ):
            found.append(flow)
    return found


def _flow_reason(direction: str, flow: Flow) -> Reason:
    what = ", ".join(flow.service_names)
    text = f"flow {', '.join(flow.sources)} -> {', '.join(flow.destinations)} [{what}]: {flow.description}"
    return Reason(direction, True, text, f"{flow.loc.file}:{flow.loc.line}")


def _family(topology: Topology, probe: Probe, family: int, any_icmp: bool) -> Verdict:
    src, dst = probe.src, probe.dst
    reasons: list[Reason] = []
    ingress_ok = True
    if dst.role is not None:
        flows = _flows(topology, dst.role, "to", src, probe, family, any_icmp)
        reasons += [_flow_reason("ingress", f) for f in flows]
        ingress_ok = bool(flows)
    if src.role is None:
        egress_ok = True
    elif topology.egress == "open":
        egress_ok = True
        reasons.append(Reason("egress", True, "egress: open lets every role send anything"))
    else:
        flows = _flows(topology, src.role, "from", dst, probe, family, any_icmp)
        reasons += [_flow_reason("egress", f) for f in flows]
        egress_ok = bool(flows)
    if not ingress_ok:
        reasons.insert(0, Reason("ingress", False, f"no flow lets {src} reach {dst} on {probe.what}"))
    elif not egress_ok:
        reasons.insert(0, Reason("egress", False, f"strict egress: no flow from {src} names {dst} for {probe.what}"))
    return Verdict(ingress_ok and egress_ok, tuple(reasons))


def explain_intent(topology: Topology, probe: Probe, *, any_icmp: bool = False) -> Verdict:
    """Whether the spec means `probe` to pass, with the flows (spec file:line) that say so or what is missing.
    any_icmp: judge ICMP at 'any type' granularity (for targets that cannot filter ICMP by type)."""
    return first_verdict([_family(topology, probe, f, any_icmp) for f in probe.families()])


class Intent:
    """The spec's intent as Spaces: what it allows between two endpoints over one address family (for
    verify). The flows are indexed by the roles they name once, so each pair costs only its own flows."""

    def __init__(self, topology: Topology, any_icmp: bool = False):
        self.topology = topology
        self.any_icmp = any_icmp
        self.known: dict[tuple[Point, Point, int], Space] = {}  # answers already given (several targets ask)
        self.naming = topology.flows_naming
        self.peers: dict[tuple[str, str], _FlowPeers] = {}  # (role, side) -> its flows by the peers they name

    def _peers(self, role: str, side: str) -> _FlowPeers:
        if (role, side) not in self.peers:
            self.peers[(role, side)] = _FlowPeers(self.topology, self.naming.get((role, side), []), side)
        return self.peers[(role, side)]

    def _half(self, role: str, side: str, peer: Point, family: int) -> Space:
        found = []
        for flow in self._peers(role, side).naming(peer, family):
            other = flow.sources if side == "to" else flow.destinations
            for via in _contains(self.topology, other, peer, family):
                found += [port_space(ps, via, self.any_icmp) for ps in flow.ports]
        return Space.union(found)

    def roles_between(self, role: str, outgoing: bool) -> set[str] | None:
        """The roles the spec may let `role` reach (outgoing) or be reached by; None: any role (open egress, or a
        flow naming a network that spans the whole address space, where every role machine lies)."""
        if outgoing and self.topology.egress == "open":
            return None
        peers = self._peers(role, "from" if outgoing else "to")
        return None if peers.by_block.spans_all() else set(peers.by_name) & set(self.topology.roles)

    def networks_between(self, role: str, outgoing: bool) -> list[IPNetwork]:
        """The address blocks that tell apart what the spec allows from `role` to addresses (outgoing), or from
        addresses to it: those of the networks its flows name on the other side."""
        return self._peers(role, "from" if outgoing else "to").by_block.blocks

    def space(self, src: Point, dst: Point, family: int) -> Space:
        key = (src, dst, family)
        if key not in self.known:
            self.known[key] = self._space(src, dst, family)
        return self.known[key]

    def _space(self, src: Point, dst: Point, family: int) -> Space:
        everything = Space.everything()
        ingress = everything if dst.role is None else self._half(dst.role, "to", src, family)
        open_egress = src.role is None or self.topology.egress == "open"
        egress = everything if open_egress else self._half(src.role or "", "from", dst, family)
        return ingress & egress & family_mask(family)

    platform_text = ""

    def unjudged(self) -> list[str]:
        return []

    def platform(self, src: Point, dst: Point, family: int) -> Space:
        return Space()

    def networks(self) -> list[IPNetwork]:
        return [cidr for network in self.topology.networks.values() for cidr in network.cidrs]


class _FlowPeers:
    """One role's flows on one side, filed by the names and network blocks their other side names: the flows
    that may admit a peer are found without reading the others (a peer matches no flow that names neither it nor
    a network holding it)."""

    def __init__(self, topology: Topology, flows: list[Flow], side: str):
        self.flows = flows
        self.by_name: dict[str, list[int]] = {}
        self.by_block: BlockIndex[int] = BlockIndex()
        for position, flow in enumerate(flows):
            for name in flow.sources if side == "to" else flow.destinations:
                self.by_name.setdefault(name, []).append(position)
                for cidr in topology.networks[name].cidrs if name in topology.networks else ():
                    self.by_block.add(cidr, position)

    def naming(self, peer: Point, family: int) -> list[Flow]:
        """The flows whose other side may hold `peer` (by its role's or its network's name, as a network without
        addresses is known, or by a network's block), in order."""
        named = [i for name in (peer.role, peer.network) if name is not None for i in self.by_name.get(name, ())]
        return [self.flows[i] for i in sorted({*named, *self.by_block.containing(peer, family)})]
