"""A role whose rules outgrow one security group's quota spreads over several groups: web, web-2, web-3, ...

AWS counts rules per group, direction and address family (targets.aws.max_rules_per_group, quota L-0EA8095F).
Each such bucket of a role is sorted by rule key and cut into quota-sized slices: slice n goes to the role's n-th
group. Every group of a role is attached to every machine of the role (members), and other groups' rules
reference the role's first group, which every machine of the role carries - so the split changes where rules sit,
never what is allowed. The slicing is deterministic (the same spec gives the same groups in any order); adding a
rule can move the last rules of a slice into the next group, which apply does additions first, so no flow is
blocked meanwhile (diff.schedule).

A machine can carry only so many groups (targets.aws.max_groups_per_interface, quota L-2AFB9258): a role needing
more parts than that is refused, with both quotas named.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets.aws.model import PART_TAG, AwsState, SecurityGroup, SgRule, part_key
from cloudports.targets.aws.text import aws_description

QUOTA_CODE = "L-0EA8095F"  # "Inbound or outbound rules per security group"


def _buckets(state: AwsState) -> dict[tuple[str, str, int], list[SgRule]]:
    found: dict[tuple[str, str, int], list[SgRule]] = defaultdict(list)
    for rule in state.rules.values():
        found[(rule.group, rule.direction, rule.family)].append(rule)
    return found


def _groups_for(count: int, per_group: int) -> int:
    """How many groups of per_group rules hold count rules (rounded up)."""
    return -(-count // per_group)


def split_roles(state: AwsState, limit: int, max_parts: int) -> None:
    """Spread each role's rules over as many groups as its largest bucket needs (in place)."""
    buckets = _buckets(state)
    parts: dict[str, int] = defaultdict(lambda: 1)
    for (role, _direction, _family), rules in buckets.items():
        parts[role] = max(parts[role], _groups_for(len(rules), limit))
    _refuse_too_many(buckets, parts, limit, max_parts)
    split = {role: n for role, n in parts.items() if n > 1}
    if not split:
        return
    for role, n in split.items():
        _refuse_name_clash(state, role, n)
        first = state.groups[role]
        for part in range(2, n + 1):
            key = part_key(role, part)
            tags = dict(first.tags) | {PART_TAG: str(part), "Name": f"{first.name}-{part}"}
            state.groups[key] = SecurityGroup(
                role,
                f"{first.name}-{part}",
                aws_description(f"{first.description} part {part}"),
                tuple(sorted(tags.items())),
                part,
            )
    placed: dict[str, SgRule] = {}
    for (role, _direction, _family), bucket in buckets.items():
        for i, rule in enumerate(sorted(bucket, key=lambda r: r.key)):
            moved = replace(rule, group=part_key(role, i // limit + 1)) if role in split else rule
            placed[moved.key] = moved
            if moved.key != rule.key and rule.key in state.rule_origins:
                state.rule_origins[moved.key] = state.rule_origins.pop(rule.key)
    state.rules = dict(sorted(placed.items()))
    state.groups = dict(sorted(state.groups.items()))


def _refuse_name_clash(state: AwsState, role: str, parts: int) -> None:
    for part in range(2, parts + 1):
        if part_key(role, part) in state.groups:
            raise CloudportsError(
                [
                    Diagnostic(
                        None,
                        f"aws: role '{role}' needs {parts} security groups, and its group '{part_key(role, part)}' "
                        "would have the name of another role",
                        f"rename role '{part_key(role, part)}', or raise targets.aws.max_rules_per_group",
                    )
                ]
            )


def _refuse_too_many(
    buckets: dict[tuple[str, str, int], list[SgRule]], parts: dict[str, int], limit: int, max_parts: int
) -> None:
    problems = []
    for (role, direction, family), rules in sorted(buckets.items()):
        if parts[role] > max_parts and _groups_for(len(rules), limit) == parts[role]:
            way = "inbound" if direction == "ingress" else "outbound"
            need = _groups_for(len(rules), max_parts)  # rules per group for max_parts groups
            problems.append(
                Diagnostic(
                    None,
                    f"aws: role '{role}' needs {len(rules)} {way} IPv{family} rules: {parts[role]} security groups "
                    f"of {limit} rules each, more than the {max_parts} a machine can carry",
                    f"raise AWS quota {QUOTA_CODE} ('Inbound or outbound rules per security group'), e.g. "
                    f"`aws service-quotas request-service-quota-increase --service-code vpc --quota-code {QUOTA_CODE} "
                    f"--desired-value {max(need, 100)}`, then set targets.aws.max_rules_per_group: {max(need, 100)} "
                    "(or raise targets.aws.max_groups_per_interface, quota L-2AFB9258); or narrow the flows into "
                    f"'{role}'",
                )
            )
    if problems:
        raise CloudportsError(problems)
