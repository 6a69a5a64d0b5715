"""Desired vs live Azure state -> what has to change, as cloudports' cloud-neutral Plan.

Rules are matched by name (Azure's key for a rule inside an NSG). A rule the spec has and the NSG lacks is
added, a live rule the spec does not have is removed (cloudports owns the tagged NSG, so a rule added by hand
is drift), and a rule on both sides that differs in anything (content, priority, description) is changed in
place by one PUT, keeping its name.

Priorities: a rule keeps its live priority (so an unchanged rule is never rewritten) as long as that priority is
one cloudports could have given it. cloudports places a rule at its home slot or, when that is taken, at the
next free one (priorities.py); so every slot between a rule's home and its priority is occupied. A rule moved
by hand breaks that (its old slot is now free) and is reported as changed, with the slot it belongs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.membership import Regroup, membership_changes
from cloudports.live.plan import Change, Kept, Plan, cloud_fields
from cloudports.targets.azure.arm import ArmSettings
from cloudports.targets.azure.members import region_problems, regroups, unmatched, vnet_problems
from cloudports.targets.azure.model import Asg, AzureState, LiveAsg, LiveNsg, LiveState, Nic, Nsg, NsgRule, SubnetRef
from cloudports.targets.azure.normalise import location_key
from cloudports.targets.azure.rows import rule_summary
from cloudports.targets.ownership import TagChange, tag_change

NSG = "nsg"
ASG = "asg"
RULE = "rule"
SUBNET = "subnet association"


# ------------------------------------------------------------------------------------------------- diff


def asg_names(desired: AzureState, live: LiveState) -> dict[str, str]:
    """Role key -> ASG name, for readable summaries."""
    return {**{k: a.name for k, a in live.asgs.items()}, **{k: a.name for k, a in desired.asgs.items()}}


_FIELDS = (
    ("priority", "priority"),
    ("direction", "direction"),
    ("access", "access"),
    ("protocol", "protocol"),
    ("destination_ports", "destination ports"),
    ("source_ports", "source ports"),
    ("source_prefixes", "source prefixes"),
    ("source_asgs", "source ASGs"),
    ("destination_prefixes", "destination prefixes"),
    ("destination_asgs", "destination ASGs"),
    ("description", "description"),
)


def _show(value: Any) -> str:
    return ",".join(value) or "-" if isinstance(value, tuple) else repr(value) if isinstance(value, str) else str(value)


def rule_differences(have: NsgRule, want: NsgRule) -> str:
    """'priority 3000 -> 177; destination ports 80 -> 80,443' (empty when equal)."""
    parts = []
    for attr, label in _FIELDS:
        a, b = getattr(have, attr), getattr(want, attr)
        if a != b:
            parts.append(f"{label} {_show(a)} -> {_show(b)}")
    return "; ".join(parts)


def rule_dict(rule: NsgRule) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cloud_fields(rule).items()}


@dataclass
class NsgDiff:
    """What changes in one of the spec's NSGs: created (with every rule inline), or tags and rules fixed."""

    want: Nsg
    live: LiveNsg | None  # None: to be created
    live_rules: dict[str, NsgRule] = field(default_factory=dict)
    tag: TagChange | None = None
    add: list[NsgRule] = field(default_factory=list)
    change: list[tuple[NsgRule, NsgRule, str]] = field(default_factory=list)  # desired, live, why
    remove: list[NsgRule] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.want.name

    @property
    def writes(self) -> int:
        return len(self.add) + len(self.change) + len(self.remove)


