"""The spec's `targets.azure` block."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

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
    nsg: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$",
        description="with subnets listing roles: the existing NSG of this subnet (default: <nsg_name>-<subnet>); "
        "`import` writes it, so that adopting a lab keeps its NSGs",
    )

    @property
    def key(self) -> str:
        """'vnet/subnet', as plans and the emitted Terraform name it."""
        return f"{self.virtual_network}/{self.name}"


_AZURE_NAME = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$"


class AzureRole(TargetSettings):
    """What a role is on Azure, where the lab already has it."""

    asg: str | None = Field(
        default=None,
        pattern=_AZURE_NAME,
        description="the existing application security group this role is (default: <name>-<role>-asg); "
        "`import` writes it, so that adopting a lab keeps its ASGs and the NICs in them",
    )


class AzureUnmanaged(TargetSettings):
    """A live rule the spec cannot say, kept where it is: never written, never deleted, avoided by priority."""

    nsg: str = Field(description="the NSG that holds the rule")
    rule: str = Field(description="the rule's name in that NSG")


class AzureSettings(TargetSettings):
    location: str = "westeurope"
    resource_group: str | None = None
    nsg_name: str | None = Field(default=None, pattern=_AZURE_NAME)
    subnets: list[AzureSubnet] = []
    tags: dict[str, str] = {}
    vnet_inbound: Literal["deny", "allow"] = Field(
        default="deny",
        description="deny: cloudports adds deny-vnet-inbound, so only the spec's flows pass; allow: Azure's default "
        "AllowVnetInBound lets every machine of the virtual network reach every other (as a lab without such a "
        "deny has it)",
    )
    roles: dict[str, AzureRole] = Field(default={}, description="per role: the existing ASG it is")
    service_tags: dict[str, Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.]{0,79}$")]] = Field(
        default={},
        description="network -> Azure service tag (Internet, VirtualNetwork, AzureLoadBalancer, ...): on Azure the "
        "network's rules name the tag, not its CIDRs (which stay what the network means elsewhere and to verify)",
    )
    unmanaged: list[AzureUnmanaged] = Field(
        default=[],
        description="live rules kept as they are (plan and drift show them as kept, not managed): what import "
        "found that the spec cannot say; remove an entry to have apply delete that rule",
    )

    def network_problems(self, networks: Mapping[str, bool]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """A service tag stands for a network of the spec."""
        return [
            (("service_tags", name), f"service_tags: unknown network '{name}'", did_you_mean(name, networks))
            for name in self.service_tags
            if name not in networks
        ]

    def asg_name(self, role: str) -> str | None:
        """The ASG name the spec gives the role, if it gives one."""
        found = self.roles.get(role)
        return found.asg if found else None

    def kept(self, nsg: str) -> set[str]:
        """The names of the unmanaged rules of one NSG (Azure compares names case-insensitively)."""
        return {u.rule.lower() for u in self.unmanaged if u.nsg.lower() == nsg.lower()}

    @property
    def split(self) -> bool:
        """One NSG per subnet (some subnet lists its roles), rather than one NSG on every subnet."""
        return any(s.roles for s in self.subnets)

    def role_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """Roles named under `roles` exist and name distinct ASGs; in split mode every subnet lists roles that
        exist, and every role sits in some subnet."""
        problems = self._role_asg_problems(roles)
        return problems + self._subnet_problems(roles) if self.split else problems

    def _role_asg_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
        problems: list[tuple[tuple[str | int, ...], str, str]] = []
        owner: dict[str, str] = {}
        for role, entry in self.roles.items():
            if role not in roles:
                problems.append((("roles", role), f"unknown role '{role}'", did_you_mean(role, roles)))
            if entry.asg and entry.asg.lower() in owner:
                other = owner[entry.asg.lower()]
                message = f"roles '{other}' and '{role}' name the same ASG {entry.asg}"
                problems.append((("roles", role, "asg"), message, "give each role its own ASG"))
            if entry.asg:
                owner.setdefault(entry.asg.lower(), role)
        return problems

    def _subnet_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
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
