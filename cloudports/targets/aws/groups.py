"""Creating a security group so that no run, however it ends, leaves it more open than the spec.

AWS gives every new group an allow-all egress rule (0.0.0.0/0, and ::/0 in a VPC with IPv6). Where the spec does
not have it (`egress: strict`) it is revoked by the very next call, before anything else happens to the group: an
interrupted run then leaves at most the one group whose creation was the last call with it.

A CreateSecurityGroup whose answer was lost is sent again by botocore and fails with InvalidGroup.Duplicate; the
group is then read back and, when its tags show it is this spec's own, used as created.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cloudports.errors import CloudportsError
from cloudports.targets.aws.api import aws_errors, error_code, translate
from cloudports.targets.aws.model import AwsState, SecurityGroup, SgRule
from cloudports.targets.aws.read import describe_rules, normalise_rule
from cloudports.targets.aws.requests import aws_tags, ip_permissions
from cloudports.targets.ownership import ROLE_TAG, claim, is_mine

_NOT_FOUND = ("InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound")


def default_egress(role: str, has_ipv6: bool) -> list[SgRule]:
    """The rules AWS puts on a new group in this VPC."""
    rules = [SgRule(role, "egress", "-1", None, None, cidr_ipv4="0.0.0.0/0")]
    return rules + ([SgRule(role, "egress", "-1", None, None, cidr_ipv6="::/0")] if has_ipv6 else [])


class GroupMaker:
    def __init__(self, ec2: Any, desired: AwsState, has_ipv6: bool):
        self.ec2 = ec2
        self.desired = desired
        self.has_ipv6 = has_ipv6

    def create(self, group: SecurityGroup, tags: dict[str, str]) -> str:
        subject = f"{group.name} in {self.desired.vpc_id}"
        with aws_errors("creating security group", subject):
            try:
                group_id = self.ec2.create_security_group(
                    GroupName=group.name,
                    Description=group.description,
                    VpcId=self.desired.vpc_id,
                    TagSpecifications=[{"ResourceType": "security-group", "Tags": aws_tags(tags)}],
                )["GroupId"]
            except ClientError as exc:
                if error_code(exc) != "InvalidGroup.Duplicate":
                    raise
                group_id = self._created_already(group, exc)
        self._drop_default_egress(group, str(group_id))
        return str(group_id)

    def _created_already(self, group: SecurityGroup, exc: ClientError) -> str:
        """The ID of a same-name group that is this spec's own (a retried create whose first attempt worked)."""
        found = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [self.desired.vpc_id]},
                {"Name": "group-name", "Values": [group.name]},
            ]
        )["SecurityGroups"]
        for item in found:
            tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
            if is_mine(tags, self.desired.topology, self.desired.identity) and tags.get(ROLE_TAG) == group.role:
                return str(item["GroupId"])
            where = f"security group {group.name} ({item['GroupId']}) in {self.desired.vpc_id}"
            hint = "rename or delete it, or give this topology another targets.aws.name_prefix"
            verdict = claim("aws", where, tags, self.desired.identity, "error", hint)
            if verdict.problem:
                raise CloudportsError([verdict.problem])
        raise translate(exc, "creating security group", f"{group.name} in {self.desired.vpc_id}")

    def _drop_default_egress(self, group: SecurityGroup, group_id: str) -> None:
        unwanted = [r for r in default_egress(group.role, self.has_ipv6) if r.key not in self.desired.rules]
        if not unwanted:
            return
        subject = f"security group {group.name} {group_id}, AWS's default egress"
        with aws_errors("removing the default egress rule", subject):
            try:
                self.ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=ip_permissions(unwanted, {}))
                return
            except ClientError as exc:
                if error_code(exc) not in _NOT_FOUND:
                    raise
            # Gone already (a retried call whose first attempt worked): revoke whatever of it is left, by ID.
            keys = {r.key for r in unwanted}
            left = [
                raw["SecurityGroupRuleId"]
                for raw in describe_rules(self.ec2, [group_id])
                if normalise_rule(raw, {group_id: group.role}).key in keys
            ]
            if left:
                self.ec2.revoke_security_group_egress(GroupId=group_id, SecurityGroupRuleIds=left)