@dataclass
class AzureDiff:
    desired: AzureState
    live: LiveState
    settings: ArmSettings
    nsgs: list[NsgDiff] = field(default_factory=list)  # one per NSG of the spec, in name order
    create_asgs: list[Asg] = field(default_factory=list)
    tag_asgs: list[tuple[LiveAsg, TagChange]] = field(default_factory=list)
    delete_asgs: list[LiveAsg] = field(default_factory=list)
    associate: list[tuple[SubnetRef, str]] = field(default_factory=list)  # (subnet, name of its NSG)
    dissociate: list[SubnetRef] = field(default_factory=list)  # destroy only
    # destroy; and on apply with one NSG per subnet, owned NSGs the spec no longer has (after re-associations)
    delete_nsgs: list[LiveNsg] = field(default_factory=list)
    regroups: list[Regroup[Nic]] = field(default_factory=list)  # NICs whose cloudports ASGs change
    kept: list[tuple[str, NsgRule]] = field(default_factory=list)  # (NSG, live rule) targets.azure.unmanaged keeps
    notes: list[str] = field(default_factory=list)
    destroying: bool = False

    def _gone(self, asg: LiveAsg) -> str:
        if self.destroying:
            return ""
        role = asg.key.split("@", 1)[0]
        return "not the ASG the spec names for this role" if role in self.desired.asgs else "the spec has no such role"

    @property
    def empty(self) -> bool:
        return not self.plan().changes

    def _nsg_changes(self) -> list[Change]:
        d = self.desired
        changes = []
        for n in self.nsgs:
            if n.live is None:
                after = {"name": n.name, "location": d.location, "tags": d.tags}
                changes.append(
                    Change("add", NSG, n.name, f"in {self.settings.resource_group}, {d.location}", None, after)
                )
            elif n.tag:
                before, after = {"id": n.live.id, "tags": n.live.tags}, {"tags": n.tag.after}
                changes.append(Change("change", NSG, n.name, n.live.id, before, after, n.tag.why))
        return changes

    def _rule_changes(self, names: dict[str, str]) -> list[Change]:
        """Rules are named by their own name with one NSG, 'nsg/rule' with one per subnet."""
        split = self.desired.split
        changes: list[Change] = []
        for n in self.nsgs:
            at = (lambda r, n=n: f"{n.name}/{r.name}") if split else (lambda r: r.name)
            changes += [Change("add", RULE, at(r), rule_summary(r, names), None, rule_dict(r)) for r in n.add]
            changes += [
                Change("change", RULE, at(want), rule_summary(want, names), rule_dict(have), rule_dict(want), why)
                for want, have, why in n.change
            ]
            changes += [Change("remove", RULE, at(r), rule_summary(r, names), rule_dict(r), None) for r in n.remove]
        return changes

    def plan(self) -> Plan:
        d, names = self.desired, asg_names(self.desired, self.live)
        changes = self._nsg_changes()
        changes += [
            Change("add", ASG, a.name, f"role {a.role}", None, {"name": a.name, "tags": dict(a.tags)})
            for a in self.create_asgs
        ]
        changes += [
            Change("change", ASG, a.name, f"role {a.key}", {"id": a.id, "tags": a.tags}, {"tags": c.after}, c.why)
            for a, c in self.tag_asgs
        ]
        changes += self._rule_changes(names)
        changes += [
            Change("add", SUBNET, s.key, _association(nsg, s), {"nsg": s.nsg_id}, {"nsg": nsg})
            for s, nsg in self.associate
        ]
        changes += [
            Change("remove", SUBNET, s.key, f"detach {_last(s.nsg_id)}", {"nsg": s.nsg_id}, None)
            for s in self.dissociate
        ]
        for regroup in self.regroups:
            before = {"nic": regroup.machine.id, "asgs": sorted(regroup.machine.asg_ids)}
            changes += membership_changes(regroup, names, before, group="application security group")
        why = "" if self.destroying else "the spec no longer has it (its subnets are associated with their NSG first)"
        changes += [
            Change("remove", NSG, n.name, f"{n.id} with {n.rule_count} rules", {"id": n.id, "tags": n.tags}, None, why)
            for n in self.delete_nsgs
        ]
        changes += [
            Change("remove", ASG, a.name, f"{a.id} (role {a.key})", {"id": a.id, "tags": a.tags}, None, self._gone(a))
            for a in self.delete_asgs
        ]
        kept = [Kept(RULE, f"{nsg}/{r.name}", rule_summary(r, names)) for nsg, r in self.kept]
        return Plan("azure", d.topology, self.settings.scope, changes, list(self.notes), kept)


def _last(resource_id: str | None) -> str:
    return (resource_id or "").rstrip("/").rsplit("/", 1)[-1]


def _association(nsg: str, subnet: SubnetRef) -> str:
    return f"associate with {nsg}" + (f" (instead of {_last(subnet.nsg_id)})" if subnet.nsg_id else "")


def nsg_id(settings: ArmSettings, name: str) -> str:
    return (
        f"/subscriptions/{settings.subscription}/resourceGroups/{settings.resource_group}"
        f"/providers/Microsoft.Network/networkSecurityGroups/{name}"
    )


def _subnets(result: AzureDiff) -> None:
    """Associate every subnet the spec names with its NSG; never take a subnet from an NSG cloudports does not own."""
    live = result.live
    owned = live.owned_nsg_ids()
    problems = []
    for n in result.nsgs:
        target = (n.live.id if n.live else nsg_id(result.settings, n.name)).lower()
        for subnet in (live.subnets[key] for key in dict.fromkeys(s.key for s in n.want.subnets)):
            current = (subnet.nsg_id or "").lower()
            if current == target:
                continue
            if not current or current in owned:
                result.associate.append((subnet, n.name))
                continue
            problems.append(
                Diagnostic(
                    None,
                    f"azure: subnet {subnet.key} is associated with network security group "
                    f"{_last(subnet.nsg_id)}, which cloudports does not own for topology "
                    f"'{result.desired.topology}'; it will not be taken over",
                    "remove that association yourself (or remove the subnet from targets.azure.subnets)",
                )
            )
    if problems:
        raise CloudportsError(problems)


