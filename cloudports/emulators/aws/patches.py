"""Corrections that make moto's EC2 security groups behave like EC2 (moto 5.2.1, unchanged up to 5.2.3).

Terraform's AWS provider and boto3 talk to the moto server over HTTP (``AWS_ENDPOINT_URL``), exactly as they
would talk to AWS; nothing in the rest of cloudports knows about moto. The server runs in a thread of the
process that calls :func:`apply_moto_patches`, so the patched moto model classes are the ones serving requests.

Why the patches exist (../shared/reference/aws.md §4.3, "Divergences that bite a drift/quota test
suite"). The AWS provider reads rules with DescribeSecurityGroupRules and updates them with
ModifySecurityGroupRules, so these divergences break real Terraform runs:

- item 5: moto keeps an SG-reference rule's description only inside its UserIdGroupPairs entry, so
  DescribeSecurityGroupRules reports no Description for it, and every plan after the apply wants to
  set the description again (observed). Patched: ``SecurityGroupRule.description`` reads the description wherever moto
  keeps it (CIDR range, group pair, prefix-list entry, which moto dropped entirely).
- item 5 (second half): rule identity compared group pairs *including* the description, so an identical
  SG-reference permission with another description was not a duplicate and
  UpdateSecurityGroupRuleDescriptions* never found the rule; the rule-ID form of that call was ignored.
  Patched: ``SecurityGroupRule.__eq__`` ignores descriptions (as EC2 does) and the rule-ID form works.
- item 4: ModifySecurityGroupRules ignored CidrIpv6, PrefixListId and ReferencedGroupId (success, nothing
  changed), wrote an SG-reference rule's description where nothing reads it, and demanded ports for
  protocol -1. Patched: a complete implementation following the EC2 API reference.
- item 8 (one case): icmpv6 without a port range (all types) crashed moto with a TypeError (HTTP 500);
  the provider retries 5xx, so ``terraform apply`` hung until the test's timeout (observed). Patched:
  stored as -1/-1, which is what EC2 reports.
- item 10: moto counted IPv4 and IPv6 rules together toward the 60-rule quota (41 IPv4 + 21 IPv6 egress rules
  refused, which EC2 accepts: found by the import property test). Patched: counted per family, a group
  reference counting for both.
- network interfaces: an attached interface reported the set union of its own and its instance's launch groups,
  so a group taken off stayed visible. Patched: the interface's groups are what was last set, in order.
- speed, not behaviour: moto answers in time that grows with everything in the region, not with what was
  asked; speed.py corrects that (the same answers), applied with the rest.
- item 11 (opt-in, not applied by :func:`apply_moto_patches`): moto deletes a security group even when another
  group's rule still references it, where EC2 answers DependencyViolation. :func:`checking_dependencies` wraps
  ``delete_security_group`` to restore EC2's behaviour; the tests that need it install it for one test only.

The patches live here, in the emulator, never in the rest of cloudports; :func:`apply_moto_patches` refuses to
run if moto's classes no longer have the patched attributes, so a moto upgrade cannot silently turn them into
no-ops. This module imports moto: import it only once moto is known to be installed (server.py checks).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from moto.core import serialize as _serialize
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    DependencyViolationError,
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidSecurityGroupNotFoundError,
    InvalidSecurityGroupRuleIdNotFoundError,
    MissingParameter,
    RulesPerSecurityGroupLimitExceededError,
)
from moto.ec2.models import core as _core_models
from moto.ec2.models import elastic_network_interfaces as _eni_models
from moto.ec2.models import security_groups as _sg_models
from moto.ec2.responses import security_groups as _sg_responses

from cloudports.emulators.aws.speed import SPEED_ONLY as SPEED_ONLY  # re-exported: tests put moto's own back
from cloudports.emulators.aws.speed import apply_speed_corrections

_patch_lock = threading.Lock()
_patched = False

# Protocol spellings moto normalises on create (SecurityGroupRule.__init__); reused for modify.
_PROTOCOL_NAMES = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}
_PROTOCOL_NAMES |= {"-1": "-1", "all": "-1", "icmpv6": "icmpv6", "58": "icmpv6"}


# --------------------------------------------------------------------------------------------------
# moto patches (aws.md §4.3 items 4 and 5)
# --------------------------------------------------------------------------------------------------


def _rule_description(rule: Any) -> str | None:
    """Description of a rule whatever its peer kind (AWS keeps one description per rule)."""
    if rule.ip_range:
        return rule.ip_range.get("Description")
    if rule.source_group:
        return rule.source_group.get("Description")
    return getattr(rule, "_cloudports_prefix_list_description", None)


def _set_rule_description(rule: Any, description: str) -> None:
    if rule.ip_range:
        rule.ip_range["Description"] = description
    elif rule.source_group:
        rule.source_group["Description"] = description
    else:
        rule._cloudports_prefix_list_description = description


def _peer_kind(rule: Any) -> str:
    if rule.ip_range.get("CidrIp"):
        return "CidrIpv4"
    if rule.ip_range.get("CidrIpv6"):
        return "CidrIpv6"
    if rule.source_group:
        return "ReferencedGroupId"
    return "PrefixListId"


def _requested_peer(new_rule: dict[str, Any]) -> tuple[str, Any]:
    """The one peer field of a ModifySecurityGroupRules entry: (CidrIpv4 | CidrIpv6 | PrefixListId |
    ReferencedGroupId, value)."""
    peers = {
        key: new_rule.get(key)
        for key in ("CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId")
        if new_rule.get(key) is not None
    }
    if len(peers) > 1:
        raise InvalidParameterCombination(
            "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified"
        )
    if not peers:
        raise MissingParameter(
            "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId"
        )
    ((peer_key, peer_value),) = peers.items()
    return peer_key, peer_value


def _requested_protocol(new_rule: dict[str, Any]) -> str:
    raw_protocol = new_rule.get("IpProtocol")
    if raw_protocol is None:
        raise InvalidParameterValue(
            "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly."
        )
    protocol = _PROTOCOL_NAMES.get(str(raw_protocol).lower(), str(raw_protocol))
    if protocol in ("tcp", "udp") and (new_rule.get("FromPort") is None or new_rule.get("ToPort") is None):
        raise InvalidParameterValue("Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
    return protocol


def _apply_modification(rule: Any, new_rule: dict[str, Any], protocol: str, peer_key: str, peer_value: Any) -> None:
    rule.ip_protocol = protocol
    from_port, to_port = new_rule.get("FromPort"), new_rule.get("ToPort")
    if protocol == "-1":
        rule.from_port = rule.to_port = None  # moto's representation of "all ports"
    else:
        rule.from_port = int(from_port) if from_port is not None else -1
        rule.to_port = int(to_port) if to_port is not None else -1

    if peer_key == "CidrIpv4":
        rule.ip_range["CidrIp"] = peer_value
    elif peer_key == "CidrIpv6":
        rule.ip_range["CidrIpv6"] = peer_value
    elif peer_key == "PrefixListId":
        rule.prefix_list_id = peer_value
    else:
        rule.source_group["GroupId"] = peer_value

    if new_rule.get("Description") is not None:
        _set_rule_description(rule, new_rule["Description"])


def _modify_security_group_rules(self: Any, group_id: str, rules: dict[str, dict[str, Any]]) -> None:
    """ModifySecurityGroupRules as documented by EC2 (replaces moto's partial implementation, §4.3 item 4).

    Every field of the request is applied: protocol, ports, description and the peer (CidrIpv4,
    CidrIpv6, PrefixListId or ReferencedGroupId); the peer *kind* cannot change, like on AWS.
    """
    group = self.get_security_group_by_name_or_id(group_id)
    if group is None:
        raise InvalidSecurityGroupNotFoundError(group_id)

    for rule_id, new_rule in rules.items():
        peer_key, peer_value = _requested_peer(new_rule)
        rule = group.get_rule(rule_id)
        if rule is None:
            raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
        if peer_key != _peer_kind(rule):
            raise InvalidParameterValue(
                f"Invalid rule type for security group rule '{rule_id}'. "
                f"You may not specify {peer_key} for an existing {_peer_kind(rule)} rule."
            )
        protocol = _requested_protocol(new_rule)
        if peer_key == "ReferencedGroupId" and self.get_security_group_from_id(peer_value) is None:
            raise InvalidSecurityGroupNotFoundError(peer_value)
        _apply_modification(rule, new_rule, protocol, peer_key, peer_value)


def _patch_rule_init(original_init: Any) -> Any:
    def __init__(
        self: Any,
        ec2_backend: Any,
        ip_protocol: str,
        group_id: str,
        from_port: Any,
        to_port: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        # icmpv6 without a port range means "all types and codes" on AWS; moto would crash on int(None).
        if str(ip_protocol).lower() in ("icmpv6", "58") and from_port is None and to_port is None:
            from_port = to_port = -1
        original_init(self, ec2_backend, ip_protocol, group_id, from_port, to_port, *args, **kwargs)
        # moto stores only the ID of a prefix-list peer and drops its description: keep it.
        # positional tail after to_port: ip_range, source_group, prefix_list_id
        prefix_list = args[2] if len(args) > 2 else kwargs.get("prefix_list_id")
        if prefix_list:
            self._cloudports_prefix_list_description = prefix_list.get("Description")

    return __init__


def _rule_eq(self: Any, other: Any) -> bool:
    """Rule identity as EC2 sees it: peer, protocol and ports; the description never counts.

    moto compared UserIdGroupPairs dicts including their Description, so an SG-reference rule that
    differs only in description was not a duplicate, could not be revoked by its properties with
    another description, and UpdateSecurityGroupRuleDescriptions* never found it (§4.3 item 5).
    """
    if not isinstance(other, _sg_models.SecurityGroupRule):
        return NotImplemented
    if self.ip_protocol != other.ip_protocol:
        return False
    if self.ip_range.get("CidrIp") != other.ip_range.get("CidrIp"):
        return False
    if self.ip_range.get("CidrIpv6") != other.ip_range.get("CidrIpv6"):
        return False
    if self.source_group.get("GroupId") != other.source_group.get("GroupId"):
        return False
    if self.prefix_list_id != other.prefix_list_id:
        return False
    return self.ip_protocol == "-1" or (self.from_port, self.to_port) == (other.from_port, other.to_port)


def _patch_update_descriptions(original: Any, direction: str) -> Any:
    """UpdateSecurityGroupRuleDescriptions{Ingress,Egress} by rule ID (SecurityGroupRuleDescriptions).

    moto only implements the IpPermissions form; the rule-ID form was silently ignored (§4.3 item 5).
    """

    def handler(self: Any) -> Any:
        by_id = self._get_param("SecurityGroupRuleDescriptions", [])
        if not by_id:
            return original(self)
        group_id = self._get_param("GroupId") or self._get_param("GroupName")
        group = self.ec2_backend.get_security_group_by_name_or_id(group_id)
        if group is None:
            raise InvalidSecurityGroupNotFoundError(group_id)
        rules = group.egress_rules if direction == "egress" else group.ingress_rules
        for item in by_id:
            rule = next((r for r in rules if r.id == item["SecurityGroupRuleId"]), None)
            if rule is None:
                raise InvalidSecurityGroupRuleIdNotFoundError(item["SecurityGroupRuleId"])
            _set_rule_description(rule, item.get("Description", ""))
        return ActionResult({"Return": True})

    handler.__name__ = original.__name__
    return handler


# --------------------------------------------------------------------------------------------------
# network interfaces: an instance's groups are its primary interface's groups
# --------------------------------------------------------------------------------------------------


def _eni_group_set(self: Any) -> list[Any]:
    """moto reports an attached interface's groups as the *set union* of its own and the instance's launch groups,
    so a group taken off with ModifyNetworkInterfaceAttribute stays visible and the order is lost. In EC2 the
    interface's group list is exactly what the last call set, in that order (the instance's groups are read from
    its primary interface)."""
    return list(self._group_set)


def _patch_modify_eni(original: Any) -> Any:
    def modify_network_interface_attribute(self: Any, eni_id: str, group_ids: list[str], *args: Any, **kw: Any) -> None:
        original(self, eni_id, group_ids, *args, **kw)
        eni = self.get_network_interface(eni_id)
        if group_ids and eni.instance is not None and eni.device_index in (0, "0"):
            eni.instance.security_groups = list(eni._group_set)  # DescribeInstances shows the primary's groups

    return modify_network_interface_attribute


# --------------------------------------------------------------------------------------------------
# rules per group: counted per address family, as EC2 does (aws.md §4.3 item 10)
# --------------------------------------------------------------------------------------------------


def _families(rule_range: Any) -> set[int]:
    """The address families one rule (or one requested range) counts toward: a group or prefix-list reference
    counts once for each."""
    if isinstance(rule_range, str):
        return {6} if ":" in rule_range else {4}
    if isinstance(rule_range, dict) and rule_range.get("CidrIpv6"):
        return {6}
    if isinstance(rule_range, dict) and rule_range.get("CidrIp"):
        return {4}
    return {4, 6}


def _check_rule_count_per_family(
    self: Any,
    group: Any,
    current_rule_nb: int,
    ip_ranges: list[Any],
    source_groups: list[dict[str, str]] | None = None,
    egress: bool = False,
) -> None:
    """moto counts IPv4 and IPv6 rules together toward the quota (40 + 40 refused); EC2 enforces 60 inbound and
    60 outbound rules per group for each family separately."""
    limit = 60 if group.vpc_id else 100
    counts = {4: 0, 6: 0}
    for rule in group.egress_rules if egress else group.ingress_rules:
        for family in _families(rule.ip_range) if rule.ip_range else (4, 6):
            counts[family] += 1
    for new in [*(ip_ranges or []), *(source_groups or [])]:
        for family in _families(new) if new in (ip_ranges or []) else (4, 6):
            counts[family] += 1
    if max(counts.values()) > limit:
        raise RulesPerSecurityGroupLimitExceededError


def apply_moto_patches() -> None:
    """Patch moto's EC2 security-group model to match AWS (idempotent; see the module docstring)."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        rule_cls = _sg_models.SecurityGroupRule
        backend_cls = _sg_models.SecurityGroupBackend
        responses_cls = _sg_responses.SecurityGroups
        for owner, name in [
            (rule_cls, "description"),
            (backend_cls, "modify_security_group_rules"),
            (responses_cls, "update_security_group_rule_descriptions_ingress"),
            (responses_cls, "update_security_group_rule_descriptions_egress"),
            (_eni_models.NetworkInterface, "group_set"),
            (backend_cls, "_verify_group_will_respect_rule_count_limit"),
            (_eni_models.NetworkInterfaceBackend, "modify_network_interface_attribute"),
            (_core_models.TaggedEC2Resource, "get_tags"),
            (rule_cls, "filter_group_id"),
            (_serialize.XFormedAttributePicker, "__call__"),
            (backend_cls, "describe_security_group_rules"),
            (_serialize.EC2Serializer, "_serialize_body"),
        ]:
            if not hasattr(owner, name):  # moto changed shape: fail loudly rather than test nonsense
                raise RuntimeError(
                    f"moto {owner.__name__}.{name} not found; revisit cloudports/emulators/aws/patches.py"
                )

        # setattr: these replace methods of moto's classes at run time, which is the point (and which a
        # plain assignment would have mypy reject as method-assign).
        setattr(rule_cls, "description", property(_rule_description))  # noqa: B010  # item 5: DescribeSecurityGroupRules
        setattr(rule_cls, "__init__", _patch_rule_init(rule_cls.__init__))  # noqa: B010
        setattr(rule_cls, "__eq__", _rule_eq)  # noqa: B010
        setattr(backend_cls, "modify_security_group_rules", _modify_security_group_rules)  # noqa: B010  # item 4
        for direction in ("ingress", "egress"):
            name = f"update_security_group_rule_descriptions_{direction}"
            setattr(responses_cls, name, _patch_update_descriptions(getattr(responses_cls, name), direction))
        setattr(backend_cls, "_verify_group_will_respect_rule_count_limit", _check_rule_count_per_family)  # noqa: B010
        setattr(_eni_models.NetworkInterface, "group_set", property(_eni_group_set))  # noqa: B010
        apply_speed_corrections()
        eni_backend = _eni_models.NetworkInterfaceBackend
        modify = _patch_modify_eni(eni_backend.modify_network_interface_attribute)
        setattr(eni_backend, "modify_network_interface_attribute", modify)  # noqa: B010
        _patched = True


