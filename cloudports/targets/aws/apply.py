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
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.plan import Change, Plan, ensure_unchanged
from cloudports.targets.aws.api import aws_errors, chunks, error_code, translate
from cloudports.targets.aws.diff import GROUP, AwsDiff, destroy_diff, diff, group_tags
from cloudports.targets.aws.model import AwsState, LiveGroup, LiveState, SgRule
from cloudports.targets.aws.read import describe_rules, normalise_rule

REVOKE_BATCH = 500  # rule IDs per Revoke call
MODIFY_BATCH = 100  # rules per ModifySecurityGroupRules call
_GONE = ("InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound")
_GROUP_GONE = ("InvalidGroup.NotFound", "InvalidGroupId.NotFound")


def _aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _ports(rule: SgRule) -> dict[str, int]:
    if rule.ip_protocol == "-1":
        return {}
    return {"FromPort": rule.from_port, "ToPort": rule.to_port}  # type: ignore[dict-item]


def ip_permissions(rules: Iterable[SgRule], group_ids: dict[str, str]) -> list[dict[str, Any]]:
    """Rules -> IpPermissions: one permission per protocol and port range, carrying all its peers."""
    perms: dict[tuple, dict[str, Any]] = {}
    for rule in sorted(rules, key=lambda r: r.key):
        perm = perms.setdefault(
            (rule.ip_protocol, rule.from_port, rule.to_port), {"IpProtocol": rule.ip_protocol, **_ports(rule)}
        )
        desc = {"Description": rule.description} if rule.description else {}
        if rule.cidr_ipv4:
            perm.setdefault("IpRanges", []).append({"CidrIp": rule.cidr_ipv4, **desc})
        elif rule.cidr_ipv6:
            perm.setdefault("Ipv6Ranges", []).append({"CidrIpv6": rule.cidr_ipv6, **desc})
        elif rule.prefix_list_id:
            perm.setdefault("PrefixListIds", []).append({"PrefixListId": rule.prefix_list_id, **desc})
        else:
            ref = group_ids[rule.referenced_group] if rule.referenced_group else rule.referenced_group_id
            perm.setdefault("UserIdGroupPairs", []).append({"GroupId": ref, **desc})
    return list(perms.values())


def rule_request(rule: SgRule, group_ids: dict[str, str]) -> dict[str, Any]:
    """A ModifySecurityGroupRules entry: the full rule as it should be (only the description differs)."""
    request: dict[str, Any] = {"IpProtocol": rule.ip_protocol, "Description": rule.description}
    request |= _ports(rule) if rule.ip_protocol != "-1" else {"FromPort": -1, "ToPort": -1}
    if rule.cidr_ipv4:
        request["CidrIpv4"] = rule.cidr_ipv4
    elif rule.cidr_ipv6:
        request["CidrIpv6"] = rule.cidr_ipv6
    elif rule.prefix_list_id:
        request["PrefixListId"] = rule.prefix_list_id
    else:
        request["ReferencedGroupId"] = (
            group_ids[rule.referenced_group] if rule.referenced_group else rule.referenced_group_id
        )
    return request


def _rules_text(rules: list[SgRule]) -> str:
    shown = ", ".join(r.key for r in rules[:3])
    return shown + (f" and {len(rules) - 3} more" if len(rules) > 3 else "")


