"""EC2 request shapes for rules: IpPermissions for Authorize/Revoke, SecurityGroupRule for Modify, tag lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudports.targets.aws.model import SgRule


def aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
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
