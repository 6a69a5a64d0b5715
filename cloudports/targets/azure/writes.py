"""The rule writes of an Azure apply: request bodies, and an order in which Azure accepts every one.

Rule writes are ordered so that no two rules hold the same (priority, direction) even for a moment, which Azure
refuses (SecurityRuleConflict): see :func:`order_rule_writes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from azure.mgmt.network import models

from cloudports.errors import CloudportsError
from cloudports.targets.azure.handover import Atom, atoms, side_items
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
    """The rule writes, in an order where every PUT finds its (direction, priority) free and no flow the spec
    declares before and after the change is ever blocked between two writes.

    1. Allow rules first: those whose slot is free; one whose slot is held by a rule about to be deleted (or by a
       rule that moves) is written at a free parking priority first, so its flows never wait on the delete. A
       rule that loses flows which other rules take over (packing moved a pair to another rule) is written only
       once those rules allow them (:class:`_Coverage`); rules waiting on each other that way are broken up by
       keeping a parked copy of one rule's old content until the end;
    2. the deletes (what they allowed is either no longer declared or allowed by the rules written in 1; one
       whose flows still wait for a rule of step 3 is deleted after it);
    3. the rules still waiting for their slot (a moving rule frees its old slot for the next one; rules that wait
       on each other in a cycle are broken up by parking one of them);
    4. deny rules last: a new or changed deny only ever lands once every allow rule it must not shadow is in place;
       a deny that goes away, after them (unless a new rule needs its slot).
    Each PUT replaces one rule atomically.
    """
    order = _Order(live, puts, deletes)
    allows = [r for r in puts if r.access == "Allow"]
    order.settle(allows, park_blocked=True)
    # A deny whose slot no new rule needs goes after the new denies: one replaced by its equal under cloudports'
    # name (adopt) never leaves a moment in which neither blocks.
    slots = {(r.direction, r.priority) for r in puts}
    last = [r for r in deletes if r.access == "Deny" and (r.direction, r.priority) not in slots]
    later = []
    for rule in sorted((r for r in deletes if r not in last), key=lambda r: r.name):
        if order.coverage.keeps_needed(order.content, without=rule.name):
            order.delete(rule)
        else:
            later.append(rule)
    order.settle(allows)
    for rule in later:
        order.delete(rule)
    order.drop_copies()
    order.settle([r for r in puts if r.access != "Allow"])
    for rule in sorted(last, key=lambda r: r.name):
        order.delete(rule)
    return order.steps


def _allows(rule: NsgRule, atom: Atom) -> bool:
    """Whether the allow rule lets the atom through (conservatively: a port entry must appear whole, or '*')."""
    direction, protocol, source, destination, port = atom
    return (
        rule.access == "Allow"
        and rule.direction == direction
        and rule.protocol in ("*", protocol)
        and source in side_items(rule, "source")
        and destination in side_items(rule, "destination")
        and (port in rule.destination_ports or "*" in rule.destination_ports)
    )


class _Coverage:
    """What the NSG must keep allowing through the writes: what a live allow rule allows that the desired rules
    allow too (declared before and after the change)."""

    def __init__(self, live: dict[str, NsgRule], puts: list[NsgRule], deletes: list[NsgRule]) -> None:
        gone = {r.name for r in deletes} | {r.name for r in puts}
        self.desired = [r for r in (*puts, *(r for r in live.values() if r.name not in gone)) if r.access == "Allow"]

    def keeps_needed(self, content: dict[str, NsgRule], without: str, new: NsgRule | None = None) -> bool:
        """Whether replacing rule `without` by `new` (or deleting it) keeps everything needed it allows now."""
        old = content.get(without)
        if old is None or old.access != "Allow":
            return True
        others = [new] if new else []
        others += [r for n, r in content.items() if n != without and r.direction == old.direction]
        return all(
            any(_allows(r, a) for r in others) or not any(_allows(d, a) for d in self.desired) for a in atoms(old)
        )


class _Order:
    """The NSG's slots as the writes so far leave them, and the writes."""

    def __init__(self, live: dict[str, NsgRule], puts: list[NsgRule], deletes: list[NsgRule]) -> None:
        self.puts = {r.name: r for r in puts}
        self.content = dict(live)  # every rule as the writes so far leave it
        self.coverage = _Coverage(live, puts, deletes)
        self.copies: list[NsgRule] = []  # parked copies of old content, deleted at the end
        self.held = {(r.direction, r.priority): r.name for r in live.values()}
        self.at = {r.name: (r.direction, r.priority) for r in live.values()}
        self.steps: list[Step] = []
        self.done: set[str] = set()

    def vacate(self, name: str) -> None:
        slot = self.at.pop(name, None)
        if slot is not None and self.held.get(slot) == name:
            del self.held[slot]

    def place(self, rule: NsgRule, parked: bool = False) -> None:
        self.vacate(rule.name)
        self.content[rule.name] = rule
        self.held[(rule.direction, rule.priority)] = rule.name
        self.at[rule.name] = (rule.direction, rule.priority)
        self.steps.append(Step("put", rule, parked))
        if not parked:
            self.done.add(rule.name)

    def delete(self, rule: NsgRule) -> None:
        self.vacate(rule.name)
        self.content.pop(rule.name, None)
        self.steps.append(Step("delete", rule))

    def safe(self, rule: NsgRule) -> bool:
        """Whether writing `rule` now keeps every flow its old content allows and the change still declares."""
        return self.coverage.keeps_needed(self.content, without=rule.name, new=rule)

    def keep_copy(self, rule: NsgRule) -> None:
        """Park a copy of the rule's old content under another name, so that the rule can be rewritten now."""
        old = self.content[rule.name]
        copy = replace(old, name=f"{old.name[:70]}-cp-moving", priority=self.free_slot(old.direction))
        self.copies.append(copy)
        self.place(copy, parked=True)

    def drop_copies(self) -> None:
        for copy in self.copies:
            self.delete(copy)
        self.copies = []

    def free_slot(self, direction: str) -> int:
        free = next((p for p in (*PARKING, *reversed(ALLOW_PRIORITIES)) if (direction, p) not in self.held), None)
        if free is None:
            raise CloudportsError(f"azure: no free {direction} priority left to reorder rules")
        return free

    def _drain(self, pending: dict[str, NsgRule]) -> None:
        progress = True
        while progress:
            progress = False
            for name in sorted(pending):
                rule = pending[name]
                if self.held.get((rule.direction, rule.priority), name) == name and self.safe(rule):
                    self.place(pending.pop(name))
                    progress = True
        unsafe = [n for n, r in pending.items() if self.held.get((r.direction, r.priority), n) == n]
        if unsafe:  # rules waiting on each other's new content: keep one's old content, and go on
            self.keep_copy(pending[min(unsafe)])
            self.place(pending.pop(min(unsafe)))
            self._drain(pending)

    def settle(self, rules: list[NsgRule], park_blocked: bool = False) -> None:
        """Write `rules` (those not written yet) at their slots; with park_blocked, write a blocked rule that is
        not on the NSG yet at a parking priority instead, and leave its slot for later."""
        pending = {r.name: r for r in rules if r.name not in self.done}
        self._drain(pending)
        if park_blocked:
            for name in sorted(pending):
                if name not in self.at:  # new: park it so that its flows are allowed now
                    self.place(replace(pending[name], priority=self.free_slot(pending[name].direction)), parked=True)
            return
        while pending:
            rule = pending[min(pending)]
            blocker = self.held[(rule.direction, rule.priority)]
            if blocker not in self.puts or blocker in self.done:  # cannot happen: desired priorities are unique
                raise CloudportsError(f"azure: rule {rule.name} needs priority {rule.priority}, held by {blocker}")
            # a cycle (A wants B's slot, B wants A's), or a deny moved by hand onto an allow's slot: step aside
            self.place(replace(self.puts[blocker], priority=self.free_slot(rule.direction)), parked=True)
            self._drain(pending)
