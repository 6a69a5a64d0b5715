"""The rule writes of an Azure apply: request bodies, and an order in which Azure accepts every one.

Rule writes are ordered so that no two rules hold the same (priority, direction) even for a moment, which Azure
refuses (SecurityRuleConflict): see :func:`order_rule_writes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from azure.mgmt.network import models

from cloudports.errors import CloudportsError
from cloudports.targets.azure.model import ALLOW_PRIORITIES, DENY_PRIORITY, NsgRule

# Free priorities for a rule that has to step aside while rules swap places: below every allow rule, above the
# structural denies, and never chosen by build_azure, so no desired rule is waiting for them.
PARKING = range(DENY_PRIORITY - 1, ALLOW_PRIORITIES.stop - 1, -1)




def _one_or_many(values: tuple[str, ...], single: str, plural: str) -> dict[str, Any]:
    """Like the Terraform module: one value in the singular field (the only one that takes '*' or a service
    tag, and what Azure itself rewrites a one-element list into), several in the plural one."""
    if len(values) == 1:
        return {single: values[0]}
    return {plural: sorted(values)} if values else {}


def rule_properties(rule: NsgRule, asg_ids: dict[str, str]) -> dict[str, Any]:
    """NsgRule -> a security rule's `properties`, as Resource Manager's REST API spells them."""
    props: dict[str, Any] = {
        "priority": rule.priority,
        "direction": rule.direction,
        "access": rule.access,
        "protocol": rule.protocol,
        **_one_or_many(rule.source_ports, "sourcePortRange", "sourcePortRanges"),
        **_one_or_many(rule.destination_ports, "destinationPortRange", "destinationPortRanges"),
    }
    for side, asgs, prefixes in (
        ("source", rule.source_asgs, rule.source_prefixes),
        ("destination", rule.destination_asgs, rule.destination_prefixes),
    ):
        if asgs:
            props[f"{side}ApplicationSecurityGroups"] = [{"id": asg_ids.get(a, a)} for a in asgs]
        else:
            props |= _one_or_many(prefixes, f"{side}AddressPrefix", f"{side}AddressPrefixes")
    if rule.description:
        props["description"] = rule.description
    return props


def security_rule(rule: NsgRule, asg_ids: dict[str, str], inline: bool = False) -> models.SecurityRule:
    """The SDK model of one rule; `inline` (inside an NSG body) carries its name, a rule PUT names it in the URL."""
    body: dict[str, Any] = {"properties": rule_properties(rule, asg_ids)}
    return models.SecurityRule({"name": rule.name, **body} if inline else body)


def nsg_body(location: str, tags: dict[str, str], rules: list[models.SecurityRule], **extra: Any) -> Any:
    """A whole NSG for a PUT: location, tags, its rules inline (extra: further properties such as
    flushConnection, in REST spelling)."""
    properties = {"securityRules": [r.as_dict() for r in rules], **extra}
    return models.NetworkSecurityGroup({"location": location, "tags": tags, "properties": properties})


# ------------------------------------------------------------------------------------------ write order


@dataclass(frozen=True)
class Step:
    action: Literal["put", "delete"]
    rule: NsgRule
    parked: bool = False  # a temporary priority, while rules swap places


def order_rule_writes(live: dict[str, NsgRule], puts: list[NsgRule], deletes: list[NsgRule]) -> list[Step]:
    """The rule writes, in an order where every PUT finds its (direction, priority) free.

    1. PUTs whose slot is free already (new flows are allowed before anything is taken away);
    2. the deletes, which free their slots;
    3. PUTs whose slot is now free, repeatedly (a moving rule frees its old slot for the next one);
    4. rules that wait on each other in a cycle (A wants B's slot and B wants A's): one steps aside to a free
       parking priority, which breaks the cycle, and later takes its own slot.
    """
    held = {(r.direction, r.priority): r.name for r in live.values()}
    at = {r.name: (r.direction, r.priority) for r in live.values()}
    pending = {r.name: r for r in puts}
    steps: list[Step] = []

    def vacate(name: str) -> None:
        slot = at.pop(name, None)
        if slot is not None and held.get(slot) == name:
            del held[slot]

    def place(rule: NsgRule, parked: bool = False) -> None:
        vacate(rule.name)
        held[(rule.direction, rule.priority)] = rule.name
        at[rule.name] = (rule.direction, rule.priority)
        steps.append(Step("put", rule, parked))

    def drain() -> None:
        progress = True
        while progress:
            progress = False
            for name in sorted(pending):
                rule = pending[name]
                if held.get((rule.direction, rule.priority), name) == name:
                    place(pending.pop(name))
                    progress = True

    drain()
    for rule in sorted(deletes, key=lambda r: r.name):
        vacate(rule.name)
        steps.append(Step("delete", rule))
    drain()
    while pending:
        rule = pending[min(pending)]
        blocker = held[(rule.direction, rule.priority)]
        if blocker not in pending:  # cannot happen: desired priorities are unique per direction
            raise CloudportsError(f"azure: rule {rule.name} needs priority {rule.priority}, held by {blocker}")
        free = next(
            (p for p in (*PARKING, *reversed(ALLOW_PRIORITIES)) if (pending[blocker].direction, p) not in held), None
        )
        if free is None:
            raise CloudportsError(f"azure: no free {rule.direction} priority left to reorder rules")
        place(replace(pending[blocker], priority=free), parked=True)
        drain()
    return steps
