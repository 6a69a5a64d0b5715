"""The spec's `targets.azure` block."""

from __future__ import annotations

from pydantic import Field

from cloudports.targets.base import TargetSettings


class AzureSubnet(TargetSettings):
    virtual_network: str
    name: str
    resource_group: str | None = None


class AzureSettings(TargetSettings):
    location: str = "westeurope"
    resource_group: str | None = None
    nsg_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
    subnets: list[AzureSubnet] = []
    tags: dict[str, str] = {}


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
