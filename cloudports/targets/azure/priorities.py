"""Stable NSG priorities: adding or removing one rule never renumbers another.

Each rule's home slot is a hash of its name inside the allow range; a new rule takes its home slot or the next
free one, and from then on keeps the priority it was given. Allow rules never overlap in effect with each other
(they are all Allow), so their relative order is irrelevant; only the structural denies must come last, and
they sit at 4096, below the allow range.

What a rule was given is recorded: beside emitted Terraform in cloudports-priorities.json, and on Azure in the
rule itself: a rule away from its home slot ends its description with ``[priority N]`` (a rule at home needs no
record). So when the rule that pushed another one off its home slot is removed, the other one stays where it
is; and a rule moved by hand (its live priority is neither its home nor its record) is drift, moved back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from cloudports.targets.azure.model import ALLOW_PRIORITIES, NsgRule
from cloudports.targets.azure.text import azure_description
from cloudports.targets.text import short_hash

Key = tuple[str, str]  # (direction, rule name)
# Under this NSG name, previous priorities are those of the one NSG, whatever it is called: Terraform's record of
# a spec with one NSG names no NSG (its format predates one NSG per subnet).
ONLY_NSG = ""
_MARK = re.compile(r"\s*\[priority (\d{1,4})\]$")
MARK_ROOM = len(" [priority 4096]")


@lru_cache(maxsize=1 << 14)  # a build asks twice per rule: to place it, and to tell whether to record its priority
def home_slot(name: str) -> int:
    return ALLOW_PRIORITIES.start + int(short_hash(name, 12), 16) % len(ALLOW_PRIORITIES)


def _next(slot: int) -> int:
    return ALLOW_PRIORITIES.start + (slot - ALLOW_PRIORITIES.start + 1) % len(ALLOW_PRIORITIES)


def recorded_priority(description: str) -> int | None:
    """The priority recorded at the end of a rule's description, if any."""
    found = _MARK.search(description)
    return int(found.group(1)) if found else None


def records(rules: Iterable[NsgRule]) -> dict[Key, int]:
    """(direction, name) -> the priority recorded in each live rule's description, where there is one."""
    found = {(r.direction, r.name): recorded_priority(r.description) for r in rules}
    return {key: prio for key, prio in found.items() if prio is not None}


def described(text: str, name: str, priority: int) -> str:
    """A rule's description: the spec's text, plus the record of its priority when that is not its home slot."""
    if priority == home_slot(name) or priority not in ALLOW_PRIORITIES:
        return azure_description(text)
    mark = f"[priority {priority}]"
    head = azure_description(text, 140 - MARK_ROOM)
    return f"{head} {mark}" if head else mark


def _on_crowded_path(key: Key, prio: int, taken: set[int]) -> bool:
    """Could cloudports have put the rule here? Every slot from its home up to `prio` (not included: `taken` may
    hold it) is held by another rule.

    Used only for rules without a record (written by an older cloudports)."""
    slot = home_slot(key[1])
    while slot != prio:
        if slot not in taken:
            return False
        slot = _next(slot)
    return True


def _kept(key: Key, prio: int, recorded: Mapping[Key, int] | None, taken: set[int]) -> bool:
    if recorded is None or prio == home_slot(key[1]):
        return True
    if key in recorded:
        return recorded[key] == prio
    return _on_crowded_path(key, prio, taken)


def _leaving(wanted: set[Key], previous: Mapping[Key, int]) -> dict[str, set[int]]:
    """Per direction, the slots of the rules the record holds that are leaving now. A new rule steps past them:
    Terraform may create it before it deletes them, and Azure refuses two rules of one priority and direction
    (SecurityRuleConflict). (cloudports apply orders its own writes so that it never needs this: writes.py.)"""
    found: dict[str, set[int]] = {}
    for key, prio in previous.items():
        if key not in wanted:
            found.setdefault(key[0], set()).add(prio)
    return found


def _held(slot: int, slots: set[int], gone: set[int], past: bool) -> bool:
    """Whether a new rule must not take `slot`: another rule has it, or (`past`) a leaving rule had it."""
    return slot in slots or (past and slot in gone)


def assign_priorities(
    rules: Iterable[Key],
    previous: Mapping[Key, int] | None = None,
    recorded: Mapping[Key, int] | None = None,
    reserved: Iterable[tuple[str, int]] = (),
) -> dict[Key, int]:
    """(direction, name) pairs -> priority, unique per direction.

    `previous`: the priorities rules have now (the live NSG, or the record beside emitted Terraform); a rule keeps
    its previous priority unless that is out of range, used twice, or - when `recorded` is given (live: the
    records in the rules' descriptions) - neither its home slot nor its recorded priority (moved by hand). With
    `recorded` None, `previous` is itself the record. Every other rule takes its recorded slot if free, else its
    home slot or the next free one; with `recorded` None (the record beside emitted Terraform) free also means not
    held by a rule leaving in this change (_leaving). No rule's priority ever depends on which other rules exist,
    but for that step past the slots of leaving rules. `reserved`: (direction, priority) slots
    held by rules cloudports keeps but does not manage (targets.azure.unmanaged).
    """
    wanted = set(rules)
    previous = previous or {}
    taken_before: dict[str, set[int]] = {}
    for (direction, _name), prio in previous.items():
        taken_before.setdefault(direction, set()).add(prio)
    held: dict[str, set[int]] = {}
    for direction, prio in reserved:
        held.setdefault(direction, set()).add(prio)
    result: dict[Key, int] = {}
    for key, prio in sorted(previous.items(), key=lambda kv: (kv[1] != home_slot(kv[0][1]), kv[0])):
        slots = held.setdefault(key[0], set())
        ok = key in wanted and prio in ALLOW_PRIORITIES and prio not in slots
        # the taken slots as they are, not a copy without `prio` per rule (rules^2): the crowded path stops at it
        if ok and _kept(key, prio, recorded, taken_before[key[0]]):
            slots.add(prio)
            result[key] = prio
    rec = recorded or {}
    leaving = _leaving(wanted, previous) if recorded is None else {}
    for key in sorted(wanted - set(result), key=lambda k: (k not in rec, k)):
        slots = held.setdefault(key[0], set())
        if len(slots) >= len(ALLOW_PRIORITIES):
            raise ValueError(f"more than {len(ALLOW_PRIORITIES)} {key[0]} rules")
        gone = leaving.get(key[0], set())
        # Step past the leaving rules' slots unless they and the taken ones fill the range. Not by making the
        # union of the two sets for every rule: that copied every taken slot per rule (rules^2 per NSG).
        past = bool(gone) and (
            len(slots) + len(gone) < len(ALLOW_PRIORITIES) or len(slots | gone) < len(ALLOW_PRIORITIES)
        )
        # `key in rec` first: `None in range(...)` compares with every member of the range (3,900 of them)
        recorded_slot = key in rec and rec[key] in ALLOW_PRIORITIES and not _held(rec[key], slots, gone, past)
        slot = rec[key] if recorded_slot else home_slot(key[1])
        while _held(slot, slots, gone, past):
            slot = _next(slot)
        slots.add(slot)
        result[key] = slot
    return result
