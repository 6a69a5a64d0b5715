"""Carrying out an AWS plan with as few write calls as EC2 allows, in an order that never blocks a declared flow.

Order: create groups (tagged at creation) -> re-read (new groups' IDs and AWS's default egress rule) -> add rules
(one Authorize call per group and direction) -> update descriptions in place (one ModifySecurityGroupRules per
group) -> revoke rules by ID (batched per group and direction) -> delete groups the spec no longer has.
Adding before removing means a flow whose rule is replaced (e.g. a widened CIDR) is allowed throughout.

Every step can be interrupted: the next plan reads what is there and converges from it. A rule found already
present (InvalidPermission.Duplicate) is taken as done after re-reading the group; a rule found already gone
is skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.plan import Change, Plan, ensure_unchanged
from cloudports.live.progress import step as progressed
from cloudports.targets.aws.api import FILTER_VALUES, aws_errors, chunks, error_code, translate
from cloudports.targets.aws.diff import GROUP, AwsDiff, destroy_diff, diff, group_tags, schedule
from cloudports.targets.aws.groups import GroupMaker
from cloudports.targets.aws.members import QUOTA_HINT, groups_after, quota_problems
from cloudports.targets.aws.model import AwsState, LiveGroup, LiveState, SgRule
from cloudports.targets.aws.order import MODIFY_BATCH
from cloudports.targets.aws.read import describe_interfaces, describe_rules, normalise_rule
from cloudports.targets.aws.requests import aws_tags as _aws_tags
from cloudports.targets.aws.requests import ip_permissions, rule_request

REVOKE_BATCH = 500  # rule IDs per Revoke call
_GONE = ("InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound")
_GROUP_GONE = ("InvalidGroup.NotFound", "InvalidGroupId.NotFound")


def _rules_text(rules: list[SgRule]) -> str:
    shown = ", ".join(r.key for r in rules[:3])
    return shown + (f" and {len(rules) - 3} more" if len(rules) > 3 else "")


class Applier:
    def __init__(self, ec2: Any, desired: AwsState, read: Callable[[], LiveState], allow_gap: bool = False):
        self.ec2 = ec2
        self.desired = desired
        self.read = read
        self.allow_gap = allow_gap
        self.tags = _aws_tags(desired.common_tags)

    # ------------------------------------------------------------------------------------------ apply

    def apply(self, approved: Plan) -> Plan:
        first = diff(self.desired, self.read())
        shown = first.plan()
        ensure_unchanged(approved, shown)
        self._refuse_unsafe(first)
        done = [c for c in shown.changes if c.kind == GROUP and c.action != "remove"]
        current = first
        if first.create_groups or first.tag_groups:
            self._create_groups(first)
            self._tag_groups(first)
            current = diff(self.desired, self.read())  # the new groups' IDs
            if current.create_groups or current.tag_groups:
                raise CloudportsError("aws: new security groups did not show up when read back; run apply again")
            self._refuse_unsafe(current)
        self._rules(current)
        self._regroup(current)  # after the rules: a machine never runs on half its role's rules
        left = self._delete_groups(current.delete_groups)
        if left:
            raise CloudportsError(
                [Diagnostic(None, f"aws: {note}", "run apply again once that is resolved") for note in left.values()]
            )
        done += current.plan().changes
        return Plan("aws", self.desired.topology, approved.scope, done, current.notes, current.plan().kept)

    def _refuse_unsafe(self, d: AwsDiff) -> None:
        """Refuse, before any write, what AWS would refuse halfway (groups per interface) or what would block
        declared flows between two calls (a gap, unless allowed)."""
        if problems := quota_problems(self.desired, d.regroups):
            raise CloudportsError([Diagnostic(None, f"aws: {p}; nothing was changed", QUOTA_HINT) for p in problems])
        gaps = schedule(d).gaps
        if gaps and not self.allow_gap:
            names = d.names
            where = ", ".join(f"{names.get(g, g)} {direction}" for g, direction, _ in gaps)
            raise CloudportsError(
                [
                    Diagnostic(
                        None,
                        f"aws: replacing rules in security group {where} would block declared flows between two API "
                        "calls (the group is at its rule quota and the rules cannot be changed in place); "
                        "nothing was changed",
                        "accept the short gap with --allow-gap (option allow_gap), or make room first: raise the "
                        "quota (targets.aws.max_rules_per_group) or apply the removals and the additions as two specs",
                    )
                ]
            )

    def _rules(self, d: AwsDiff) -> None:
        ids = {k: g.id for k, g in d.live.groups.items()}
        names = d.names
        changes: dict[str, list[tuple[SgRule, str]]] = defaultdict(list)
        for want, _have, rule_id in d.change:
            changes[want.group].append((want, rule_id))
        for group, items in sorted(changes.items()):
            self._modify(ids, names[group], group, items, "updating rule descriptions")
        for write in schedule(d).steps:
            if write.op == "authorize":
                self._authorize(d.live, write.group, write.direction, list(write.add), ids, names[write.group])
            elif write.op == "modify":
                items = [(new, rule_id) for _old, rule_id, new in write.pairs]
                self._modify(ids, names[write.group], write.group, items, "changing rules in place")
            else:
                self._revoke(ids[write.group], names[write.group], write.direction, [i for _r, i in write.remove])

    def _modify(self, ids: dict[str, str], name: str, group: str, items: list[tuple[SgRule, str]], what: str) -> None:
        """ModifySecurityGroupRules: each rule ID gets the full rule as it should be (idempotent if re-sent)."""
        for batch in chunks(items, MODIFY_BATCH):
            entries = [{"SecurityGroupRuleId": i, "SecurityGroupRule": rule_request(r, ids)} for r, i in batch]
            with aws_errors(what, f"security group {name} {ids[group]}"):
                self.ec2.modify_security_group_rules(GroupId=ids[group], SecurityGroupRules=entries)
            progressed(name, len(batch))

    def _authorize(
        self, live: LiveState, group: str, direction: str, rules: list[SgRule], ids: dict[str, str], name: str
    ) -> None:
        call = getattr(self.ec2, f"authorize_security_group_{direction}")
        subject = f"security group {name} {ids[group]}, {len(rules)} {direction} rules: {_rules_text(rules)}"

        def authorize(batch: list[SgRule]) -> None:
            call(
                GroupId=ids[group],
                IpPermissions=ip_permissions(batch, ids),
                TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": self.tags}],
            )

        try:
            authorize(rules)
            progressed(name, len(rules))
            return
        except ClientError as exc:
            # Duplicate: a rule was there already - added meanwhile, or by this very call when its answer was
            # lost and botocore sent it again (a re-sent call can also hit the quota, counting its own rules
            # twice). Either way, add only what is still missing; a real quota problem fails again below.
            if error_code(exc) not in ("InvalidPermission.Duplicate", "RulesPerSecurityGroupLimitExceeded"):
                raise translate(exc, f"adding {direction} rules", subject) from None
        keys_by_id = {g.id: k for k, g in live.groups.items()}
        with aws_errors("reading security group rules", subject):
            present = {normalise_rule(r, keys_by_id).key for r in describe_rules(self.ec2, [ids[group]])}
        missing = [r for r in rules if r.key not in present]
        if missing:
            with aws_errors(f"adding {direction} rules", subject):
                authorize(missing)
        progressed(name, len(rules))

    def _revoke(self, group_id: str, name: str, direction: str, rule_ids: list[str]) -> None:
        call = getattr(self.ec2, f"revoke_security_group_{direction}")
        for batch in chunks(sorted(rule_ids), REVOKE_BATCH):
            subject = f"security group {name} {group_id}, rules {', '.join(batch[:3])}" + (
                f" and {len(batch) - 3} more" if len(batch) > 3 else ""
            )
            try:
                call(GroupId=group_id, SecurityGroupRuleIds=batch)
                progressed(name, len(batch))
            except ClientError as exc:
                code = error_code(exc)
                if code in _GROUP_GONE:
                    return  # the group and its rules are gone already
                if code not in _GONE:
                    raise translate(exc, f"removing {direction} rules", subject) from None
                # Someone removed some of them meanwhile; EC2 then revokes none of the batch. Retry the rest.
                with aws_errors("reading security group rules", subject):
                    still = {r["SecurityGroupRuleId"] for r in describe_rules(self.ec2, [group_id])}
                rest = [i for i in batch if i in still]
                if rest:
                    with aws_errors(f"removing {direction} rules", subject):
                        call(GroupId=group_id, SecurityGroupRuleIds=rest)

    def _regroup(self, d: AwsDiff) -> None:
        """One ModifyNetworkInterfaceAttribute per interface, with its full group list as it is right now (read
        again just before, so a group someone added since the plan is kept)."""
        if not d.regroups:
            return
        ids = {k: g.id for k, g in d.live.groups.items()}
        now = self._interface_groups([r.machine.id for r in d.regroups])
        default: str | None = None
        for regroup in d.regroups:
            machine = regroup.machine
            if machine.id not in now:
                continue  # the interface is gone (its instance was terminated meanwhile)
            groups = groups_after(replace(regroup, machine=replace(machine, group_ids=now[machine.id])), ids)
            if not groups:  # EC2 wants at least one group: the VPC's default, as for a machine launched without
                default = default or self._default_group()
                groups = [default]
            with aws_errors("changing the security groups of a network interface", machine.label):
                self.ec2.modify_network_interface_attribute(NetworkInterfaceId=machine.id, Groups=groups)
            progressed(machine.id, len(regroup.attach) + len(regroup.detach))

    def _interface_groups(self, interface_ids: list[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        with aws_errors("reading network interfaces", self.desired.vpc_id or ""):
            for batch in chunks(sorted(interface_ids), FILTER_VALUES):
                for eni in describe_interfaces(self.ec2, [{"Name": "network-interface-id", "Values": batch}]):
                    found[eni["NetworkInterfaceId"]] = tuple(g["GroupId"] for g in eni.get("Groups") or [])
        return found

    def _default_group(self) -> str:
        filters = [{"Name": "vpc-id", "Values": [self.desired.vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        with aws_errors("reading the VPC's default security group", self.desired.vpc_id or ""):
            groups = self.ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
        if not groups:
            raise CloudportsError(f"aws: {self.desired.vpc_id} has no default security group")
        return str(groups[0]["GroupId"])

    def _create_groups(self, d: AwsDiff) -> None:
        maker = GroupMaker(self.ec2, self.desired, bool(d.live.vpc_has_ipv6))
        for group in d.create_groups:
            maker.create(group, group_tags(self.desired, group))
            progressed(group.name)

    def _tag_groups(self, d: AwsDiff) -> None:
        for group, change in d.tag_groups:
            with aws_errors("tagging security group", f"{group.name} {group.id}"):
                self.ec2.create_tags(Resources=[group.id], Tags=_aws_tags(change.missing))
            progressed(group.name)

    def _delete_groups(self, groups: list[LiveGroup]) -> dict[str, str]:
        """Deletes groups; returns group ID -> note for each group left because something still needs it."""
        left = {}
        for group in groups:
            try:
                self.ec2.delete_security_group(GroupId=group.id)
                progressed(group.name)
            except ClientError as exc:
                code = error_code(exc)
                if code in _GROUP_GONE:
                    continue
                if code != "DependencyViolation":
                    raise translate(exc, "deleting security group", f"{group.name} {group.id}") from None
                message = exc.response.get("Error", {}).get("Message", "")
                left[group.id] = (
                    f"left security group {group.name} ({group.id}): something still uses or references it "
                    f"(an instance, a network interface or another group's rule): {message}"
                )
        return left

    # ---------------------------------------------------------------------------------------- destroy

    def destroy(self, approved: Plan) -> Plan:
        d = destroy_diff(self.desired, self.read())
        ensure_unchanged(approved, d.plan())
        self._regroup(d)  # EC2 cannot delete a group that is still on a machine
        ids = {k: g.id for k, g in d.live.groups.items()}
        # A group referenced by another group's rule cannot be deleted: revoke references between owned
        # groups first. Other rules go with their group, so a group left behind keeps its CIDR rules.
        refs: dict[tuple[str, str], list[str]] = defaultdict(list)
        for rule, rule_id in d.remove:
            if rule.referenced_group and rule.referenced_group != rule.group:
                refs[(rule.group, rule.direction)].append(rule_id)
        for (group, direction), rule_ids in sorted(refs.items()):
            self._revoke(ids[group], d.live.groups[group].name, direction, rule_ids)
        left = self._delete_groups(d.delete_groups)
        revoked = {i for rule_ids in refs.values() for i in rule_ids}
        done: list[Change] = []
        for change in d.plan().changes:
            before = change.before or {}
            if change.kind == GROUP:
                keep = before.get("id") not in left
            else:
                keep = ids.get(before.get("group", "")) not in left or before.get("rule_id") in revoked
            if keep:
                done.append(change)
        return Plan("aws", self.desired.topology, approved.scope, done, list(left.values()))
