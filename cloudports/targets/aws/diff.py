"""Desired vs live AWS state -> what has to change, as cloudports' cloud-neutral Plan.

Rules are compared by SgRule.key (group, direction, protocol, ports, peer): a rule whose key is missing is
added, a live rule with a key the spec does not have is removed, and a rule present on both sides whose
description differs is changed in place. Rule tags are not compared, so drift is about what traffic is
allowed, not about which tool created a rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cloudports.live.membership import Regroup, membership_changes
from cloudports.live.plan import Change, Kept, Plan, cloud_fields
from cloudports.targets.aws.build import admits_all
from cloudports.targets.aws.members import QUOTA_HINT, quota_problems, regroups, unmatched
from cloudports.targets.aws.model import AwsState, LiveGroup, LiveState, Machine, SecurityGroup, SgRule, open_egress
from cloudports.targets.aws.moves import interleave
from cloudports.targets.aws.order import Schedule, Step, order_group
from cloudports.targets.aws.rows import rule_summary
from cloudports.targets.ownership import TagChange, tag_change

GROUP = "security group"
RULE = "rule"


def group_tags(desired: AwsState, group: SecurityGroup) -> dict[str, str]:
    """The tags a group carries: the spec's common tags plus its role and Name (as the Terraform module sets)."""
    return {**desired.common_tags, **group.tag_dict}


def _rule_dict(rule: SgRule, rule_id: str | None = None) -> dict[str, Any]:
    data = {k: v for k, v in cloud_fields(rule).items() if v is not None}
    return {**data, "rule_id": rule_id} if rule_id else data


@dataclass
class AwsDiff:
    desired: AwsState
    live: LiveState
    create_groups: list[SecurityGroup] = field(default_factory=list)
    tag_groups: list[tuple[LiveGroup, TagChange]] = field(default_factory=list)
    delete_groups: list[LiveGroup] = field(default_factory=list)
    add: list[SgRule] = field(default_factory=list)
    change: list[tuple[SgRule, SgRule, str]] = field(default_factory=list)  # desired, live, rule ID
    remove: list[tuple[SgRule, str]] = field(default_factory=list)  # live rule, rule ID
    regroups: list[Regroup[Machine]] = field(default_factory=list)  # interfaces whose cloudports groups change
    kept: list[SgRule] = field(default_factory=list)  # live rules the spec lists as unmanaged: left as they are
    notes: list[str] = field(default_factory=list)
    destroying: bool = False

    @property
    def names(self) -> dict[str, str]:
        """Group key -> AWS group name, for readable summaries."""
        return {
            **{k: g.name for k, g in self.live.groups.items()},
            **{k: g.name for k, g in self.desired.groups.items()},
        }

    def plan(self) -> Plan:
        names = self.names
        changes = [
            Change("add", GROUP, g.name, f"role {g.role}: {g.description}", after=_group_dict(self.desired, g))
            for g in self.create_groups
        ]
        changes += [
            Change(
                "change",
                GROUP,
                g.name,
                f"{g.id} (role {g.key})",
                {"id": g.id, "tags": g.tags},
                {"tags": c.after},
                c.why,
            )
            for g, c in self.tag_groups
        ]
        changes += [
            Change(
                "remove",
                GROUP,
                g.name,
                f"{g.id} (role {g.key})",
                {"id": g.id, "tags": g.tags},
                None,
                "destroy" if self.destroying else _gone(g),
            )
            for g in self.delete_groups
        ]
        changes += [Change("add", RULE, r.key, rule_summary(r, names), after=_rule_dict(r)) for r in self.add]
        changes += [
            Change(
                "change",
                RULE,
                want.key,
                rule_summary(want, names),
                _rule_dict(have, rule_id),
                _rule_dict(want, rule_id),
                f"description {have.description!r} -> {want.description!r}",
            )
            for want, have, rule_id in self.change
        ]
        changes += [
            Change("remove", RULE, _removal_name(self.live, r, rule_id), rule_summary(r, names), _rule_dict(r, rule_id))
            for r, rule_id in self.remove
        ]
        for regroup in self.regroups:
            machine = regroup.machine
            before = {"interface": machine.id, "instance": machine.instance_id, "groups": list(machine.group_ids)}
            changes += membership_changes(regroup, names, before)
        scope = f"{self.desired.vpc_id} ({self.desired.region})"
        kept = [Kept(RULE, r.key, rule_summary(r, names)) for r in self.kept]
        return Plan("aws", self.desired.topology, scope, changes, list(self.notes), kept)


