"""A role whose rules outgrow one security group's quota spreads over several groups: web, web-2, web-3, ...

AWS counts rules per group, direction and address family (targets.aws.max_rules_per_group, quota L-0EA8095F).
Each such bucket of a role is sorted by rule key and cut into quota-sized slices: slice n goes to the role's n-th
group. Every group of a role is attached to every machine of the role (members), and other groups' rules
reference the role's first group, which every machine of the role carries - so the split changes where rules sit,
never what is allowed. The slicing is deterministic (the same spec gives the same groups in any order); adding a
rule can move the last rules of a slice into the next group, which apply does additions first, so no flow is
blocked meanwhile (diff.schedule).

Rules the spec keeps unmanaged (targets.aws.unmanaged) sit on a role's first group and count against its quota
too: they take the first slots of that group's slice.

A machine can carry only so many groups (targets.aws.max_groups_per_interface, quota L-2AFB9258): a role needing
more parts than that is refused, with both quotas named.
"""

from __future__ import annotations

from collections import Counter, defaultdict
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


def _kept(state: AwsState) -> Counter[tuple[str, str, int]]:
    """How many kept live rules sit in each (role, direction, family) bucket of a role's first group, read off their
    keys (`<role>/<in|out>/<protocol>/<ports>/<peer>`). A group or prefix-list reference counts as one IPv4 rule, as
    for the spec's own rules (a customer-managed prefix list really costs its maximum entries, not known offline)."""
    found: Counter[tuple[str, str, int]] = Counter()
    for key in state.unmanaged:
        role, way, *_rest, peer = key.split("/", 4)
        family = 6 if peer.startswith("cidr:") and ":" in peer.removeprefix("cidr:") else 4
        found[(role, "ingress" if way == "in" else "egress", family)] += 1
    return found


def _groups_for(count: int, per_group: int) -> int:
    """How many groups of per_group rules hold count rules (rounded up)."""
    return -(-count // per_group)


def split_roles(state: AwsState, limit: int, max_parts: int) -> None:
    """Spread each role's rules over as many groups as its largest bucket needs (in place)."""
    buckets, kept = _buckets(state), _kept(state)
    parts: dict[str, int] = defaultdict(lambda: 1)
    for bucket, rules in buckets.items():
        parts[bucket[0]] = max(parts[bucket[0]], _groups_for(len(rules) + kept[bucket], limit))
    _refuse_too_many(buckets, kept, parts, limit, max_parts)
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
    for (role, direction, family), in_bucket in buckets.items():
        taken = kept[(role, direction, family)]  # the first group's slots the kept rules hold
        for i, rule in enumerate(sorted(in_bucket, key=lambda r: r.key), start=taken):
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
    buckets: dict[tuple[str, str, int], list[SgRule]],
    kept: Counter[tuple[str, str, int]],
    parts: dict[str, int],
    limit: int,
    max_parts: int,
) -> None:
    problems = []
    for bucket, rules in sorted(buckets.items()):
        role, direction, family = bucket
        count = len(rules) + kept[bucket]
        if parts[role] > max_parts and _groups_for(count, limit) == parts[role]:
            way = "inbound" if direction == "ingress" else "outbound"
            need = _groups_for(count, max_parts)  # rules per group for max_parts groups
            with_kept = f" (with {kept[bucket]} kept unmanaged)" if kept[bucket] else ""
            problems.append(
                Diagnostic(
                    None,
                    f"aws: role '{role}' needs {count} {way} IPv{family} rules{with_kept}: {parts[role]} security "
                    f"groups of {limit} rules each, more than the {max_parts} a machine can carry",
                    f"raise AWS quota {QUOTA_CODE} ('Inbound or outbound rules per security group'), e.g. "
                    f"`aws service-quotas request-service-quota-increase --service-code vpc --quota-code {QUOTA_CODE} "
                    f"--desired-value {max(need, 100)}`, then set targets.aws.max_rules_per_group: {max(need, 100)} "
                    "(or raise targets.aws.max_groups_per_interface, quota L-2AFB9258); or narrow the flows into "
                    f"'{role}'",
                )
            )
    if problems:
        raise CloudportsError(problems)
