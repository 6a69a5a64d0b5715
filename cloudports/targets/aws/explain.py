"""AWS security-group semantics for `cloudports query`: stateful, the union of allow rules; a connection needs
an ingress rule on the destination's group and an egress rule on the source's group (addresses outside our
groups need neither half)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from cloudports.query.model import (
    BlockIndex,
    IPNetwork,
    Point,
    Probe,
    Reason,
    Verdict,
    first_verdict,
    in_cidr,
    machine_endpoint,
    network,
)
from cloudports.query.space import Space, describe, family_mask
from cloudports.targets.aws.model import AwsState, SgRule

_NUMBERED = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def rule_space(rule: SgRule) -> Space:
    """What one rule admits (its peer aside)."""
    protocol = _NUMBERED.get(rule.ip_protocol, rule.ip_protocol)
    if protocol == "-1":
        return Space.everything()
    if protocol in ("tcp", "udp"):
        if rule.from_port is None or rule.to_port is None:
            return Space()
        return Space.ports(protocol, rule.from_port, rule.to_port)
    if protocol in ("icmp", "icmpv6"):
        kind = -1 if rule.from_port is None else rule.from_port
        return Space.icmp(protocol, kind, -1 if rule.to_port is None else rule.to_port)
    return Space.protocol_number(int(protocol)) if protocol.isdigit() else Space()


def _peer_matches(state: AwsState, rule: SgRule, peer: Point, family: int) -> bool:
    """Whether the rule's peer holds the endpoint. A foreign group holds the machines carrying it and, where the
    spec names it (targets.aws.security_groups), its network's; a prefix list the spec names holds its entries
    (an unnamed one: machines no spec can place, unknown_admits)."""
    if rule.referenced_group is not None:
        return peer.role == rule.referenced_group or rule.referenced_group in (peer.carries or ())
    if rule.referenced_group_id is not None:
        named = peer.network is not None and state.named_groups.get(peer.network) == rule.referenced_group_id
        return named or rule.referenced_group_id in (peer.carries or ())
    cidrs = state.prefix_lists.get(rule.prefix_list_id, ()) if rule.prefix_list_id else (rule.cidr_ipv4, rule.cidr_ipv6)
    blocks = (network(cidr) for cidr in cidrs if cidr)
    return any(block is not None and in_cidr(peer, block, family) for block in blocks)


def _half(state: AwsState, role: str, direction: str, peer: Point, probe: Probe, family: int) -> list[SgRule]:
    rules = state.rules_of(role, direction)
    # by key: SgRule's field order cannot compare a group peer (None CIDR) with a CIDR peer
    found = (r for r in rules if _peer_matches(state, r, peer, family) and rule_space(r).contains(probe))
    return sorted(found, key=_key)


def _key(rule: SgRule) -> str:
    return rule.key


def _group(state: AwsState, role: str) -> str:
    group = state.groups.get(role)
    return group.name if group else role


def _family(state: AwsState, probe: Probe, family: int) -> Verdict:
    reasons: list[Reason] = []
    ok = True
    for direction, mine, peer in (("ingress", probe.dst, probe.src), ("egress", probe.src, probe.dst)):
        # a role: all its groups (one, or several when its rules outgrew one); a machine: the groups it carries
        groups = state.parts(mine.role) if mine.role is not None else sorted(mine.carries or ())
        if not groups:
            continue  # an address outside every group: nothing of ours stops it
        rules = sorted({r for g in groups for r in _half(state, g, direction, peer, probe, family)}, key=_key)
        group = " or ".join(_group(state, g) for g in groups)
        reasons += [
            Reason(
                direction, True, f"{direction} rule on {group}" + (f": {r.description}" if r.description else ""), r.key
            )
            for r in rules
        ]
        if not rules:
            ok = False
            why = f"no {direction} rule on {group} admits {peer} on {probe.what}"
            if direction == "egress" and state.egress == "strict":
                why = f"strict egress: {why}"
            reasons.insert(0, Reason(direction, False, why))
    return Verdict(ok, tuple(reasons))


def machine_point(state: AwsState, name: str) -> Point | None:
    """An interface (eni-...), an instance (i-...: its first interface) or a private address of the VPC."""
    key_of = {group_id: key for key, group_id in state.group_ids.items()}
    for machine in sorted(state.machines.values(), key=lambda m: m.id):
        if name in (machine.id, machine.instance_id) or name in machine.private_ips:
            carries = {key_of.get(g, g) for g in machine.group_ids}
            return machine_endpoint(name, machine.private_ips, machine.label, carries)
    return None


def explain(state: AwsState, probe: Probe) -> Verdict:
    return first_verdict([_family(state, probe, f) for f in probe.families()])


class AwsReachability:
    """What an AwsState allows between two endpoints, as Spaces (for verify); rules indexed once."""

    def __init__(self, state: AwsState):
        self.state = state
        # in a VPC without an IPv6 block no machine has an IPv6 address: no IPv6 connection is ever decided
        self.families = (4,) if state.ipv6 is False else (4, 6)
        self.halves: dict[tuple[str, str], list[SgRule]] = {}
        for rule in state.rules.values():  # by role: a role split over several groups has all their rules
            self.halves.setdefault((state.role_of(rule.group), rule.direction), []).append(rule)
        self.by_half: dict[tuple[str, str], _RulePeers] = {}  # filed on first use (a query asks of two roles)
        kept = {k: r for k, r in state.rules.items() if k in state.unmanaged}
        # what the rules the spec keeps unmanaged add is told apart (platform(): known, not counted)
        rest = {k: r for k, r in state.rules.items() if k not in kept}
        self.managed: AwsReachability | None = AwsReachability(replace(state, rules=rest)) if kept else None

    def _half(self, role: str | None, direction: str, peer: Point, family: int) -> Space:
        if role is None:
            return Space.everything()  # an address outside our groups needs no rule of ours
        rules = self._peers(role, direction)
        return Space.union(space for _rule, space in rules.matching(peer, family)) if rules else Space()

    def roles_between(self, role: str, outgoing: bool) -> set[str] | None:
        """The roles the rules may let `role` reach (outgoing: its egress rules) or be reached by (its ingress
        rules); None: any role (a rule for 0.0.0.0/0 or ::/0, or a peer this index does not file)."""
        rules = self._peers(role, "egress" if outgoing else "ingress")
        if rules is None:
            return set()
        return None if rules.others or rules.by_block.spans_all() else set(rules.by_group)

    def _peers(self, role: str, direction: str) -> _RulePeers | None:
        """The role's rules in one direction, filed by peer (None: it has none)."""
        if (role, direction) not in self.by_half and (role, direction) in self.halves:
            self.by_half[(role, direction)] = _RulePeers(
                self.state, [(r, rule_space(r)) for r in self.halves[(role, direction)]]
            )
        return self.by_half.get((role, direction))

    def networks_between(self, role: str, outgoing: bool) -> list[IPNetwork]:
        """The address blocks that tell apart what the rules allow from `role` to addresses (outgoing: its
        egress rules), or from addresses to it (its ingress rules)."""
        rules = self._peers(role, "egress" if outgoing else "ingress")
        if rules is None:
            return []
        # a peer not filed (a foreign group, a prefix list): whatever it holds, every block the rules name
        return [*rules.by_block.blocks, *(self.networks() if rules.others else ())]

    def space(self, src: Point, dst: Point, family: int) -> Space:
        ingress = self._half(dst.role, "ingress", src, family)
        return ingress & self._half(src.role, "egress", dst, family) & family_mask(family)

    platform_text = "kept, not managed: the spec lists these live rules under targets.aws.unmanaged"

    def _unknown(self) -> list[SgRule]:
        """Rules whose peer is a group this spec neither owns nor names, or a prefix list it does not name:
        machines verify cannot place."""
        named = set(self.state.named_groups.values())
        unknown = [
            r
            for r in self.state.rules.values()
            if (r.referenced_group_id and r.referenced_group_id not in named)
            or (r.prefix_list_id and r.prefix_list_id not in self.state.prefix_lists)
            or (r.referenced_group and r.referenced_group not in self.state.groups)
        ]
        return sorted(unknown, key=_key)  # the few found, not every rule: a key is a string built per rule

    def unjudged(self) -> list[str]:
        """The rules with such peers that the spec keeps unmanaged: said, not counted."""
        return [
            f"rule {r.key} admits {r.peer[r.peer.index(':') + 1 :]}, which is not a role or network of the spec; "
            "kept, not managed (targets.aws.unmanaged)"
            for r in self._unknown()
            if r.key in self.state.unmanaged
        ]

    def unknown_admits(self) -> list[tuple[str, str, str, str]]:
        """(source, destination, traffic, why) for each rule that lets machines the spec cannot name (a foreign
        group's, a prefix list's addresses) reach a role or be reached by it, unless the spec keeps it unmanaged:
        those machines are unknown, so what the rule admits is a difference, never silence."""
        found = []
        for rule in self._unknown():
            if rule.key in self.state.unmanaged:
                continue
            peer = rule.peer[rule.peer.index(":") + 1 :]
            peer = f"security group {peer}" if rule.peer.startswith("sg") else f"prefix list {peer}"
            role = _group(self.state, rule.group)
            ends = (peer, rule.group) if rule.direction == "ingress" else (rule.group, peer)
            said = f": {rule.description}" if rule.description else ""
            why = f"{rule.direction} rule on {role} [{rule.key}]{said}"
            found += [(*ends, describe(axis, span), why) for axis, span in rule_space(rule).pieces()]
        return found

    def kept_but_gone(self) -> list[tuple[str, str, str, str]]:
        """(source, destination, traffic, why) for each rule the spec keeps unmanaged that the live state lacks:
        what it let through no longer passes, a decision changed that no managed rule shows."""
        return [
            (key.split("/")[0], "", key, "the spec keeps this rule unmanaged (targets.aws.unmanaged), but it is gone")
            for key in sorted(self.state.unmanaged - self.state.rules.keys())
        ]

    def platform(self, src: Point, dst: Point, family: int) -> Space:
        """Nothing passes a security group but by its rules; what only unmanaged rules admit is told apart."""
        if self.managed is None:
            return Space()
        return self.space(src, dst, family) - self.managed.space(src, dst, family)

    def networks(self) -> list[IPNetwork]:
        cidrs = {c for r in self.state.rules.values() for c in (r.cidr_ipv4, r.cidr_ipv6) if c}  # each once
        cidrs |= {c for entries in self.state.prefix_lists.values() for c in entries}
        return [ipaddress.ip_network(c, strict=False) for c in sorted(cidrs)]


