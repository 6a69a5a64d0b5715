"""Pairs handed over between rules: which rules of a change take over what another rule stops allowing.

An atom is the smallest thing an allow rule lets through: one source item (ASG or prefix), one destination item,
one port entry, of one direction and protocol. When a spec changes, an atom a previous rule allowed may now be
allowed by another rule (packing moved its pair): the rule that takes it over must be written before the one that
gives it up, or the flow is blocked in between. `cloudports apply` orders its writes by atoms (writes.py); the
emitted Terraform writes the rules that take atoms over first (emit.py, modules/azure-nsg).
"""

from __future__ import annotations

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
    """Names of the current allow rules that allow an atom they did not, which another previous rule did: the
    rules to write before the others (those may be giving the atom up)."""
    before = {r.name: atoms(r) for r in previous if r.access == "Allow"}
    held_before = set().union(*before.values()) if before else set()
    found = set()
    for rule in current:
        if rule.access != "Allow":
            continue
        gained = atoms(rule) - before.get(rule.name, set())
        if gained & held_before:
            found.add(rule.name)
    return found
