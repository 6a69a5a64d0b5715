"""The spec's `targets.aws` block, and a role's `members.aws` (which machines carry the role's group)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from pydantic import Field

from cloudports.targets.base import TargetSettings

InstanceId = Annotated[str, Field(pattern=r"^i-[0-9a-f]{8,17}$")]
InterfaceId = Annotated[str, Field(pattern=r"^eni-[0-9a-f]{8,17}$")]
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

    def role_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """An unmanaged rule sits on a role's group."""
        return [
            (("unmanaged", i), f"unknown role '{key.split('/')[0]}' in unmanaged rule {key}", "name a role of the spec")
            for i, key in enumerate(self.unmanaged)
            if key.split("/")[0] not in roles
        ]


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
