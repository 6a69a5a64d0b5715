"""The spec's `targets.azure` block."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import Field

from cloudports.errors import did_you_mean
from cloudports.targets.base import TargetSettings


class AzureSubnet(TargetSettings):
    virtual_network: str
    name: str
    resource_group: str | None = None
    roles: list[str] = Field(
        default=[],
        description="the roles whose machines sit in this subnet: when any subnet lists roles, each subnet gets "
        "its own NSG holding only the rules of its roles (for topologies one NSG cannot hold)",
    )

    @property
    def key(self) -> str:
        """'vnet/subnet', as plans and the emitted Terraform name it."""
        return f"{self.virtual_network}/{self.name}"


class AzureSettings(TargetSettings):
    location: str = "westeurope"
    resource_group: str | None = None
    nsg_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
    subnets: list[AzureSubnet] = []
    tags: dict[str, str] = {}

    @property
    def split(self) -> bool:
        """One NSG per subnet (some subnet lists its roles), rather than one NSG on every subnet."""
        return any(s.roles for s in self.subnets)

    def role_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """In split mode every subnet lists roles that exist, and every role sits in some subnet."""
        if not self.split:
            return []
        problems: list[tuple[tuple[str | int, ...], str, str]] = []
        seen: set[str] = set()
        for i, subnet in enumerate(self.subnets):
            if subnet.key in seen:
                problems.append(
                    (("subnets", i), f"subnet {subnet.key} is listed twice", "list its roles once, in one entry")
                )
            seen.add(subnet.key)
            if not subnet.roles:
                problems.append(
                    (
                        ("subnets", i),
                        f"subnet {subnet.key} lists no roles, while other subnets do (one NSG per subnet)",
                        "list the roles whose machines sit in it under 'roles:', or remove the subnet",
                    )
                )
            for j, role in enumerate(subnet.roles):
                if role not in roles:
                    problems.append(
                        (
                            ("subnets", i, "roles", j),
                            f"subnet {subnet.key}: unknown role '{role}'",
                            did_you_mean(role, roles),
                        )
                    )
        placed = {r for s in self.subnets for r in s.roles}
        for role in sorted(set(roles) - placed):
            problems.append(
                (
                    ("subnets",),
                    f"role '{role}' is in no subnet: with subnets listing roles, each role's rules go to the NSG of "
                    "its subnets, and this one's would go nowhere",
                    f"add '{role}' to the roles of the subnet(s) its machines sit in",
                )
            )
        return problems


class AzureResourceRef(TargetSettings):
    """A resource by name, in the spec's resource group unless another is given."""

    name: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
    resource_group: str | None = None


class AzureMembers(TargetSettings):
    """The machines that sit in a role's application security group: the union of what each field selects."""

    tags: dict[str, str] = Field(
        default={}, description="network interfaces in the resource group carrying all these tags"
    )
    network_interfaces: list[str | AzureResourceRef] = Field(default=[], description="these network interfaces")
    virtual_machines: list[str | AzureResourceRef] = Field(
        default=[], description="every network interface of these virtual machines"
    )

    def refs(self, field: str, resource_group: str) -> list[tuple[str, str]]:
        """(resource group, name) of each named NIC or VM, lower-cased as Azure compares names."""
        items = getattr(self, field)
        return [
            (resource_group.lower(), i.lower())
            if isinstance(i, str)
            else ((i.resource_group or resource_group).lower(), i.name.lower())
            for i in items
        ]

    @property
    def by_id(self) -> bool:
        """Whether machines are named (Terraform can associate them); tag selectors are for the live path."""
        return bool(self.network_interfaces or self.virtual_machines)
