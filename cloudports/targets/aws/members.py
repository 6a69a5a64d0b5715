"""Which machines carry which role's security group: the spec's `members.aws` against the VPC's interfaces.

A role with members owns its group's place on machines: each selected interface carries the group, and an
interface that carries it without being selected (attached by hand, or a machine that left the selector) loses
it. A role without members leaves its group's attachments alone, as before members existed. A group the spec no
longer has (and every group, on destroy) is taken off every interface first, since EC2 cannot delete a group in
use. Only cloudports' own groups are ever added or taken off; every other group on an interface stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudports.targets.aws.model import AwsState, LiveState, Machine
from cloudports.targets.aws.settings import AwsMembers

QUOTA_CODE = "L-2AFB9258"  # "Security groups per network interface"


@dataclass(frozen=True)
class Regroup:
    """One interface whose set of cloudports groups changes: one ModifyNetworkInterfaceAttribute call."""

    machine: Machine
    attach: tuple[str, ...]  # role keys of groups to add
    detach: tuple[str, ...]  # role keys of groups to take off
    why: dict[str, str]  # role key -> why it is attached or detached

    def groups_after(self, ids: dict[str, str]) -> list[str]:
        """The interface's full group list afterwards (EC2 takes the whole list): its groups in their order, less
        the detached ones, plus the attached ones. `ids`: role key -> group ID."""
        gone = {ids[r] for r in self.detach}
        kept = [g for g in self.machine.group_ids if g not in gone]
        return kept + [ids[r] for r in self.attach if ids[r] not in kept]


def selects(members: AwsMembers, machine: Machine) -> bool:
    if machine.id in members.network_interface_ids or machine.instance_id in members.instance_ids:
        return True
    tags = dict(machine.tags)
    return bool(members.tags) and all(tags.get(k) == v for k, v in members.tags.items())


def unmatched(desired: AwsState, machines: dict[str, Machine]) -> list[str]:
    """Notes for machines a role names by ID that are not in the VPC."""
    instances = {m.instance_id for m in machines.values()}
    notes = []
    for role, members in desired.members.items():
        missing = [i for i in members.instance_ids if i not in instances]
        missing += [i for i in members.network_interface_ids if i not in machines]
        if missing:
            notes.append(
                f"role {role}: members.aws names {', '.join(missing)}, not found in {desired.vpc_id}; "
                "nothing is attached to them"
            )
    return notes


def regroups(desired: AwsState, live: LiveState, destroying: bool = False) -> list[Regroup]:
    """The membership changes, interface by interface (sorted by interface ID)."""
    key_of = {g.id: key for key, g in live.groups.items()}
    machines = live.state.machines
    out = []
    for machine in sorted(machines.values(), key=lambda m: m.id):
        have = {key_of[g] for g in machine.group_ids if g in key_of}
        want = set() if destroying else _selected_roles(desired, machine)
        why: dict[str, str] = {}
        for role in sorted(want - have):
            why[role] = f"selected by role {role}'s members.aws"
        for role in sorted(have - want):
            if destroying:
                why[role] = "destroy"
            elif role not in desired.groups:
                why[role] = "the spec has no such role"
            elif role in desired.members:
                why[role] = f"not selected by role {role}'s members.aws"
        attach = tuple(r for r in sorted(want - have))
        detach = tuple(r for r in sorted(have - want) if r in why)
        if attach or detach:
            out.append(Regroup(machine, attach, detach, why))
    return out


def _selected_roles(desired: AwsState, machine: Machine) -> set[str]:
    return {role for role, members in desired.members.items() if selects(members, machine)}


def quota_problems(desired: AwsState, changes: list[Regroup]) -> list[str]:
    """Interfaces that would carry more groups than the quota allows (AWS refuses the call)."""
    limit = desired.max_groups_per_interface
    problems = []
    for change in changes:
        count = len(set(change.machine.group_ids)) + len(change.attach) - len(change.detach)
        if count > limit:
            problems.append(
                f"{change.machine.label} would carry {count} security groups (adding "
                f"{', '.join(change.attach)}); the quota is {limit} per network interface"
            )
    return problems


QUOTA_HINT = (
    f"raise AWS quota {QUOTA_CODE} ('Security groups per network interface', at most 16; rules per group times "
    "groups per interface may not exceed 1,000) and set targets.aws.max_groups_per_interface, or take groups off "
    "the machine, or select it in fewer roles"
)
