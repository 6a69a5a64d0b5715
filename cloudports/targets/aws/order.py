"""The order of rule changes in one group and direction, such that no declared flow is ever blocked.

A flow declared both before and after an update must be allowed between any two API calls. Adding a rule never
blocks anything; removing rule R (or changing it in place) is safe once every wanted rule that overlaps R is
present: then whatever R allowed that is still declared is allowed by those. With room under the rule quota the
order is simply add, then change, then remove. When the group is full, a rule replaced by one of the same peer
kind is changed in place (ModifySecurityGroupRules keeps its ID and frees no room, needs none); removals that
are already safe make room for additions. If nothing of that helps, the update cannot avoid a gap: it is
planned as such and apply refuses it unless the user accepts it (allow_gap).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from cloudports.targets.aws.model import SgRule

MODIFY_BATCH = 100  # rules per ModifySecurityGroupRules call


@dataclass(frozen=True)
class Step:
    """One write call: authorize `add`, modify `pairs` (live rule, its ID, the rule it becomes), revoke `remove`."""

    op: Literal["authorize", "modify", "revoke"]
    group: str
    direction: str
    add: tuple[SgRule, ...] = ()
    pairs: tuple[tuple[SgRule, str, SgRule], ...] = ()
    remove: tuple[tuple[SgRule, str], ...] = ()
    gap: bool = False  # a removal that blocks declared flows until a later step (only with allow_gap)


@dataclass
class Schedule:
    steps: list[Step] = field(default_factory=list)
    gaps: list[tuple[str, str, list[SgRule]]] = field(default_factory=list)  # group, direction, rules not added


def _peer_kind(rule: SgRule) -> str:
    if rule.cidr_ipv4 or rule.cidr_ipv6:
        return f"cidr{rule.family}"
    return "prefix-list" if rule.prefix_list_id else "group"


def _families(rule: SgRule) -> tuple[int, ...]:
    """The IP families a rule counts against (AWS's quota is per family; a group reference counts in both)."""
    return (rule.family,) if (rule.cidr_ipv4 or rule.cidr_ipv6) else (4, 6)


def _ports_overlap(a: SgRule, b: SgRule) -> bool:
    if "-1" in (a.ip_protocol, b.ip_protocol):
        return True
    if a.ip_protocol != b.ip_protocol:
        return False
    if a.ip_protocol in ("icmp", "icmpv6"):
        return -1 in (a.from_port, b.from_port) or a.from_port == b.from_port
    return a.from_port <= b.to_port and b.from_port <= a.to_port  # type: ignore[operator]


def _peers_overlap(a: SgRule, b: SgRule) -> bool:
    cidr_a, cidr_b = a.cidr_ipv4 or a.cidr_ipv6, b.cidr_ipv4 or b.cidr_ipv6
    if cidr_a and cidr_b:
        net_a, net_b = ipaddress.ip_network(cidr_a), ipaddress.ip_network(cidr_b)
        return net_a.version == net_b.version and net_a.overlaps(net_b)
    if cidr_a or cidr_b:  # a group's machines lie in a /0 (and, as far as cloudports knows, in no narrower CIDR)
        return ipaddress.ip_network(cidr_a or cidr_b).prefixlen == 0  # type: ignore[arg-type]
    return a.peer == b.peer


def overlaps(a: SgRule, b: SgRule) -> bool:
    return _ports_overlap(a, b) and _peers_overlap(a, b)


def _covers(outer: SgRule, inner: SgRule) -> bool:
    cidr_o, cidr_i = outer.cidr_ipv4 or outer.cidr_ipv6, inner.cidr_ipv4 or inner.cidr_ipv6
    same_proto = outer.ip_protocol in ("-1", inner.ip_protocol)
    if not (same_proto and overlaps(outer, inner)):
        return False
    if cidr_o and cidr_i and not ipaddress.ip_network(cidr_i).subnet_of(ipaddress.ip_network(cidr_o)):  # type: ignore[arg-type]
        return False
    if outer.ip_protocol in ("tcp", "udp") and inner.ip_protocol == outer.ip_protocol:
        return outer.from_port <= inner.from_port and inner.to_port <= outer.to_port  # type: ignore[operator]
    return True


def _pair(removals: list[tuple[SgRule, str]], additions: list[SgRule]) -> list[tuple[SgRule, str, SgRule]]:
    """Removals matched with additions of the same peer kind: one that covers it first, then one that overlaps."""
    free = list(additions)
    pairs: list[tuple[SgRule, str, SgRule]] = []
    for rank in (_covers, lambda b, r: overlaps(b, r), lambda _b, _r: True):
        for old, rule_id in removals:
            if any(p[1] == rule_id for p in pairs):
                continue
            match = next((b for b in free if _peer_kind(b) == _peer_kind(old) and rank(b, old)), None)
            if match is not None:
                free.remove(match)
                pairs.append((old, rule_id, match))
    return pairs


class _Group:
    """The simulation of one group and direction while its steps are chosen."""

    def __init__(self, want: list[SgRule], present: list[SgRule], quota: int):
        self.want = want
        self.present = Counter(r.key for r in present)
        self.count = Counter(f for r in present for f in _families(r))
        self.quota = quota

    def safe(self, old: SgRule, coming: set[str] | None = None) -> bool:
        keys = self.present.keys() | (coming or set())
        return all(w.key in keys for w in self.want if overlaps(w, old))

    def safe_pairs(self, pairs: list[tuple[SgRule, str, SgRule]]) -> list[tuple[SgRule, str, SgRule]]:
        """The largest set of in-place changes that are safe when made together in one call."""
        batch = pairs[:MODIFY_BATCH]
        while True:
            coming = {p[2].key for p in batch}
            safe = [p for p in batch if self.safe(p[0], coming)]
            if len(safe) == len(batch):
                return batch
            batch = safe

    def fitting(self, rules: list[SgRule]) -> list[SgRule]:
        count, out = Counter(self.count), []
        for rule in rules:
            if all(count[f] < self.quota for f in _families(rule)):
                out.append(rule)
                count.update(_families(rule))
        return out

    def added(self, rules: list[SgRule]) -> None:
        self.present.update(r.key for r in rules)
        self.count.update(f for r in rules for f in _families(r))

    def removed(self, rules: list[SgRule]) -> None:
        self.present.subtract(r.key for r in rules)
        self.present = +self.present
        self.count.subtract(f for r in rules for f in _families(r))


def order_group(
    group: str,
    direction: str,
    sides: tuple[list[SgRule], list[SgRule]],
    adds: list[SgRule],
    removes: list[tuple[SgRule, str]],
    quota: int,
) -> Schedule:
    """Steps for one group and direction; `sides` is (wanted rules, live rules)."""
    state = _Group(sides[0], sides[1], quota)
    adds, removes = list(adds), list(removes)
    pairs = _pair(removes, adds)
    adds = [r for r in adds if all(r is not p[2] for p in pairs)]
    removes = [(r, i) for r, i in removes if all(i != p[1] for p in pairs)]
    out = Schedule()
    progress = True
    while progress and (adds or pairs or removes):
        progress = False
        if fit := state.fitting(adds):
            out.steps.append(Step("authorize", group, direction, add=tuple(fit)))
            state.added(fit)
            adds = [r for r in adds if r not in fit]
            progress = True
        if safe_pairs := state.safe_pairs(pairs):
            out.steps.append(Step("modify", group, direction, pairs=tuple(safe_pairs)))
            state.removed([p[0] for p in safe_pairs])
            state.added([p[2] for p in safe_pairs])
            pairs = [p for p in pairs if p not in safe_pairs]
            progress = True
        if safe := [(r, i) for r, i in removes if state.safe(r)]:
            out.steps.append(Step("revoke", group, direction, remove=tuple(safe)))
            state.removed([r for r, _ in safe])
            removes = [x for x in removes if x not in safe]
            progress = True
    if adds or pairs or removes:  # no order avoids a gap: remove first, then add
        out.gaps.append((group, direction, [*adds, *(p[2] for p in pairs)]))
        if removes:
            out.steps.append(Step("revoke", group, direction, remove=tuple(removes), gap=True))
        for batch in range(0, len(pairs), MODIFY_BATCH):
            out.steps.append(Step("modify", group, direction, pairs=tuple(pairs[batch : batch + MODIFY_BATCH])))
        if adds:
            out.steps.append(Step("authorize", group, direction, add=tuple(adds), gap=True))
    return out
