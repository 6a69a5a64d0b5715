"""What `cloudports query` asks and answers, in terms no cloud owns: endpoints, one probe, a verdict with reasons.

A probe asks whether a *new connection* from one endpoint to another may be opened on one protocol/port. An
endpoint is a role machine (``role``) or a host address (``addr``). Role machines are dual-stack and lie
outside every named network except those spanning the whole address space (a /0 contains every role machine).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Port = int | tuple[int, int] | None  # tcp/udp port, icmp (type, code), None for other protocols

T = TypeVar("T")
ICMP_FAMILY = {"icmp": 4, "icmpv6": 6}
PRIVATE_PREFIXES: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


@dataclass(frozen=True)
class Point:
    """A role machine (role set), a host address (addr set), or a live machine (addr and carries set)."""

    role: str | None = None
    addr: IPAddress | None = None
    label: str = field(default="", compare=False)  # what the user called it, e.g. the network's name
    # A live machine: the groups it carries, as the state keys them (a role, or a foreign group's ID); it is
    # behind the cloud's firewall even when it carries none of cloudports' groups.
    carries: frozenset[str] | None = None
    # A machine of a spec network without addresses (another team's security group, targets.aws.security_groups):
    # in the network by its name, as a role machine is in its role; outside every firewall of the spec's.
    network: str | None = None

    def groups(self) -> list[str]:
        """The groups whose rules govern this endpoint (none: an address outside the firewall)."""
        return [self.role] if self.role is not None else sorted(self.carries or ())

    def __str__(self) -> str:
        if self.role is not None:
            return self.role
        if self.carries is not None or self.network is not None:
            return self.label
        return f"{self.label} ({self.addr})" if self.label else str(self.addr)


def machine_endpoint(name: str, addresses: tuple[str, ...], label: str, carries: set[str]) -> Point:
    """A live machine as an endpoint: at the address it was named by, else its first; with its groups."""
    address = name if name in addresses else next(iter(addresses), None)
    return Point(
        addr=ipaddress.ip_address(address) if address else None, label=f"machine {label}", carries=frozenset(carries)
    )


@dataclass(frozen=True)
class Probe:
    src: Point
    dst: Point
    protocol: str  # tcp, udp, icmp, icmpv6, or another IP protocol (matched only by "all" rules)
    port: Port = None

    @property
    def what(self) -> str:
        if self.port is None:
            return self.protocol if self.protocol in ("tcp", "udp", "icmp", "icmpv6") else "any protocol"
        if isinstance(self.port, tuple):
            return f"{self.protocol}/{self.port[0]}:{self.port[1]}"
        return f"{self.protocol}/{self.port}"

    def families(self) -> tuple[int, ...]:
        """The address families the packet can have (empty: an impossible packet)."""
        fams = {4, 6}
        for end in (self.src, self.dst):
            if end.addr is not None:
                fams &= {end.addr.version}
        if self.protocol in ICMP_FAMILY:
            fams &= {ICMP_FAMILY[self.protocol]}
        return tuple(sorted(fams))


@functools.lru_cache(maxsize=65536)
def network(text: str) -> IPNetwork | None:
    """A rule's CIDR, parsed once however many probes ask (None: not a CIDR, e.g. a service tag)."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def in_cidr(end: Point, cidr: IPNetwork, family: int) -> bool:
    """Whether the endpoint (in a packet of `family`) lies in `cidr` (a role machine only in a /0)."""
    if cidr.version != family:
        return False
    if end.addr is not None:
        return end.addr in cidr
    return cidr.prefixlen == 0


class BlockIndex(Generic[T]):
    """Items filed under address blocks, for finding those filed under the blocks that contain an endpoint
    without reading them all (verify asks this of every rule and flow for thousands of endpoints). CIDR blocks
    nest: the blocks that contain one address are one per prefix length, so a look-up is a few dict reads."""

    def __init__(self) -> None:
        self.filed: dict[tuple[int, int, int], list[T]] = {}  # (family, prefix length, first address) -> items
        self.lengths: dict[int, list[int]] = {4: [], 6: []}  # the prefix lengths filed, per family
        self.blocks: list[IPNetwork] = []  # every block filed, once

    def add(self, block: IPNetwork, item: T) -> None:
        key = (block.version, block.prefixlen, int(block.network_address))
        if key not in self.filed:
            self.filed[key] = []
            self.lengths[block.version] = sorted({*self.lengths[block.version], block.prefixlen})
            self.blocks.append(block)
        self.filed[key].append(item)

    def spans_all(self) -> bool:
        """Whether a /0 is filed: a block that holds role machines too."""
        return any(0 in lengths for lengths in self.lengths.values())

    def containing(self, end: Point, family: int) -> list[T]:
        """The items filed under a block that holds `end` in a packet of `family` (in_cidr's rule: a role
        machine, or a machine without an address, lies only in a /0), by prefix length, then as filed."""
        if end.addr is None:
            return list(self.filed.get((family, 0, 0), ()))
        if end.addr.version != family:
            return []
        bits, addr = end.addr.max_prefixlen, int(end.addr)
        found: list[T] = []
        for length in self.lengths[family]:
            first = addr >> (bits - length) << (bits - length)
            found += self.filed.get((family, length, first), ())
        return found


@dataclass(frozen=True)
class Reason:
    """One piece of the why: a flow or rule that admits, or what stops the connection."""

    direction: str  # "ingress", "egress" or "" (both / neither)
    admits: bool
    text: str
    ref: str = ""  # spec file:line:col, or the cloud rule's key / name
    priority: int | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"direction": self.direction, "admits": self.admits, "text": self.text}
        if self.ref:
            found["ref"] = self.ref
        if self.priority is not None:
            found["priority"] = self.priority
        return found


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: tuple[Reason, ...] = field(default=())


def first_verdict(per_family: list[Verdict]) -> Verdict:
    """A connection is allowed if it is over one family; a denial keeps the reasons of every family."""
    for verdict in per_family:
        if verdict.allowed:
            return verdict
    reasons = tuple(dict.fromkeys(r for v in per_family for r in v.reasons))
    if not per_family:
        reasons = (Reason("", False, "no packet of this protocol can pass between these two addresses"),)
    return Verdict(False, reasons)
