"""The checked topology: what the compiler consumes. Every element remembers where it was written."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from cloudports.errors import Loc
from cloudports.slots import setters

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel

Protocol = Literal["tcp", "udp", "icmp", "icmpv6", "all"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNET = "internet"


@dataclass(frozen=True, order=True, slots=True, init=False)
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
        # The slots' own setters (cloudports.slots): the frozen dataclass's generated __init__ is slower.
        _port_spec_protocol(self, protocol)
        _port_spec_from_port(self, from_port)
        _port_spec_to_port(self, to_port)
        _port_spec_params(self, params)

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


_port_spec_protocol, _port_spec_from_port, _port_spec_to_port, _port_spec_params = setters(
    PortSpec, "protocol", "from_port", "to_port", "params"
)


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


@dataclass(frozen=True, slots=True, init=False)
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
        # The slots' own setters (cloudports.slots): the frozen dataclass's generated __init__ is slower.
        _flow_index(self, index)
        _flow_sources(self, sources)
        _flow_destinations(self, destinations)
        _flow_ports(self, ports)
        _flow_service_names(self, service_names)
        _flow_description(self, description)
        _flow_phase(self, phase)
        _flow_allow_exposure(self, allow_exposure)
        _flow_loc(self, loc)
        _flow_ports_loc(self, ports_loc)


(
    _flow_index,
    _flow_sources,
    _flow_destinations,
    _flow_ports,
    _flow_service_names,
    _flow_description,
    _flow_phase,
    _flow_allow_exposure,
    _flow_loc,
    _flow_ports_loc,
) = setters(
    Flow,
    "index",
    "sources",
    "destinations",
    "ports",
    "service_names",
    "description",
    "phase",
    "allow_exposure",
    "loc",
    "ports_loc",
)


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

    @cached_property
    def flows_naming(self) -> dict[tuple[str, str], list[Flow]]:
        """(name, "to" | "from") -> the flows that name it on that side, in spec order; indexed on first use (the
        flows are final once the spec is loaded), so that a question about one role reads only its own flows."""
        found: dict[tuple[str, str], list[Flow]] = {}
        for flow in self.flows:
            for name in flow.destinations:
                found.setdefault((name, "to"), []).append(flow)
            for name in flow.sources:
                found.setdefault((name, "from"), []).append(flow)
        return found

    def members_for(self, target: str) -> dict[str, Any]:
        """Role -> its `members.<target>` selector (that target's members_model), for the roles that have one."""
        return {name: role.members[target] for name, role in sorted(self.roles.items()) if target in role.members}