def diff(desired: AzureState, live: LiveState, settings: ArmSettings) -> AzureDiff:
    result = AzureDiff(desired, live, settings)
    for want in desired.nsgs.values():
        nsg = live.nsgs.get(want.name)
        result.nsgs.append(_diff_rules(NsgDiff(want, nsg, live.rules(want.name))))
        if nsg is None:
            continue
        result.kept += [(want.name, rule) for _, rule in sorted(want.kept.items())]
        result.notes += _kept_but_gone(want)
        result.nsgs[-1].tag = tag_change(desired.tags, nsg.tags, nsg.adopt, desired.topology)
        if location_key(nsg.location) != location_key(desired.location):
            result.notes.append(
                f"network security group {nsg.name} is in {nsg.location}, the spec says {desired.location}; "
                "Azure cannot move it (destroy and apply again to re-create it)"
            )
    _others(result)

    for role, asg in desired.asgs.items():
        have = live.asgs.get(role)
        if have is None:
            result.create_asgs.append(asg)
            continue
        if location_key(have.location) != location_key(desired.location):
            result.notes.append(
                f"application security group {have.name} is in {have.location}, the spec says {desired.location}; "
                "Azure refuses rules that use an ASG of another region (destroy and apply again to re-create it)"
            )
        if change := tag_change(dict(asg.tags), have.tags, have.adopt, desired.topology):
            result.tag_asgs.append((have, change))
    result.delete_asgs = [a for key, a in live.asgs.items() if key not in desired.asgs]

    _subnets(result)
    rg = settings.resource_group
    result.regroups = regroups(desired, live, rg)
    result.notes += unmatched(desired, live.state.machines, rg) if desired.members else []
    placing = region_problems(desired, result.regroups) + vnet_problems(live, result.regroups)
    result.notes += [f"{p}: apply refuses this" for p in placing]
    return result


def _kept_but_gone(nsg: Nsg) -> list[str]:
    """The rules targets.azure.unmanaged names in an NSG that has no such rule."""
    found = {name.lower() for name in nsg.kept}
    return [
        f"rule {n} in {nsg.name}: listed in targets.azure.unmanaged, but the NSG has no such rule"
        for n in nsg.unmanaged
        if n not in found
    ]


def _others(result: AzureDiff) -> None:
    """Owned NSGs the spec does not name. With one NSG they are left alone (an older spec's, say, with its own
    subnets); with one NSG per subnet they are what an earlier split left, deleted once no subnet of the spec
    uses them (apply associates first) and none outside it does."""
    live, desired = result.live, result.desired
    if not desired.split:
        result.notes += [
            f"network security group {other.name} is tagged for topology '{desired.topology}' but the spec names "
            f"{desired.nsg.name}; left alone (destroy removes it)"
            for other in live.other_nsgs
        ]
        return
    spec_subnets = {s.id.lower() for s in live.subnets.values()}
    for other in live.other_nsgs:
        foreign = [sid for sid in other.subnet_ids if sid.lower() not in spec_subnets]
        if other.adopt or foreign:
            result.notes.append(_stays(other, foreign))
        else:
            result.delete_nsgs.append(other)


def _stays(nsg: LiveNsg, foreign: list[str]) -> str:
    return (
        f"network security group {nsg.name} stays: it is also associated with "
        + ", ".join(sid.split("/virtualNetworks/", 1)[-1] for sid in foreign)
        + ", which the spec does not name (and so neither do its ASGs)"
    )


def _diff_rules(result: NsgDiff) -> NsgDiff:
    """Rules by name: missing ones added, extra ones removed, any difference (priority included) updated."""
    want, live = result.want.rules, result.live_rules
    for name, rule in want.items():
        have = live.get(name)
        if have is None:
            result.add.append(rule)
        elif have != rule:
            result.change.append((rule, have, rule_differences(have, rule)))
    result.remove = [r for name, r in live.items() if name not in want]
    return result


def destroy_diff(desired: AzureState, live: LiveState, settings: ArmSettings) -> AzureDiff:
    """Everything cloudports owns for this topology: its NSG(s) (rules go with them) and ASGs.

    A subnet is detached only when the spec names it (cloudports associated it); an NSG still associated with
    another subnet is left, and said so.
    """
    result = AzureDiff(desired, live, settings, destroying=True)
    owned = [n for n in (*live.nsgs.values(), *live.other_nsgs) if not n.adopt]
    spec_subnets = {s.id.lower(): s for s in live.subnets.values()}
    for nsg in owned:
        foreign = [sid for sid in nsg.subnet_ids if sid.lower() not in spec_subnets]
        result.dissociate += [spec_subnets[sid.lower()] for sid in nsg.subnet_ids if sid.lower() in spec_subnets]
        if foreign:
            result.notes.append(_stays(nsg, foreign))
        else:
            result.delete_nsgs.append(nsg)
    result.delete_asgs = [a for a in live.asgs.values() if not a.adopt]
    result.regroups = regroups(desired, live, settings.resource_group, destroying=True)
    if result.dissociate:
        result.notes.append("a subnet left without a network security group lets all traffic through")
    return result
