"""The neutral rule model: one direction, one protocol, one port range, one peer.

A rule is carried by a role ("web" allows ingress from X / egress to Y). Identity fields decide equality;
descriptions and origins ride along (compare=False) so that merging never depends on them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from cloudports.errors import Loc
from cloudports.slots import setters
from cloudports.spec.model import PortSpec, Protocol

Direction = Literal["ingress", "egress"]


@dataclass(frozen=True, order=True)
class Peer:
    """The other end of a rule: a role (security-group / ASG reference), one CIDR of a named network, or a network
    without addresses (`network`: its machines are what a target names, e.g. targets.aws.security_groups)."""

    kind: Literal["role", "cidr", "network"]
    name: str  # role name, or network name for CIDR and network peers
    cidr: str = ""  # canonical CIDR for kind == "cidr"

    # Cached (in the instance's __dict__, which a frozen dataclass still has): the compiler and both builders ask
    # for the family of every rule's peer, and parsing the CIDR each time was a tenth of the pipeline's time.
    @cached_property
    def version(self) -> int | None:
        return ipaddress.ip_network(self.cidr).version if self.cidr else None

    @cached_property
    def is_any(self) -> bool:
        return self.kind == "cidr" and ipaddress.ip_network(self.cidr).prefixlen == 0

    def __str__(self) -> str:
        return f"{self.name}({self.cidr})" if self.kind == "cidr" else self.name


@dataclass(frozen=True, order=True, slots=True, init=False)
class Rule:
    role: str
    direction: Direction
    protocol: Protocol
    from_port: int
    to_port: int
    peer: Peer
    descriptions: tuple[str, ...] = field(default=(), compare=False)
    origins: tuple[Loc, ...] = field(default=(), compare=False)
    # Where the ports came from, for Terraform variables: a parameter's name, or "" for a literal port; a merged
    # rule has every contributor's entry. Only a rule whose single port came from one parameter alone can be
    # emitted as `var.<parameter>`.
    port_params: tuple[str, ...] = field(default=("",), compare=False)

    def __init__(
        self,
        role: str,
        direction: Direction,
        protocol: Protocol,
        from_port: int,
        to_port: int,
        peer: Peer,
        descriptions: tuple[str, ...] = (),
        origins: tuple[Loc, ...] = (),
        port_params: tuple[str, ...] = ("",),
    ) -> None:
        # The slots' own setters (cloudports.slots): the frozen dataclass's generated __init__ is slower.
        _rule_role(self, role)
        _rule_direction(self, direction)
        _rule_protocol(self, protocol)
        _rule_from_port(self, from_port)
        _rule_to_port(self, to_port)
        _rule_peer(self, peer)
        _rule_descriptions(self, descriptions)
        _rule_origins(self, origins)
        _rule_port_params(self, port_params)

    @property
    def port(self) -> PortSpec:
        return PortSpec(self.protocol, self.from_port, self.to_port)

    @property
    def param(self) -> str | None:
        """The parameter this rule's port is, when that parameter alone gave it (tcp/udp, a single port)."""
        if len(self.port_params) == 1 and self.port_params[0] and self.from_port == self.to_port:
            return self.port_params[0]
        return None

    @property
    def description(self) -> str:
        return "; ".join(d for d in self.descriptions if d)


(
    _rule_role,
    _rule_direction,
    _rule_protocol,
    _rule_from_port,
    _rule_to_port,
    _rule_peer,
    _rule_descriptions,
    _rule_origins,
    _rule_port_params,
) = setters(
    Rule, "role", "direction", "protocol", "from_port", "to_port", "peer", "descriptions", "origins", "port_params"
)
