"""Terraform keys of AWS rules: what a rule is for, not its current ports and addresses.

The `for_each` key of a rule decides what Terraform does on a change: a key that stays is an in-place update
(ModifySecurityGroupRules, one atomic write that keeps the rule's ID), a key that goes and another that comes is
a destroy and a create. So the key names the rule's group, direction and protocol, its peer by name (the
security group's role, or the spec's network: `net:corp`, `net6:corp` for its IPv6 block), and a slot, the first
port of the range (ICMP: the type). A widened network, a range grown upwards or a port merged onto the end of a
range keep the key.

A network with several blocks of one family gets one rule per block: each is told apart by its block's first
address (`net:corp@10.20.0.0`), which a block widened at the same start address keeps. A port that is a
Terraform variable is keyed by the variable (any value keeps the key). A rule without a network (open egress)
keeps its content key. Where two rules would get one key (two networks' blocks that start at one address), both
keep their content keys, so a key is never shared.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from cloudports.targets.aws.model import SgRule


def slot(rule: SgRule) -> str:
    """The port part of a Terraform key: the first port (ICMP: the type), so a range grown upwards keeps it."""
    if rule.ip_protocol == "-1":
        return "all"
    if rule.ip_protocol in ("icmp", "icmpv6") and rule.from_port == -1:
        return "any"
    return str(rule.from_port)


def _blocks(rules: Iterable[SgRule]) -> dict[tuple[str, int], set[str]]:
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for rule in rules:
        if rule.network:
            found[(rule.network, rule.family)].add(str(rule.cidr_ipv4 or rule.cidr_ipv6))
    return found


def _peer(rule: SgRule, blocks: dict[tuple[str, int], set[str]]) -> str:
    if not rule.network:
        return rule.peer  # a group reference ('sg:app'), or a CIDR no network names
    name = f"{'net6' if rule.family == 6 else 'net'}:{rule.network}"
    if len(blocks[(rule.network, rule.family)]) == 1:
        return name
    return f"{name}@{ipaddress.ip_network(str(rule.cidr_ipv4 or rule.cidr_ipv6)).network_address}"


def terraform_keys(rules: Iterable[SgRule], variable: Callable[[SgRule], str | None]) -> dict[SgRule, str]:
    """Each rule's Terraform key; `variable`: the Terraform variable a rule's port is, if any."""
    rules = list(rules)
    blocks = _blocks(rules)
    keys = {}
    for rule in rules:
        name = variable(rule)
        keys[rule] = rule.key_with(f"var.{name}" if name else slot(rule), _peer(rule, blocks))
    shared = Counter(keys.values())
    return {rule: key if shared[key] == 1 else rule.key for rule, key in keys.items()}
