"""The Azure state: the NSG(s) with their security rules, and one ASG per role (shared by every NSG).

A spec whose subnets list no roles has one NSG, associated with all its subnets; one whose subnets list their
roles has one NSG per subnet, holding the inbound rules of the roles in that subnet and their outbound rules
(Azure evaluates the destination subnet's NSG inbound and the source subnet's NSG outbound).

Produced by the builder (desired) and by reading the live NSGs (actual, read.py); emission, apply and drift
share it. LiveState adds what only live resources have: IDs, regions, subnet associations, other tagged NSGs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cloudports.live.plan import INTERNAL

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
    port_params: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False, metadata=INTERNAL)

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
class Nsg:
    """One network security group: its rules and the spec's subnets it is associated with."""

    name: str
    rules: dict[str, NsgRule]  # name -> rule
    subnets: list[AzureSubnet] = field(default_factory=list)
    rule_origins: dict[str, list[str]] = field(default_factory=dict)
    # The roles whose machines sit in its subnets (targets.azure.subnets[].roles); None: every role (one NSG).
    roles: frozenset[str] | None = None
    # Live rules kept as they are (targets.azure.unmanaged; from the live NSG, none without one): name -> rule
    kept: dict[str, NsgRule] = field(default_factory=dict)
    unmanaged: tuple[str, ...] = ()  # the lower-cased names targets.azure.unmanaged lists for this NSG
    vnet_inbound: bool = False  # the spec lets the VNet in (no deny-vnet-inbound: Azure's default rule decides)
    # Rules the emitted Terraform writes before the others: they take over what another rule allowed (emit.py)
    written_first: frozenset[str] = frozenset()

    def holds(self, role: str | None) -> bool:
        """Whether machines of `role` sit behind this NSG (None: an address, behind none)."""
        return role is not None and (self.roles is None or role in self.roles)


@dataclass
class AzureState:
    topology: str
    location: str
    resource_group: str | None
    tags: dict[str, str]  # on every NSG and ASG (plus the role tag on ASGs)
    asgs: dict[str, Asg]  # role -> ASG
    nsgs: dict[str, Nsg]  # name -> NSG, sorted by name
    egress: str = "open"
    members: dict[str, AzureMembers] = field(default_factory=dict)  # role -> which NICs sit in its ASG (spec)
    machines: dict[str, Nic] = field(default_factory=dict)  # lower-cased NIC ID -> NIC (live state only)
    asg_ids: dict[str, str] = field(default_factory=dict)  # role key -> lower-cased ASG ID (live state only)
    least_rules: int = 0  # no packing of the spec's pairs needs fewer rules, all NSGs together (bound.py; desired only)

    @property
    def split(self) -> bool:
        """One NSG per subnet (the spec's subnets list their roles)."""
        return any(n.roles is not None for n in self.nsgs.values())

    @property
    def nsg(self) -> Nsg:
        """The one NSG of a spec whose subnets list no roles."""
        if len(self.nsgs) != 1:
            raise ValueError(f"{len(self.nsgs)} NSGs: name one of state.nsgs")
        return next(iter(self.nsgs.values()))

    def all_rules(self) -> list[tuple[Nsg, NsgRule]]:
        """Every rule of every NSG, with its NSG."""
        return [(nsg, rule) for nsg in self.nsgs.values() for rule in nsg.rules.values()]


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


Priorities = dict[str, dict[tuple[str, str], int]]  # NSG name -> (direction, rule name) -> priority


@dataclass
class LiveState:
    # The spec's NSGs that exist, with their rules, and the owned ASGs, as the model (subnets: the spec's)
    state: AzureState
    nsgs: dict[str, LiveNsg]  # name -> the spec's NSGs that exist (and are ours, or adopted)
    other_nsgs: list[LiveNsg]  # further NSGs tagged for this topology (e.g. after nsg_name or subnets changed)
    asgs: dict[str, LiveAsg]  # key -> owned ASG, with its ID and region
    subnets: dict[str, SubnetRef]  # "vnet/subnet" -> the spec's subnets
    busy: tuple[str, ...] = ()  # resources read while a write on them was still running (provisioningState)

    def rules(self, nsg: str) -> dict[str, NsgRule]:
        """The live rules of one of the spec's NSGs (none while it does not exist)."""
        found = self.state.nsgs.get(nsg)
        return found.rules if found else {}

    @property
    def priorities(self) -> Priorities:
        return {n.name: {(r.direction, r.name): r.priority for r in n.rules.values()} for n in self.state.nsgs.values()}

    def owned_nsg_ids(self) -> set[str]:
        return {n.id.lower() for n in [*self.nsgs.values(), *self.other_nsgs]}
