"""Stable NSG priorities: adding or removing one rule never renumbers another.

Each rule's home slot is a hash of its name inside the allow range; a rule keeps the priority it already has
(from the live NSG, or from the previously emitted Terraform) while that priority is consistent, and a new rule
takes its home slot or the next free one. Allow rules never overlap in effect with each other (they are all
Allow), so their relative order is irrelevant; only the structural denies must come last, and they sit at
4096, below the allow range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cloudports.targets.azure.model import ALLOW_PRIORITIES
from cloudports.targets.text import short_hash


def home_slot(name: str) -> int:
    return ALLOW_PRIORITIES.start + int(short_hash(name, 12), 16) % len(ALLOW_PRIORITIES)


def _next(slot: int) -> int:
    return ALLOW_PRIORITIES.start + (slot - ALLOW_PRIORITIES.start + 1) % len(ALLOW_PRIORITIES)


def settled_priorities(
    live: Mapping[tuple[str, str], int], missing: Iterable[tuple[str, str]] = ()
) -> dict[tuple[str, str], int]:
    """Live (direction, name) -> priority, with every priority cloudports could not have chosen corrected.

    A rule at priority p with home slot h is consistent when every slot from h up to p is held by another rule
    of its direction. An inconsistent rule moves back to the first free slot on that path - where it was before
    someone moved it, or where it would go now that a rule before it was removed. Priorities outside the allow
    range or used twice are dropped (build_azure then assigns them afresh).

    `missing`: rules the spec has and the NSG lacks (deleted by hand, or new). They are placed first, each at the
    first free slot from its home - a deleted rule's old slot when nothing took it - so that the hole it left does
    not pull another rule out of place.
    """
    held: dict[str, dict[int, tuple[str, str]]] = {}
    result: dict[tuple[str, str], int] = {}
    for key, prio in sorted(live.items()):
        slots = held.setdefault(key[0], {})
        if prio in ALLOW_PRIORITIES and prio not in slots:
            slots[prio] = key
            result[key] = prio
    for key in sorted(set(missing) - set(result)):
        slots = held.setdefault(key[0], {})
        if len(slots) >= len(ALLOW_PRIORITIES):
            break  # no room: build_azure reports it
        slot = home_slot(key[1])
        while slot in slots:
            slot = _next(slot)
        slots[slot] = key
        result[key] = slot
    moved = True
    while moved:  # each move shortens one rule's distance from home, so this ends
        moved = False
        for key in sorted(result):
            slots, prio = held[key[0]], result[key]
            slot = home_slot(key[1])
            while slot != prio:
                if slot not in slots:
                    del slots[prio]
                    slots[slot] = key
                    result[key] = slot
                    moved = True
                    break
                slot = _next(slot)
    return result


def assign_priorities(
    rules: Iterable[tuple[str, str]], previous: Mapping[tuple[str, str], int] | None = None
) -> dict[tuple[str, str], int]:
    """(direction, name) pairs -> priority, unique per direction.

    `previous` (from the live NSG, or from the record beside earlier emitted Terraform) is honoured wherever
    it is consistent (settled_priorities), so emission and live apply give every rule the same priority.
    """
    wanted = set(rules)
    kept = {key: prio for key, prio in (previous or {}).items() if key in wanted}
    result = settled_priorities(kept, wanted - set(kept))
    for key in sorted(wanted - set(result)):  # previous priorities that clashed or left the allow range
        used = {p for k, p in result.items() if k[0] == key[0]}
        if len(used) >= len(ALLOW_PRIORITIES):
            raise ValueError(f"more than {len(ALLOW_PRIORITIES)} {key[0]} rules")
        slot = home_slot(key[1])
        while slot in used:
            slot = _next(slot)
        result[key] = slot
    return result
