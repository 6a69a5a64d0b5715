"""AWS security-group semantics for `cloudports query`: stateful, the union of allow rules; a connection needs
an ingress rule on the destination's group and an egress rule on the source's group (addresses outside our
groups need neither half)."""

from __future__ import annotations

import ipaddress

from cloudports.query.model import Point, Probe, Reason, Verdict, first_verdict, in_cidr
from cloudports.targets.aws.model import AwsState, SgRule

_NUMBERED = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def _proto_matches(rule: SgRule, probe: Probe) -> bool:
    rp = _NUMBERED.get(rule.ip_protocol, rule.ip_protocol)
    if rp == "-1":
        return True
    if rp != probe.protocol:
        return False
    port = probe.port
    if isinstance(port, int):
        return rule.from_port is not None and rule.to_port is not None and rule.from_port <= port <= rule.to_port
    if isinstance(port, tuple):
        lo = -1 if rule.from_port is None else rule.from_port
        hi = -1 if rule.to_port is None else rule.to_port
        return (lo < 0 or lo == port[0]) and (hi < 0 or hi == port[1])
    return True


def _peer_matches(rule: SgRule, peer: Point, family: int) -> bool:
    if rule.referenced_group is not None:
        return peer.role == rule.referenced_group
    return any(cidr and in_cidr(peer, ipaddress.ip_network(cidr), family) for cidr in (rule.cidr_ipv4, rule.cidr_ipv6))


def _half(state: AwsState, role: str, direction: str, peer: Point, probe: Probe, family: int) -> list[SgRule]:
    return sorted(
        r for r in state.rules_of(role, direction) if _peer_matches(r, peer, family) and _proto_matches(r, probe)
    )


def _group(state: AwsState, role: str) -> str:
    group = state.groups.get(role)
    return group.name if group else role


def _family(state: AwsState, probe: Probe, family: int) -> Verdict:
    reasons: list[Reason] = []
    ok = True
    for direction, mine, peer in (("ingress", probe.dst, probe.src), ("egress", probe.src, probe.dst)):
        if mine.role is None:
            continue
        rules = _half(state, mine.role, direction, peer, probe, family)
        group = _group(state, mine.role)
        reasons += [Reason(direction, True, f"{direction} rule on {group}: {r.description}", r.key) for r in rules]
        if not rules:
            ok = False
            why = f"no {direction} rule on {group} admits {peer} on {probe.what}"
            if direction == "egress" and state.egress == "strict":
                why = f"strict egress: {why}"
            reasons.insert(0, Reason(direction, False, why))
    return Verdict(ok, tuple(reasons))


def explain(state: AwsState, probe: Probe) -> Verdict:
    return first_verdict([_family(state, probe, f) for f in probe.families()])
