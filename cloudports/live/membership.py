"""Which machines carry which role, whatever the cloud: the membership half of plan, apply, drift and destroy.

A role with members (the spec's `members.<target>`) owns its group's place on machines: each selected machine
carries the role's group (AWS security group, Azure ASG), and a machine that carries it without being selected
(attached by hand, or a machine that left the selector) loses it. A role without members leaves its group's
attachments alone, as before members existed. A group the spec no longer has (and every group, on destroy) is
taken off every machine, since neither cloud deletes a group in use. Only cloudports' own groups are ever added or
taken off; every other group on a machine stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from cloudports.live.plan import Action, Change

MEMBERSHIP = "membership"


class Machine(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def label(self) -> str: ...


M = TypeVar("M", bound=Machine)


@dataclass(frozen=True)
class Regroup(Generic[M]):
    """One machine whose set of cloudports groups changes (one write on it)."""

    machine: M
    attach: tuple[str, ...]  # role keys
    detach: tuple[str, ...]  # role keys
    why: dict[str, str]  # role key -> why it is attached or detached


@dataclass(frozen=True)
class Roles:
    """What the spec says about roles on one cloud."""

    declared: set[str]  # every role of the spec
    selected: Callable[[Any], set[str]]  # machine -> the roles (with members) whose selector takes it
    managed: set[str]  # the roles with members
    where: str  # how the spec says it, e.g. "members.aws"


def tags_match(wanted: Mapping[str, str], tags: tuple[tuple[str, str], ...]) -> bool:
    """A tag selector: every wanted tag present with its value (an empty selector selects nothing)."""
    have = dict(tags)
    return bool(wanted) and all(have.get(k) == v for k, v in wanted.items())


def regroups(machines: Iterable[M], have: Callable[[M], set[str]], roles: Roles, destroying: bool) -> list[Regroup[M]]:
    """The membership changes, machine by machine. `have`: the owned groups (role keys) a machine carries."""
    out = []
    for machine in machines:
        now = have(machine)
        want = set() if destroying else roles.selected(machine)
        why = {role: f"selected by role {role}'s {roles.where}" for role in want - now}
        for role in now - want:
            if destroying:
                why[role] = "destroy"
            elif role not in roles.declared:
                why[role] = "the spec has no such role"
            elif role in roles.managed:
                why[role] = f"not selected by role {role}'s {roles.where}"
        attach = tuple(sorted(want - now))
        detach = tuple(sorted(r for r in now - want if r in why))
        if attach or detach:
            out.append(Regroup(machine, attach, detach, why))
    return out


def membership_changes(
    regroup: Regroup[Any], names: dict[str, str], before: dict[str, Any], group: str = "security group"
) -> list[Change]:
    """One plan row per machine and role: 'add' attaches the role's group, 'remove' takes it off."""
    machine = regroup.machine
    sides: tuple[tuple[Action, tuple[str, ...]], ...] = (("add", regroup.attach), ("remove", regroup.detach))
    rows = []
    for action, role_keys in sides:
        for role in role_keys:
            verb = "carries" if action == "add" else "no longer carries"
            # a group the spec no longer declares is keyed "<role tag>@<name>" (read.py): show the role
            shown = role.split("@")[0]
            summary = f"{machine.label} {verb} {group} {names.get(role, role)} (role {shown})"
            after = {"machine": machine.id, "role": shown, "attached": action == "add"}
            name = f"{machine.id.rsplit('/', 1)[-1]}/{shown}"
            rows.append(Change(action, MEMBERSHIP, name, summary, before, after, regroup.why[role]))
    return rows
