"""The Azure state: one NSG with its security rules, and one ASG per role.

Produced by the builder (desired) and by reading the live NSG (actual, read.py); emission, apply and drift
share it. LiveState adds what only live resources have: IDs, regions, subnet associations, other tagged NSGs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from cloudports.targets.azure.settings import AzureMembers, AzureSubnet

ALLOW_PRIORITIES = range(100, 4000)  # cloudports' allow rules
DENY_PRIORITY = 4096  # the structural deny rules sit below every allow


@dataclass(frozen=True)
class Asg:
    role: str
    name: str
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class NsgRule:
    """One NSG security rule. ASG references hold role keys; prefixes hold CIDRs or service tags."""

    name: str
    direction: Literal["Inbound", "Outbound"]
    access: Literal["Allow", "Deny"]
    protocol: str  # Tcp, Udp, Icmp, Esp, Ah or *
    destination_ports: tuple[str, ...]  # "443", "1000-2000" or "*"
    source_prefixes: tuple[str, ...] = ()
    source_asgs: tuple[str, ...] = ()
    destination_prefixes: tuple[str, ...] = ()
    destination_asgs: tuple[str, ...] = ()
    source_ports: tuple[str, ...] = ("*",)
    priority: int = 0
    description: str = ""
    # Per destination port entry, where its ports came from (compile.rules.Rule.port_params): emission makes an
    # entry that one parameter alone gave a Terraform variable. Not compared: equal rules allow the same traffic.
    port_params: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)

    def content(self) -> tuple[object, ...]:
        """Everything that decides what the rule allows (not its name, priority or description)."""
        return (
            self.direction,
            self.access,
            self.protocol,
            self.destination_ports,
            self.source_prefixes,
            self.source_asgs,
            self.destination_prefixes,
            self.destination_asgs,
            self.source_ports,
        )


@dataclass(frozen=True)
class Nic:
    """One network interface and the application security groups on its IP configurations (membership)."""

    id: str
    name: str
    resource_group: str
    location: str
    vm_id: str | None  # the virtual machine it belongs to
    private_ips: tuple[str, ...]
    asg_ids: frozenset[str]  # lower-cased IDs (Azure keeps one set for all the NIC's IP configurations)
    tags: tuple[tuple[str, str], ...]
    vnet: str = ""  # lower-cased ID of its virtual network (from its first IP configuration's subnet)

    @property
    def label(self) -> str:
        vm = f"{self.vm_id.rsplit('/', 1)[-1]} " if self.vm_id else ""
        ips = f" ({', '.join(self.private_ips)})" if self.private_ips else ""
        return f"{vm}{self.name}{ips}"


@dataclass
class AzureState:
    topology: str
    location: str
    resource_group: str | None
    nsg_name: str
    tags: dict[str, str]  # on the NSG and every ASG (plus the role tag on ASGs)
    asgs: dict[str, Asg]  # role -> ASG
    rules: dict[str, NsgRule]  # name -> rule
    subnets: list[AzureSubnet] = field(default_factory=list)
    egress: str = "open"
    rule_origins: dict[str, list[str]] = field(default_factory=dict)
    members: dict[str, AzureMembers] = field(default_factory=dict)  # role -> which NICs sit in its ASG (spec)
    machines: dict[str, Nic] = field(default_factory=dict)  # lower-cased NIC ID -> NIC (live state only)
    asg_ids: dict[str, str] = field(default_factory=dict)  # role key -> lower-cased ASG ID (live state only)
    least_rules: int = 0  # no packing of the spec's pairs needs fewer rules (pack.lower_bound; desired state only)


@dataclass(frozen=True)
class LiveNsg:
    name: str
    id: str
    location: str
    tags: dict[str, str] = field(compare=False)
    subnet_ids: tuple[str, ...] = ()  # subnets associated with it (any, not only the spec's)
    rule_count: int = 0
    adopt: bool = False  # an untagged same-name NSG that --adopt takes over


@dataclass(frozen=True)
class LiveAsg:
    key: str  # its role, or a unique stand-in for an owned ASG the spec does not have
    name: str
    id: str
    location: str
    tags: dict[str, str] = field(compare=False)
    adopt: bool = False


@dataclass(frozen=True)
class SubnetRef:
    """A subnet the spec names, as read: which NSG (if any) it is associated with."""

    key: str  # "vnet/subnet"
    resource_group: str
    virtual_network: str
    name: str
    id: str
    nsg_id: str | None


@dataclass
class LiveState:
    state: AzureState  # the spec's NSG's rules (empty when the NSG is missing) and the owned ASGs, as the model
    nsg: LiveNsg | None  # the spec's NSG, if it exists (and is ours, or adopted)
    other_nsgs: list[LiveNsg]  # further NSGs tagged for this topology (e.g. after nsg_name changed)
    asgs: dict[str, LiveAsg]  # key -> owned ASG, with its ID and region
    subnets: dict[str, SubnetRef]  # "vnet/subnet" -> the spec's subnets
    busy: tuple[str, ...] = ()  # resources read while a write on them was still running (provisioningState)

    @property
    def rules(self) -> dict[str, NsgRule]:
        return self.state.rules

    @property
    def priorities(self) -> dict[tuple[str, str], int]:
        return {(r.direction, r.name): r.priority for r in self.rules.values()}

    def owned_nsg_ids(self) -> set[str]:
        return {n.id.lower() for n in [self.nsg, *self.other_nsgs] if n}
