"""What a target's reader hands to the spec writer: a live lab in terms no cloud owns.

A reader turns each allow rule into *halves*: "machines of role R accept / may send this traffic from / to this
peer". The spec's flows are made of such halves (a flow from A to B is B's ingress half and, under strict
egress, A's egress half), so synthesis.py can rebuild flows from them and say exactly what it could not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cloudports.spec.model import PortSpec


@dataclass(frozen=True, order=True)
class Peer:
    kind: Literal["role", "cidr", "network", "other"]
    # the role, a canonical CIDR, a network the reader defines (Lab.networks: a prefix list, another team's group),
    # or (other) what it is, for people: "sg-0123 (a group not imported)"
    value: str
    hint: str = ""  # a CIDR's network name, where the live rule says it (e.g. in an Azure rule's name)


@dataclass(frozen=True, order=True)
class Half:
    role: str
    direction: Literal["ingress", "egress"]
    peer: Peer
    port: PortSpec
    description: str = ""
    rule: str = ""  # the live rule it came from, for messages


@dataclass(frozen=True)
class LiveRole:
    name: str  # a valid role name
    description: str
    source: str  # what it was read from: "security group lab-web (sg-0123)"


@dataclass
class NamedNetwork:
    """A network the reader names itself (an AWS prefix list, another team's security group): what the spec says
    of it, and the target setting that says what it is there; both written only where a flow uses it."""

    definition: dict[str, list[str]]  # the spec's networks.<name>: {"ipv4": [...]}, or {} (no addresses)
    target: str  # "aws"
    setting: str  # under targets.<target>: "prefix_lists"
    value: str  # what the network is there: "pl-0123..."


@dataclass
class Lab:
    name: str
    description: str
    roles: dict[str, LiveRole]
    halves: list[Half]
    egress: Literal["open", "strict"]
    targets: dict[str, dict[str, Any]]  # the spec's `targets` block, so that `plan` works at once
    approximations: list[str] = field(default_factory=list)  # what the reader could not express
    live_rules: list[str] = field(default_factory=list)  # every live rule, named as plan and drift name rules
    # whether the target writes no role-to-role egress rule where the source's egress to a /0 already admits it
    # (then such a pair is a flow exactly, not an approximation)
    wide_egress_holds_roles: bool = False
    # (target, setting) of the `targets` block keyed by network name (targets.azure.service_tags): the spec keeps
    # only the entries of networks its flows use (a rule kept as it is names networks no flow does)
    network_keyed: tuple[tuple[str, str], ...] = ()
    # the networks the reader names itself (Peer kind "network"), by name
    networks: dict[str, NamedNetwork] = field(default_factory=dict)