class Applier:
    def __init__(self, ec2: Any, desired: AwsState, read: Callable[[], LiveState]):
        self.ec2 = ec2
        self.desired = desired
        self.read = read
        self.tags = _aws_tags(desired.common_tags)

    # ------------------------------------------------------------------------------------------ apply

    def apply(self, approved: Plan) -> Plan:
        first = diff(self.desired, self.read())
        shown = first.plan()
        ensure_unchanged(approved, shown)
        done = [c for c in shown.changes if c.kind == GROUP and c.action != "remove"]
        current = first
        if first.create_groups or first.tag_groups:
            self._create_groups(first)
            self._tag_groups(first)
            current = diff(self.desired, self.read())  # new IDs, and AWS's default egress rule on new groups
            if current.create_groups or current.tag_groups:
                raise CloudportsError("aws: new security groups did not show up when read back; run apply again")
        self._rules(current)
        left = self._delete_groups(current.delete_groups)
        if left:
            raise CloudportsError(
                [Diagnostic(None, f"aws: {note}", "run apply again once that is resolved") for note in left.values()]
            )
        done += current.plan().changes
        return Plan("aws", self.desired.topology, approved.scope, done, current.notes)

    def _rules(self, d: AwsDiff) -> None:
        ids = {k: g.id for k, g in d.live.groups.items()}
        names = d.names
        removals: dict[tuple[str, str], list[tuple[SgRule, str]]] = defaultdict(list)
        for rule, rule_id in d.remove:
            removals[(rule.group, rule.direction)].append((rule, rule_id))

        adds: dict[tuple[str, str], list[SgRule]] = defaultdict(list)
        for rule in d.add:
            adds[(rule.group, rule.direction)].append(rule)
        for (group, direction), rules in sorted(adds.items()):
            self._authorize(d.live, group, direction, rules, removals, ids, names[group])

        changes: dict[str, list[tuple[SgRule, str]]] = defaultdict(list)
        for want, _have, rule_id in d.change:
            changes[want.group].append((want, rule_id))
        for group, items in sorted(changes.items()):
            for batch in chunks(items, MODIFY_BATCH):
                entries = [{"SecurityGroupRuleId": i, "SecurityGroupRule": rule_request(r, ids)} for r, i in batch]
                with aws_errors("updating rule descriptions", f"security group {names[group]} {ids[group]}"):
                    self.ec2.modify_security_group_rules(GroupId=ids[group], SecurityGroupRules=entries)

        for (group, direction), items in sorted(removals.items()):
            self._revoke(ids[group], names[group], direction, [i for _r, i in items])

    def _authorize(
        self,
        live: LiveState,
        group: str,
        direction: str,
        rules: list[SgRule],
        removals: dict[tuple[str, str], list[tuple[SgRule, str]]],
        ids: dict[str, str],
        name: str,
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
            return
        except ClientError as exc:
            code = error_code(exc)
            pending = removals.get((group, direction))
            if code == "RulesPerSecurityGroupLimitExceeded" and pending:
                # The group is full: make room by removing the rules the spec no longer has, then add. Traffic
                # that only an old rule and its replacement both allow may pause for that moment; failing
                # would leave the group half-changed for longer.
                self._revoke(ids[group], name, direction, [i for _r, i in pending])
                removals.pop((group, direction))
            elif code != "InvalidPermission.Duplicate":
                raise translate(exc, f"adding {direction} rules", subject) from None
        # Some rules were there already (or a partial earlier attempt): add only what is still missing.
        keys_by_id = {g.id: k for k, g in live.groups.items()}
        with aws_errors("reading security group rules", subject):
            present = {normalise_rule(r, keys_by_id).key for r in describe_rules(self.ec2, [ids[group]])}
        missing = [r for r in rules if r.key not in present]
        if missing:
            with aws_errors(f"adding {direction} rules", subject):
                authorize(missing)

    def _revoke(self, group_id: str, name: str, direction: str, rule_ids: list[str]) -> None:
        call = getattr(self.ec2, f"revoke_security_group_{direction}")
        for batch in chunks(sorted(rule_ids), REVOKE_BATCH):
            subject = f"security group {name} {group_id}, rules {', '.join(batch[:3])}" + (
                f" and {len(batch) - 3} more" if len(batch) > 3 else ""
            )
            try:
                call(GroupId=group_id, SecurityGroupRuleIds=batch)
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

    def _create_groups(self, d: AwsDiff) -> None:
        for group in d.create_groups:
            tags = _aws_tags(group_tags(self.desired, group))
            with aws_errors("creating security group", f"{group.name} in {self.desired.vpc_id}"):
                self.ec2.create_security_group(
                    GroupName=group.name,
                    Description=group.description,
                    VpcId=self.desired.vpc_id,
                    TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
                )

    def _tag_groups(self, d: AwsDiff) -> None:
        for group, change in d.tag_groups:
            with aws_errors("tagging security group", f"{group.name} {group.id}"):
                self.ec2.create_tags(Resources=[group.id], Tags=_aws_tags(change.missing))

    def _delete_groups(self, groups: list[LiveGroup]) -> dict[str, str]:
        """Deletes groups; returns group ID -> note for each group left because something still needs it."""
        left = {}
        for group in groups:
            try:
                self.ec2.delete_security_group(GroupId=group.id)
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