class _RulePeers:
    """One role's rules in one direction, filed by their peer (a group, a CIDR block), so that the rules that may
    admit an endpoint are found without reading the others. A rule with any other peer is read every time."""

    def __init__(self, state: AwsState, rules: list[tuple[SgRule, Space]]):
        self.state, self.rules = state, rules
        self.by_group: dict[str, list[int]] = {}
        self.by_block: BlockIndex[int] = BlockIndex()
        self.others: list[int] = []
        for position, (rule, _space) in enumerate(rules):
            cidrs = [c for c in (rule.cidr_ipv4, rule.cidr_ipv6) if c]
            blocks = [b for b in map(network, cidrs) if b is not None]
            if rule.referenced_group is not None:
                self.by_group.setdefault(rule.referenced_group, []).append(position)
            elif rule.referenced_group_id is None and blocks and len(blocks) == len(cidrs):
                for block in blocks:
                    self.by_block.add(block, position)
            else:
                self.others.append(position)

    def matching(self, peer: Point, family: int) -> list[tuple[SgRule, Space]]:
        """The rules (with what each admits) whose peer holds `peer`, in their order."""
        found = {*self.others, *self.by_block.containing(peer, family)}
        for group in (peer.role, *(peer.carries or ())):
            found.update(self.by_group.get(group, ()) if group is not None else ())
        return [self.rules[i] for i in sorted(found) if _peer_matches(self.state, self.rules[i][0], peer, family)]