def _group_dict(desired: AwsState, group: SecurityGroup) -> dict[str, Any]:
    return {"name": group.name, "description": group.description, "tags": group_tags(desired, group)}


def _gone(group: LiveGroup) -> str:
    return "the spec has no such role" if "@" not in group.key else "a second group tagged with the same role"


def _removal_name(live: LiveState, rule: SgRule, rule_id: str) -> str:
    # A duplicate (same key as another live rule) is named by its rule ID so both stay distinguishable.
    return rule.key if live.rule_ids.get(rule.key) == rule_id else f"{rule.key} [{rule_id}]"


def diff(desired: AwsState, live: LiveState) -> AwsDiff:
    result = AwsDiff(desired, live)
    for role, group in desired.groups.items():
        have = live.groups.get(role)
        if have is None:
            result.create_groups.append(group)
            continue
        if change := tag_change(group_tags(desired, group), have.tags, have.adopt, desired.topology):
            result.tag_groups.append((have, change))
        # AWS cannot rename a group; replacing it would detach it from instances. A group's description is not
        # compared: an adopted group keeps its own (the role's description is in a tag), as does one an older
        # cloudports described after the stable part.
        if group.name != have.name:
            result.notes.append(
                f"security group {have.name} ({have.id}): name is {have.name!r}, the spec says {group.name!r}; AWS "
                "cannot change a group's name in place (destroy and apply again to replace the group)"
            )
    result.delete_groups = [g for key, g in live.groups.items() if key not in desired.groups]

    _diff_rules(result)
    result.regroups = regroups(desired, live)
    result.notes += unmatched(desired, live.state.machines) if desired.members else []
    result.notes += _membership_notes(desired, live, result.regroups)
    for role, direction, blocked in schedule(result).gaps:
        shown = ", ".join(r.key for r in blocked[:3]) + (f" and {len(blocked) - 3} more" if len(blocked) > 3 else "")
        result.notes.append(
            f"security group {result.names.get(role, role)} {direction}: no order of API calls avoids blocking "
            f"declared flows while its rules are replaced (the group is at its quota of {desired.max_rules} rules "
            f"and these cannot be made by changing a rule in place: {shown}); apply refuses this unless run with "
            "--allow-gap"
        )

    if result.create_groups:
        fate = (
            "apply removes it right after creating the group (strict egress)"
            if desired.egress == "strict"
            else "apply keeps it and gives it the spec's description"
        )
        rules = "0.0.0.0/0 and ::/0 in this VPC with IPv6" if live.vpc_has_ipv6 else "0.0.0.0/0"
        result.notes.append(f"AWS gives every new security group an allow-all egress rule ({rules}); {fate}")
    return result


def _membership_notes(desired: AwsState, live: LiveState, changes: list[Regroup[Machine]]) -> list[str]:
    notes = [f"{problem}: apply refuses this; {QUOTA_HINT}" for problem in quota_problems(desired, changes)]
    notes += [
        f"{r.machine.label} keeps no other security group: apply gives it the VPC's default group (EC2 requires one)"
        for r in changes
        if not r.attach and set(r.machine.group_ids) <= {live.groups[k].id for k in r.detach}
    ]
    return notes


