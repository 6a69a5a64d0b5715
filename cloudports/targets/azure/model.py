"""The Azure desired state: one NSG with its security rules, and one ASG per role.

Produced by the compiler (desired) and by reading the live NSG (actual); emission, apply and drift share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TOPOLOGY_TAG = "cloudports:topology"
ROLE_TAG = "cloudports:role"

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

    def content(self) -> tuple:
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


@dataclass
class AzureDesiredState:
    topology: str
    location: str
    resource_group: str | None
    nsg_name: str
    tags: dict[str, str]  # on the NSG and every ASG (plus the role tag on ASGs)
    asgs: dict[str, Asg]  # role -> ASG
    rules: dict[str, NsgRule]  # name -> rule
    subnets: list = field(default_factory=list)  # schema.AzureSubnet
    egress: str = "open"
    rule_origins: dict[str, list[str]] = field(default_factory=dict)
    warnings: list = field(default_factory=list)