def checking_dependencies(original: Callable[..., Any]) -> Callable[..., Any]:
    """``SecurityGroupBackend.delete_security_group`` that fails with DependencyViolation, as EC2 does, while
    another group's rule references the group or a network interface carries it (aws.md §4.3 item 11: moto
    deletes it anyway).

    Not part of :func:`apply_moto_patches`, hence of ``python -m cloudports.emulators.aws``: install it where a
    test needs it, e.g. ``monkeypatch.setattr(SecurityGroupBackend, "delete_security_group",
    checking_dependencies(SecurityGroupBackend.delete_security_group))``.
    """

    def delete_security_group(self: Any, name: str | None = None, group_id: str | None = None) -> None:
        group = self.get_security_group_from_id(group_id) if group_id else self.get_security_group_by_name_or_id(name)
        if group is not None:
            for other in itertools.chain.from_iterable(g.values() for g in self.groups.values()):
                if other.id == group.id:
                    continue
                for rule in itertools.chain(other.ingress_rules, other.egress_rules):
                    if (rule.source_group or {}).get("GroupId") == group.id:
                        raise DependencyViolationError(f"resource {group.id} has a dependent object")
            if any(group in eni._group_set for eni in getattr(self, "enis", {}).values()):
                raise DependencyViolationError(f"resource {group.id} has a dependent object")
        return original(self, name, group_id)

    return delete_security_group
