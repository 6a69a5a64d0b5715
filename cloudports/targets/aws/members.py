"""Which network interfaces carry which role's security group: the spec's `members.aws` against the VPC (the
rules are cloud-neutral: live/membership.py)."""

from __future__ import annotations

from cloudports.live.membership import Regroup, Roles, tags_match
from cloudports.live.membership import regroups as neutral_regroups
from cloudports.targets.aws.model import AwsState, LiveState, Machine
from cloudports.targets.aws.settings import AwsMembers

QUOTA_CODE = "L-2AFB9258"  # "Security groups per network interface"


def groups_after(change: Regroup[Machine], ids: dict[str, str]) -> list[str]:
    """The interface's full group list afterwards (EC2 takes the whole list): its groups in their order, less the
    detached ones, plus the attached ones. `ids`: role key -> group ID."""
    gone = {ids[r] for r in change.detach}
    kept = [g for g in change.machine.group_ids if g not in gone]
    return kept + [ids[r] for r in change.attach if ids[r] not in kept]


def selects(members: AwsMembers, machine: Machine) -> bool:
    if machine.id in members.network_interface_ids or machine.instance_id in members.instance_ids:
        return True
    return tags_match(members.tags, machine.tags)


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


def regroups(desired: AwsState, live: LiveState, destroying: bool = False) -> list[Regroup[Machine]]:
    """The membership changes, interface by interface (sorted by interface ID)."""
    key_of = {g.id: key for key, g in live.groups.items()}
    # a role split over several groups (split.py) is carried as all of them
    roles = Roles(
        declared=set(desired.groups),
        selected=lambda m: {
            key for role, members in desired.members.items() if selects(members, m) for key in desired.parts(role)
        },
        managed={key for role in desired.members for key in desired.parts(role)},
        where="members.aws",
    )
    machines = sorted(live.state.machines.values(), key=lambda m: m.id)
    return neutral_regroups(machines, lambda m: {key_of[g] for g in m.group_ids if g in key_of}, roles, destroying)


def quota_problems(desired: AwsState, changes: list[Regroup[Machine]]) -> list[str]:
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