def _diff_rules(result: AwsDiff) -> None:
    """Rules by key: missing ones added, extra ones (and duplicates of a key) removed, descriptions updated."""
    live = result.live
    kept_live = [live.state.rules[k] for k in sorted(result.desired.unmanaged) if k in live.state.rules]
    for key, want in result.desired.rules.items():
        have = live.state.rules.get(key)
        if have is None:
            if not _needless(result.desired, live, want, kept_live):
                result.add.append(want)
        elif have.description != want.description and not _default_egress_kept(result.desired, live, want, have):
            result.change.append((want, have, live.rule_ids[key]))
    extra = {k: r for k, r in live.state.rules.items() if k not in result.desired.rules}
    result.kept = [r for k, r in extra.items() if k in result.desired.unmanaged]
    result.remove = [(r, live.rule_ids[k]) for k, r in extra.items() if k not in result.desired.unmanaged]
    result.remove += live.duplicates
    result.notes += [
        f"rule {key} is on the spec's list of rules kept, not managed (targets.aws.unmanaged), but is not there: "
        "what it allowed is no longer allowed (cloudports does not write it back); take it off the list"
        for key in sorted(result.desired.unmanaged - live.state.rules.keys())
        if key.split("/")[0] in live.groups
    ]


def _needless(desired: AwsState, live: LiveState, want: SgRule, kept: list[SgRule]) -> bool:
    """A missing rule whose writing would decide no packet: open egress to ::/0 in a VPC without IPv6 (AWS's
    default egress there is IPv4 only, and a lab adopted with it is left as it is), or a rule that a live rule
    the spec keeps unmanaged already admits (same group, direction and peer; that rule stays)."""
    if live.vpc_has_ipv6 is False and desired.egress == "open" and want == open_egress(want.group)[1]:
        return True
    return any(
        (r.group, r.direction, r.peer) == (want.group, want.direction, want.peer) and admits_all(r, want) for r in kept
    )


def _default_egress_kept(desired: AwsState, live: LiveState, want: SgRule, have: SgRule) -> bool:
    """AWS's default allow-all egress of a group cloudports did not create (an adopted lab's) keeps its blank
    description: open egress is exactly that rule, and adopting writes nothing but tags."""
    group, mine = live.groups.get(want.group), desired.groups.get(want.group)
    lab_made = group is not None and mine is not None and group.description != mine.description
    return lab_made and have.description == "" and want in open_egress(want.group)


def schedule(d: AwsDiff) -> Schedule:
    """The rule additions and removals as write calls, group by group, in an order that blocks no declared flow
    (order.py); where no order can avoid it, the schedule lists the gap."""
    adds: dict[tuple[str, str], list[SgRule]] = defaultdict(list)
    removes: dict[tuple[str, str], list[tuple[SgRule, str]]] = defaultdict(list)
    for rule in d.add:
        adds[(rule.group, rule.direction)].append(rule)
    for rule, rule_id in d.remove:
        removes[(rule.group, rule.direction)].append((rule, rule_id))
    out = Schedule()
    units: list[list[Step]] = []
    for group, direction in sorted(adds.keys() | removes.keys()):
        want = d.desired.rules_of(group, direction)
        have = d.live.state.rules_of(group, direction)
        have += [r for r, _ in d.live.duplicates if (r.group, r.direction) == (group, direction)]
        part = order_group(
            group, direction, (want, have), adds[(group, direction)], removes[(group, direction)], d.desired.max_rules
        )
        units.append(part.steps)
        out.gaps += part.gaps
    # a rule moving between two groups of a split role is added to its new group before it leaves the old one
    out.steps = interleave(units, d.desired, d.live.state)
    return out


def destroy_diff(desired: AwsState, live: LiveState) -> AwsDiff:
    """Everything this spec owns in the VPC: its groups and, with them, their rules."""
    result = AwsDiff(desired, live, destroying=True)
    result.delete_groups = list(live.groups.values())
    result.remove = [(r, live.rule_ids[k]) for k, r in live.state.rules.items()] + live.duplicates
    result.regroups = regroups(desired, live, destroying=True)
    result.notes += _membership_notes(desired, live, result.regroups)
    if not live.groups:
        result.notes.append(
            f"nothing to destroy: no security group of {desired.identity} (cloudports:spec) in {desired.vpc_id}"
        )
    return result
