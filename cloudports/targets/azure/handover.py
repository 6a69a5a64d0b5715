"""Pairs handed over between rules: which rules of a change take over what another rule stops allowing.

An atom is the smallest thing an allow rule lets through: one source item (ASG or prefix), one destination item,
one port entry, of one direction and protocol. When a spec changes, an atom a previous rule allowed may now be
allowed by another rule (packing moved its pair): the rule that takes it over must be written before the one that
gives it up, or the flow is blocked in between. `cloudports apply` orders its writes by atoms (writes.py); the
emitted Terraform writes the rules that take atoms over first (emit.py, modules/azure-nsg).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cloudports.targets.azure.model import NsgRule

Atom = tuple[str, str, str, str, str]  # direction, protocol, source item, destination item, port entry


def side_items(rule: NsgRule, side: str) -> tuple[str, ...]:
    """The rule's ASGs on that side ("source" or "destination"), or its prefixes."""
    return getattr(rule, f"{side}_asgs") or getattr(rule, f"{side}_prefixes")


def atoms(rule: NsgRule) -> set[Atom]:
    return {
        (rule.direction, rule.protocol, s, d, port)
        for s in side_items(rule, "source")
        for d in side_items(rule, "destination")
        for port in rule.destination_ports
    }


def taking_over(previous: Iterable[NsgRule], current: Iterable[NsgRule]) -> set[str]:
    """Names of the current allow rules that now allow some of what another previous rule allowed (the same
    direction, protocol and ends, a port range overlapping): the rules to write before the others, which may be
    giving it up. A pair whose ports change (8080 to 8080-8081) counts: its flow on 8080 moves."""
    previous = list(previous)
    if not previous:
        return set()  # a first emit: nothing to take over
    held: dict[tuple[str, str, str, str], list[tuple[str, str]]] = defaultdict(list)  # ends -> (port, rule)
    before: dict[str, set[Atom]] = {}
    for rule in previous:
        if rule.access == "Allow":
            before[rule.name] = atoms(rule)
            for direction, protocol, source, destination, port in before[rule.name]:
                held[(direction, protocol, source, destination)].append((port, rule.name))
    found = set()
    for rule in current:
        if rule.access != "Allow":
            continue
        for direction, protocol, source, destination, port in atoms(rule) - before.get(rule.name, set()):
            others = held.get((direction, protocol, source, destination), [])
            if any(name != rule.name and _overlap(port, was) for was, name in others):
                found.add(rule.name)
                break
    return found


def _overlap(entry: str, other: str) -> bool:
    """Whether two port entries ('443', '8080-8081', '*') share a port."""
    if "*" in (entry, other):
        return True
    low, _, high = entry.partition("-")
    other_low, _, other_high = other.partition("-")
    return int(low) <= int(other_high or other_low) and int(other_low) <= int(high or low)
