"""Stable NSG priorities: adding or removing one rule never renumbers another.

Each rule's home slot is a hash of its name inside the allow range; a rule keeps the priority it already has
(from the live NSG, or from the previously emitted Terraform) and a new rule takes its home slot or the next
free one. Allow rules never overlap in effect with each other (they are all Allow), so their relative order is
irrelevant; only the structural denies must come last, and they sit at 4096, below the allow range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cloudports.targets.azure.model import ALLOW_PRIORITIES
from cloudports.targets.text import short_hash


def home_slot(name: str) -> int:
    return ALLOW_PRIORITIES.start + int(short_hash(name, 12), 16) % len(ALLOW_PRIORITIES)


def assign_priorities(
    rules: Iterable[tuple[str, str]], previous: Mapping[tuple[str, str], int] | None = None
) -> dict[tuple[str, str], int]:
    """(direction, name) pairs -> priority, unique per direction; previous assignments are kept."""
    previous = previous or {}
    wanted = sorted(set(rules))
    taken: dict[str, set[int]] = {}
    result: dict[tuple[str, str], int] = {}
    for key in wanted:  # keep what exists first, so nothing already placed ever moves
        prio = previous.get(key)
        if prio in ALLOW_PRIORITIES and prio not in taken.setdefault(key[0], set()):
            result[key] = prio
            taken[key[0]].add(prio)
    size = len(ALLOW_PRIORITIES)
    for key in wanted:
        if key in result:
            continue
        used = taken.setdefault(key[0], set())
        if len(used) >= size:
            raise ValueError(f"more than {size} {key[0]} rules")
        slot = home_slot(key[1])
        while slot in used:
            slot = ALLOW_PRIORITIES.start + (slot - ALLOW_PRIORITIES.start + 1) % size
        result[key] = slot
        used.add(slot)
    return result
