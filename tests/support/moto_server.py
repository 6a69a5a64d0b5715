"""A real moto HTTP server on 127.0.0.1 for tests, plus the fixes moto needs to behave like EC2.

Terraform's AWS provider and boto3 talk to the server over HTTP (``AWS_ENDPOINT_URL``), exactly as they
would talk to AWS; nothing in cloudports knows about moto. The server runs in a thread of the test
process, so the moto model classes patched by :func:`apply_moto_patches` are the ones serving requests.

Why the patches exist (../shared/reference/aws.md §4.3, "Divergences that bite a drift/quota test
suite"; moto 5.2.1, unchanged up to 5.2.3). The AWS provider reads rules with DescribeSecurityGroupRules
and updates them with ModifySecurityGroupRules, so these divergences break real Terraform runs:

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

The patches live here, never in cloudports; :func:`apply_moto_patches` refuses to run if moto's classes
no longer have the patched attributes, so a moto upgrade cannot silently turn them into no-ops.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidSecurityGroupNotFoundError,
    InvalidSecurityGroupRuleIdNotFoundError,
    MissingParameter,
)
from moto.ec2.models import security_groups as _sg_models
from moto.ec2.responses import security_groups as _sg_responses
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

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


def _modify_security_group_rules(self: Any, group_id: str, rules: dict[str, dict[str, Any]]) -> None:
    """ModifySecurityGroupRules as documented by EC2 (replaces moto's partial implementation, §4.3 item 4).

    Every field of the request is applied: protocol, ports, description and the peer (CidrIpv4,
    CidrIpv6, PrefixListId or ReferencedGroupId); the peer *kind* cannot change, like on AWS.
    """
    group = self.get_security_group_by_name_or_id(group_id)
    if group is None:
        raise InvalidSecurityGroupNotFoundError(group_id)

    for rule_id, new_rule in rules.items():
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
        rule = group.get_rule(rule_id)
        if rule is None:
            raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
        ((peer_key, peer_value),) = peers.items()
        if peer_key != _peer_kind(rule):
            raise InvalidParameterValue(
                f"Invalid rule type for security group rule '{rule_id}'. "
                f"You may not specify {peer_key} for an existing {_peer_kind(rule)} rule."
            )

        raw_protocol = new_rule.get("IpProtocol")
        if raw_protocol is None:
            raise InvalidParameterValue(
                "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly."
            )
        protocol = _PROTOCOL_NAMES.get(str(raw_protocol).lower(), str(raw_protocol))
        from_port, to_port = new_rule.get("FromPort"), new_rule.get("ToPort")
        if protocol in ("tcp", "udp") and (from_port is None or to_port is None):
            raise InvalidParameterValue(
                "Invalid value for portRange. Must specify both from and to ports with TCP/UDP."
            )
        if peer_key == "ReferencedGroupId" and self.get_security_group_from_id(peer_value) is None:
            raise InvalidSecurityGroupNotFoundError(peer_value)

        rule.ip_protocol = protocol
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
        ]:
            if not hasattr(owner, name):  # moto changed shape: fail loudly rather than test nonsense
                raise RuntimeError(f"moto {owner.__name__}.{name} not found; revisit tests/support/moto_server.py")

        rule_cls.description = property(_rule_description)  # item 5: DescribeSecurityGroupRules
        rule_cls.__init__ = _patch_rule_init(rule_cls.__init__)
        rule_cls.__eq__ = _rule_eq
        backend_cls.modify_security_group_rules = _modify_security_group_rules  # item 4
        for direction in ("ingress", "egress"):
            name = f"update_security_group_rule_descriptions_{direction}"
            setattr(responses_cls, name, _patch_update_descriptions(getattr(responses_cls, name), direction))
        _patched = True


# --------------------------------------------------------------------------------------------------
# Server lifecycle
# --------------------------------------------------------------------------------------------------


@dataclass
class MotoServer:
    """A started ThreadedMotoServer bound to 127.0.0.1 on a free port."""

    server: ThreadedMotoServer
    endpoint_url: str

    def reset(self) -> None:
        """Drop every resource in every moto backend (POST /moto-api/reset)."""
        reset_moto(self.endpoint_url)

    def stop(self) -> None:
        self.server.stop()

    def env(self) -> dict[str, str]:
        """Environment that points the AWS SDKs (boto3, Terraform's provider) at this server."""
        return aws_env_for(self.endpoint_url)

    def client(self, service: str = "ec2") -> Any:
        return boto3_client(self.endpoint_url, service)


def start_moto_server() -> MotoServer:
    apply_moto_patches()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per API call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoServer(server=server, endpoint_url=f"http://{host}:{port}")


def reset_moto(endpoint_url: str) -> None:
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"moto reset failed: HTTP {response.status}")


def aws_env_for(endpoint_url: str) -> dict[str, str]:
    """Variables every AWS SDK (boto3, aws-sdk-go-v2 in the Terraform provider) honours.

    AWS_ENDPOINT_URL is the SDK-wide endpoint override; with static credentials in the environment
    the provider never needs IMDS, and AWS_EC2_METADATA_DISABLED makes sure it never tries.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def boto3_client(endpoint_url: str, service: str = "ec2") -> Any:
    """A boto3 client for the moto server, independent of the process environment."""
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    return session.client(service, endpoint_url=endpoint_url)


def create_vpc(endpoint_url: str, cidr_block: str = "10.0.0.0/16", ipv6: bool = True) -> str:
    """Create a VPC (with an Amazon-provided IPv6 block unless ipv6=False) and return its ID."""
    ec2 = boto3_client(endpoint_url)
    vpc = ec2.create_vpc(CidrBlock=cidr_block, AmazonProvidedIpv6CidrBlock=ipv6)["Vpc"]
    return vpc["VpcId"]


def moto_dashboard_state(endpoint_url: str) -> dict[str, Any]:
    """Raw moto model dump (GET /moto-api/data.json), handy when debugging a failing test."""
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/data.json", timeout=30) as response:
        return json.load(response)
