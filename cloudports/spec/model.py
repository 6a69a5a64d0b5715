"""The checked topology: what the compiler consumes. Every element remembers where it was written."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from cloudports.errors import Loc

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel

Protocol = Literal["tcp", "udp", "icmp", "icmpv6", "all"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNET = "internet"


@dataclass(frozen=True, order=True, init=False)
class PortSpec:
    """One protocol and port range a service listens on.

    tcp/udp: from_port..to_port inclusive. icmp/icmpv6: from_port is the type and to_port the code, -1 meaning
    any (the same encoding AWS uses). all: both -1.
    """

    protocol: Protocol
    from_port: int = -1
    to_port: int = -1
    # Where the port came from, for Terraform variables: ("web_port",) for `tcp/${web_port}`, ("",) for a literal
    # or a range, both when a service or flow lists the same port twice. Not part of the identity: the same port
    # from a parameter and from a literal is one port.
    params: tuple[str, ...] = field(default=("",), compare=False)

    def __init__(
        self, protocol: Protocol, from_port: int = -1, to_port: int = -1, params: tuple[str, ...] = ("",)
    ) -> None:
        # Written into the instance's __dict__: the generated __init__ of a frozen dataclass calls
        # object.__setattr__ for each field, which made building a large spec's ports several times slower.
        fields = self.__dict__  # in field order: the instances keep sharing one key table
        fields["protocol"] = protocol
        fields["from_port"] = from_port
        fields["to_port"] = to_port
        fields["params"] = params

    def __str__(self) -> str:
        if self.protocol == "all":
            return "all"
        if self.protocol in ("icmp", "icmpv6"):
            if self.from_port < 0:
                return self.protocol
            code = f":{self.to_port}" if self.to_port >= 0 else ""
            return f"{self.protocol}/{self.from_port}{code}"
        if self.from_port == self.to_port:
            return f"{self.protocol}/{self.from_port}"
        return f"{self.protocol}/{self.from_port}-{self.to_port}"

    def applies_to(self, version: int) -> bool:
        """ICMP is per address family: icmp reaches IPv4 peers, icmpv6 IPv6 peers."""
        if self.protocol == "icmp":
            return version == 4
        if self.protocol == "icmpv6":
            return version == 6
        return True


def unique_ports(ports: list[PortSpec]) -> tuple[PortSpec, ...]:
    """Each port once, in first-seen order, remembering every origin of a port listed twice (PortSpec.params)."""
    if len(ports) == 1 and len(ports[0].params) == 1:  # most flows: nothing to merge
        return (ports[0],)
    seen: dict[PortSpec, tuple[str, ...]] = {}
    for port in ports:
        seen[port] = tuple(sorted({*seen.get(port, ()), *port.params}))
    return tuple(port if port.params == params else replace(port, params=params) for port, params in seen.items())


@dataclass(frozen=True)
class Network:
    name: str
    cidrs: tuple[IPNetwork, ...]
    description: str = ""
    loc: Loc | None = None


@dataclass(frozen=True)
class Role:
    name: str
    description: str = ""
    loc: Loc | None = None
    # target name -> that target's members selector (its members_model): which machines carry the role there
    members: Mapping[str, BaseModel] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Service:
    name: str
    ports: tuple[PortSpec, ...]
    description: str = ""
    sources: tuple[str, ...] = ()
    optional: bool = False
    legacy: bool = False
    catalog: str | None = None  # None: defined in the spec
    loc: Loc | None = None


@dataclass(frozen=True, init=False)
class Flow:
    """'sources may connect to destinations on ports', after names and parameters are resolved."""

    index: int
    sources: tuple[str, ...]  # role or network names
    destinations: tuple[str, ...]
    ports: tuple[PortSpec, ...]
    service_names: tuple[str, ...]  # what the user wrote (services and inline ports), for display
    description: str
    phase: str | None
    allow_exposure: str | None
    loc: Loc
    ports_loc: Loc

    def __init__(
        self,
        index: int,
        sources: tuple[str, ...],
        destinations: tuple[str, ...],
        ports: tuple[PortSpec, ...],
        service_names: tuple[str, ...],
        description: str,
        phase: str | None,
        allow_exposure: str | None,
        loc: Loc,
        ports_loc: Loc,
    ) -> None:
        # Written into the instance's __dict__: the generated __init__ of a frozen dataclass calls
        # object.__setattr__ for each field, which made building a large spec's flows several times slower.
        fields = self.__dict__  # in field order: the instances keep sharing one key table
        fields["index"] = index
        fields["sources"] = sources
        fields["destinations"] = destinations
        fields["ports"] = ports
        fields["service_names"] = service_names
        fields["description"] = description
        fields["phase"] = phase
        fields["allow_exposure"] = allow_exposure
        fields["loc"] = loc
        fields["ports_loc"] = ports_loc


@dataclass
class Topology:
    name: str
    description: str
    egress: Literal["open", "strict"]
    networks: dict[str, Network]
    roles: dict[str, Role]
    services: dict[str, Service]
    flows: list[Flow]
    parameters: dict[str, int | str]
    targets: dict[str, BaseModel]  # target name -> its settings (the spec's targets.<name>, validated)
    phase: str | None = None
    skipped_flows: list[Flow] = field(default_factory=list)  # flows of another phase
    parameter_descriptions: dict[str, str] = field(default_factory=dict)  # name -> the declaration's description
    warnings: list = field(default_factory=list)  # Diagnostic

    def is_role(self, name: str) -> bool:
        return name in self.roles

    def members_for(self, target: str) -> dict[str, Any]:
        """Role -> its `members.<target>` selector (that target's members_model), for the roles that have one."""
        return {name: role.members[target] for name, role in sorted(self.roles.items()) if target in role.members}
