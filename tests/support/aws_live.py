"""Helpers for the AWS live-backend tests: API-call counting, fault injection, reading flows back with boto3.

Everything here reads AWS with plain boto3 and its own (deliberately simple) normalisation, so the tests do
not check cloudports with cloudports.

moto correction (aws.md §4.3 item 11): moto deletes a security group even when another group's rule still
references it, where EC2 answers DependencyViolation. :func:`patch_moto_dependency_violation` installs the
emulator's correction (cloudports.emulators.aws.patches.checking_dependencies) for the tests that need it
(destroy must leave such a group and say so).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.ec2.models import security_groups as _sg_models

from cloudports.emulators.aws.patches import checking_dependencies

READ_PREFIXES = ("Describe", "Get", "List")


# ------------------------------------------------------------------------------------------ API calls


@dataclass
class ApiCalls:
    """EC2 operations a client makes, with their API parameters (one entry per call, retries not counted).

    Counted on botocore's before-parameter-build event, which carries the caller's parameters (before-call
    only sees the serialised request); both fire exactly once per API call.
    """

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.ec2", self._seen)
        return client

    def _seen(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    @property
    def counts(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)

    @property
    def writes(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls if not name.startswith(READ_PREFIXES))

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == operation]

    def clear(self) -> None:
        self.calls.clear()


def inject_error(client: Any, operation: str, code: str, message: str = "injected", times: int = 1) -> None:
    """Make the next `times` calls of an operation fail with an AWS error, as EC2 would answer.

    A before-call handler that returns a response short-circuits the HTTP request (and botocore's retries,
    which live below it), so this is also how throttling that outlasts the retries looks to the caller.
    """
    remaining = [times]

    class _Http:
        status_code = 400 if code != "RequestLimitExceeded" else 503
        headers: dict[str, str] = {}

    def handler(**_: Any) -> Any:
        if remaining[0] <= 0:
            return None
        remaining[0] -= 1
        return _Http(), {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {}}

    client.meta.events.register(f"before-call.ec2.{operation}", handler)


# ------------------------------------------------------------------------------------------- moto fix


def patch_moto_dependency_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """DeleteSecurityGroup fails with DependencyViolation while another group's rule references the group."""
    backend = _sg_models.SecurityGroupBackend
    monkeypatch.setattr(backend, "delete_security_group", checking_dependencies(backend.delete_security_group))


# ----------------------------------------------------------------------------------- reading rules back


@dataclass(frozen=True)
class Flow:
    """One live rule, read with boto3: group and peer by name (or CIDR), protocol, port range."""

    group: str
    direction: str
    protocol: str
    from_port: int
    to_port: int
    peer: str  # group name, CIDR, or foreign sg- ID
    description: str = field(default="", compare=False)


def groups_in_vpc(ec2: Any, vpc_id: str) -> dict[str, dict[str, Any]]:
    """Group name -> DescribeSecurityGroups item."""
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    return {g["GroupName"]: g for g in found}


def flows(ec2: Any, vpc_id: str) -> list[Flow]:
    groups = groups_in_vpc(ec2, vpc_id)
    names = {g["GroupId"]: name for name, g in groups.items()}
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(names)}])
    out = []
    for r in rules["SecurityGroupRules"]:
        if r.get("ReferencedGroupInfo"):
            ref = r["ReferencedGroupInfo"]["GroupId"]
            peer = names.get(ref, ref)
        else:
            peer = r.get("CidrIpv4") or r.get("CidrIpv6") or r.get("PrefixListId")
        out.append(
            Flow(
                names[r["GroupId"]],
                "egress" if r["IsEgress"] else "ingress",
                r["IpProtocol"],
                r.get("FromPort", -1),
                r.get("ToPort", -1),
                peer,
                r.get("Description") or "",
            )
        )
    return out


def allows(
    live: list[Flow], group: str, direction: str, protocol: str, port: int, *, sg: str | None = None, cidr: str = ""
) -> bool:
    """Would some rule let this traffic through? (sg= a peer group by name, or cidr= a source/destination)"""
    for f in live:
        if (f.group, f.direction) != (group, direction):
            continue
        if f.protocol not in (protocol, "-1"):
            continue
        if f.protocol in ("icmp", "icmpv6"):
            if f.from_port not in (-1, port):  # port = ICMP type; from_port holds the type, to_port the code
                continue
        elif f.protocol != "-1" and not (f.from_port <= port <= f.to_port):
            continue
        if sg is not None and f.peer == sg:
            return True
        if cidr and "/" in f.peer:
            net, rule = ipaddress.ip_network(cidr), ipaddress.ip_network(f.peer, strict=False)
            if net.version == rule.version and net.subnet_of(rule):
                return True
    return False
