"""The spec's `targets.aws` block, and a role's `members.aws` (which machines carry the role's group)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated

from pydantic import Field

from cloudports.errors import did_you_mean
from cloudports.targets.base import TargetSettings

InstanceId = Annotated[str, Field(pattern=r"^i-[0-9a-f]{8,17}$")]
InterfaceId = Annotated[str, Field(pattern=r"^eni-[0-9a-f]{8,17}$")]
PrefixListId = Annotated[str, Field(pattern=r"^pl-[0-9a-f]{8,17}$")]
GroupId = Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]
# A live rule by what it is: <role>/<in|out>/<protocol>/<ports>/<peer>, as plan, drift and import name rules.
RuleKey = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9-]+/(in|out)/[a-z0-9]+/[^/]+/(cidr:[0-9a-f.:]+/\d+|sg:[a-z0-9-]+|sgid:sg-[0-9a-f]+|pl:pl-[0-9a-f]+)$"
    ),
]


class AwsSettings(TargetSettings):
    region: str = "us-east-1"
    vpc_id: str | None = Field(default=None, pattern=r"^vpc-[0-9a-f]+$")
    name_prefix: str = ""
    tags: dict[str, str] = {}
    max_rules_per_group: int = Field(default=60, ge=1, le=1000)
    # AWS quota L-2AFB9258 "Security groups per network interface": 5 unless raised (at most 16).
    max_groups_per_interface: int = Field(default=5, ge=1, le=16)
    # Live rules the spec keeps as they are without managing them (import lists what a spec cannot express):
    # plan and drift show them as kept, apply never removes them; taken off the list (or --prune), they go.
    unmanaged: list[RuleKey] = []
    prefix_lists: dict[str, PrefixListId] = Field(
        default={},
        description="network -> the managed prefix list (pl-...) it is: on AWS the network's rules name the list, "
        "not its CIDRs (which stay what the network means elsewhere and to verify, and what the list must hold); "
        "cloudports never changes the list itself",
    )
    security_groups: dict[str, GroupId] = Field(
        default={},
        description="network -> a security group cloudports does not own (sg-...): the network is the machines "
        "that carry it, has no addresses, and its rules on AWS name the group; cloudports never changes the group",
    )

    def role_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """An unmanaged rule sits on a role's group."""
        return [
            (("unmanaged", i), f"unknown role '{key.split('/')[0]}' in unmanaged rule {key}", "name a role of the spec")
            for i, key in enumerate(self.unmanaged)
            if key.split("/")[0] not in roles
        ]

    def addressless_networks(self) -> Collection[str]:
        return self.security_groups.keys()

    def network_problems(self, networks: Mapping[str, bool]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """Each network named is one of the spec's, named once; a prefix list's network lists the list's entries
        (verify compares them with the live list), a security group's network none (its machines have no
        addresses the spec could know)."""
        problems: list[tuple[tuple[str | int, ...], str, str]] = []
        for field, named in (("prefix_lists", self.prefix_lists), ("security_groups", self.security_groups)):
            owner: dict[str, str] = {}
            for network, resource in named.items():
                where: tuple[str | int, ...] = (field, network)
                if network not in networks:
                    problems.append((where, f"{field}: unknown network '{network}'", did_you_mean(network, networks)))
                elif field == "prefix_lists" and not networks[network]:
                    message = f"network '{network}' is the prefix list {resource} but lists no address blocks"
                    problems.append((where, message, "list the prefix list's entries under its ipv4:/ipv6:"))
                elif field == "security_groups" and networks[network]:
                    message = (
                        f"network '{network}' is the security group {resource}, whose machines are whatever "
                        "carries it, but it lists address blocks"
                    )
                    problems.append((where, message, "remove its ipv4:/ipv6: lists, or make it a network of its own"))
                if resource in owner:
                    message = f"networks '{owner[resource]}' and '{network}' are both {resource}"
                    problems.append((where, message, "name each prefix list or group by one network"))
                owner.setdefault(resource, network)
        both = sorted(self.prefix_lists.keys() & self.security_groups.keys())
        problems += [
            (("security_groups", n), f"network '{n}' is both a prefix list and a security group", "choose one")
            for n in both
        ]
        return problems


class AwsMembers(TargetSettings):
    """The machines in the VPC that carry a role's security group: the union of what each field selects."""

    tags: dict[str, str] = Field(
        default={}, description="instances carrying all these tags (every network interface of each)"
    )
    instance_ids: list[InstanceId] = Field(default=[], description="these instances (every network interface)")
    network_interface_ids: list[InterfaceId] = Field(default=[], description="these network interfaces")

    @property
    def by_id(self) -> bool:
        """Whether machines are named by ID (Terraform can attach them); tag selectors are for the live path."""
        return bool(self.instance_ids or self.network_interface_ids)
