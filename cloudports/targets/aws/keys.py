"""Terraform keys of AWS rules: what a rule is for, not its current ports and addresses.

The `for_each` key of a rule decides what Terraform does on a change: a key that stays is an in-place update
(ModifySecurityGroupRules, one atomic write that keeps the rule's ID), a key that goes and another that comes is
a destroy and a create (which the module orders create first). So the key names the rule's group, direction and
protocol, its peer by name (the security group's role `sg:app`, or the spec's network and the first address of the
block: `net:corp@10.20.0.0`, `net:corp@fd00::`) and a slot, the first port of the range (ICMP: the type). A
network widened at the same first address, a range grown upwards, a port merged onto the end of a range keep the
key; a block added to or removed from a network is a create or a delete, never a key that another block takes
over (which AWS would refuse as a duplicate while the old rule still exists).

A port that is a Terraform variable is keyed by the variable (any value keeps the key). A rule without a network
(open egress) and one naming a prefix list or a foreign group (`pl:pl-0abc`, `sgid:sg-0abc`) keep their content
keys. Where two rules would get one key (two blocks of one network that start at
one address), both keep their content keys, so a key is never shared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from cloudports.targets.aws.model import SgRule


def slot(rule: SgRule) -> str:
    """The port part of a Terraform key: the first port (ICMP: the type), so a range grown upwards keeps it."""
    if rule.ip_protocol == "-1":
        return "all"
    if rule.ip_protocol in ("icmp", "icmpv6") and rule.from_port == -1:
        return "any"
    return str(rule.from_port)


def _peer(rule: SgRule) -> str:
    if not rule.network or not (rule.cidr_ipv4 or rule.cidr_ipv6):
        return rule.peer  # a group reference ('sg:app'), a prefix list or foreign group, a block no network names
    first_address = str(rule.cidr_ipv4 or rule.cidr_ipv6).split("/")[0]  # blocks are canonical (the compiler)
    return f"net:{rule.network}@{first_address}"


def terraform_keys(rules: Iterable[SgRule], variable: Callable[[SgRule], str | None]) -> dict[SgRule, str]:
    """Each rule's Terraform key; `variable`: the Terraform variable a rule's port is, if any."""
    keys = {}
    for rule in rules:
        name = variable(rule)
        keys[rule] = rule.key_with(f"var.{name}" if name else slot(rule), _peer(rule))
    shared = Counter(keys.values())
    return {rule: key if shared[key] == 1 else rule.key for rule, key in keys.items()}
