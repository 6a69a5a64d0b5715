"""The AWS state: security groups and atomic rules, keyed by stable keys.

The same model is produced by the builder (desired) and by reading a live account (actual, read.py), so
Terraform emission, direct apply and drift detection compare like with like. LiveState adds what only a live
account has: the groups' and rules' IDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cloudports.live.plan import INTERNAL
from cloudports.slots import setters
from cloudports.targets.ownership import spec_identity

if TYPE_CHECKING:
    from cloudports.targets.aws.settings import AwsMembers


PART_TAG = "cloudports:part"  # on a role's second, third, ... group (part_key)


def part_key(role: str, part: int) -> str:
    """The key (and name suffix) of a role's n-th group: 'web', 'web-2', 'web-3', ..."""
    return role if part == 1 else f"{role}-{part}"


@dataclass(frozen=True)
class SecurityGroup:
    """One security group. A role whose rules outgrow one group's quota has several (parts 2, 3, ... keyed
    'web-2', ...), attached together wherever the role is; other groups' rules reference its first one."""

    role: str
    name: str  # full AWS name (prefix + role, + '-<part>' after the first)
    description: str
    tags: tuple[tuple[str, str], ...]  # sorted items, hashable
    part: int = 1

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)


@dataclass(frozen=True, order=True, slots=True, init=False)
class SgRule:
    """One AWS security group rule (one peer, one protocol, one port range)."""

    group: str  # role key of the group that carries the rule
    direction: Literal["ingress", "egress"]
    ip_protocol: str  # tcp, udp, icmp, icmpv6 or -1
    from_port: int | None  # None for -1; icmp: type (-1 any)
    to_port: int | None  # None for -1; icmp: code (-1 any)
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    referenced_group: str | None = None  # role key of a group cloudports owns
    referenced_group_id: str | None = None  # a foreign group (only seen in live state)
    prefix_list_id: str | None = None  # only seen in live state
    description: str = field(default="", compare=False)
    port_params: tuple[str, ...] = field(default=("",), compare=False, metadata=INTERNAL)  # compile.rules.Rule
    # The spec's network this CIDR, prefix list or foreign group came from ("" for a group reference, a live rule,
    # open egress): the Terraform key names a CIDR's (keys.py), so a widened network keeps its rule's key.
    network: str = field(default="", compare=False, metadata=INTERNAL)

    def __init__(
        self,
        group: str,
        direction: Literal["ingress", "egress"],
        ip_protocol: str,
        from_port: int | None,
        to_port: int | None,
        cidr_ipv4: str | None = None,
        cidr_ipv6: str | None = None,
        referenced_group: str | None = None,
        referenced_group_id: str | None = None,
        prefix_list_id: str | None = None,
        description: str = "",
        port_params: tuple[str, ...] = ("",),
        network: str = "",
    ) -> None:
        # The slots' own setters (cloudports.slots): the frozen dataclass's generated __init__ is slower.
        _sg_rule_group(self, group)
        _sg_rule_direction(self, direction)
        _sg_rule_ip_protocol(self, ip_protocol)
        _sg_rule_from_port(self, from_port)
        _sg_rule_to_port(self, to_port)
        _sg_rule_cidr_ipv4(self, cidr_ipv4)
        _sg_rule_cidr_ipv6(self, cidr_ipv6)
        _sg_rule_referenced_group(self, referenced_group)
        _sg_rule_referenced_group_id(self, referenced_group_id)
        _sg_rule_prefix_list_id(self, prefix_list_id)
        _sg_rule_description(self, description)
        _sg_rule_port_params(self, port_params)
        _sg_rule_network(self, network)

    @property
    def peer(self) -> str:
        if self.referenced_group:
            return f"sg:{self.referenced_group}"
        if self.referenced_group_id:
            return f"sgid:{self.referenced_group_id}"
        if self.prefix_list_id:
            return f"pl:{self.prefix_list_id}"
        return f"cidr:{self.cidr_ipv4 or self.cidr_ipv6}"

    @property
    def ports(self) -> str:
        if self.ip_protocol == "-1" or self.from_port is None:  # -1, or a protocol without ports (47: GRE)
            return "all"
        if self.ip_protocol in ("icmp", "icmpv6"):
            return "any" if self.from_port == -1 else f"{self.from_port}:{self.to_port}"
        return str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"

    @property
    def key(self) -> str:
        """What the rule is (everything but the description): how plan, apply and drift compare desired and live
        rules. Terraform keys rules by what they are for instead (keys.py)."""
        return self.key_with(self.ports, self.peer)

    def key_with(self, ports: str, peer: str) -> str:
        """A key with other ports and peer parts (keys.py: the Terraform key)."""
        way = "in" if self.direction == "ingress" else "out"
        proto = "all" if self.ip_protocol == "-1" else self.ip_protocol
        return f"{self.group}/{way}/{proto}/{ports}/{peer}"

    @property
    def family(self) -> int:
        return 6 if self.cidr_ipv6 else 4


(
    _sg_rule_group,
    _sg_rule_direction,
    _sg_rule_ip_protocol,
    _sg_rule_from_port,
    _sg_rule_to_port,
    _sg_rule_cidr_ipv4,
    _sg_rule_cidr_ipv6,
    _sg_rule_referenced_group,
    _sg_rule_referenced_group_id,
    _sg_rule_prefix_list_id,
    _sg_rule_description,
    _sg_rule_port_params,
    _sg_rule_network,
) = setters(
    SgRule,
    "group",
    "direction",
    "ip_protocol",
    "from_port",
    "to_port",
    "cidr_ipv4",
    "cidr_ipv6",
    "referenced_group",
    "referenced_group_id",
    "prefix_list_id",
    "description",
    "port_params",
    "network",
)


OPEN_EGRESS_DESCRIPTION = "open egress policy: all outbound traffic"


def open_egress(role: str) -> tuple[SgRule, SgRule]:
    """`egress: open` written out (aws_security_group strips AWS's default allow-all): to 0.0.0.0/0, to ::/0."""
    return (
        SgRule(role, "egress", "-1", None, None, cidr_ipv4="0.0.0.0/0", description=OPEN_EGRESS_DESCRIPTION),
        SgRule(role, "egress", "-1", None, None, cidr_ipv6="::/0", description=OPEN_EGRESS_DESCRIPTION),
    )


@dataclass(frozen=True)
class Machine:
    """One network interface in the VPC and every security group on it: what role membership is about."""

    id: str  # eni-...
    instance_id: str | None
    private_ips: tuple[str, ...]
    group_ids: tuple[str, ...]  # all of them, in AWS's order, cloudports' or not
    tags: tuple[tuple[str, str], ...]  # the instance's tags; an interface without an instance: its own

    @property
    def label(self) -> str:
        """How plans name it: 'i-0abc eni-0def (10.0.1.5)'."""
        ips = f" ({', '.join(self.private_ips)})" if self.private_ips else ""
        return f"{self.instance_id} {self.id}{ips}" if self.instance_id else f"{self.id}{ips}"


@dataclass
class AwsState:
    topology: str
    region: str
    vpc_id: str | None
    name_prefix: str
    common_tags: dict[str, str]  # on every group and every rule
    groups: dict[str, SecurityGroup]  # role -> group
    rules: dict[str, SgRule]  # key -> rule
    egress: str = "open"
    rule_origins: dict[str, list[str]] = field(default_factory=dict)  # key -> spec locations
    max_rules: int = 60  # rules per group, direction and IP family (targets.aws.max_rules_per_group)
    max_groups_per_interface: int = 5  # targets.aws.max_groups_per_interface
    members: dict[str, AwsMembers] = field(default_factory=dict)  # role -> which machines carry its group (spec)
    machines: dict[str, Machine] = field(default_factory=dict)  # eni ID -> interface (live state only)
    group_ids: dict[str, str] = field(default_factory=dict)  # group key -> sg- ID (live state only)
    unmanaged: frozenset[str] = frozenset()  # keys of live rules kept, not managed (targets.aws.unmanaged)
    ipv6: bool | None = None  # live state read for verify/query: whether the VPC has an IPv6 block (None: unknown)
    # The prefix lists the spec names (targets.aws.prefix_lists) -> their entries: the spec's CIDRs of the network
    # in a built state, what the list holds in a live one (read.py); what verify and query match a rule naming it by.
    prefix_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # network -> the foreign security group it is (targets.aws.security_groups): its machines are a spec network's
    named_groups: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """This spec's cloudports:spec tag value: the topology and the names it gives its groups."""
        return spec_identity(self.topology, name_prefix=self.name_prefix)

    def rules_of(self, group: str, direction: str) -> list[SgRule]:
        """The rules of one group (by key)."""
        return [r for r in self.rules.values() if r.group == group and r.direction == direction]

    def parts(self, role: str) -> list[str]:
        """The keys of a role's groups, first one first ([role] when the role has one group, or none here)."""
        found = sorted((g.part, key) for key, g in self.groups.items() if g.role == role)
        return [key for _part, key in found] or [role]

    def role_of(self, group: str) -> str:
        """The role a group key belongs to (a foreign group's key is its own)."""
        found = self.groups.get(group)
        return found.role if found else group


@dataclass(frozen=True)
class LiveGroup:
    id: str
    key: str  # the role it is managed as (or, for an owned group the spec no longer has, a unique stand-in)
    name: str
    description: str
    tags: dict[str, str] = field(compare=False)
    adopt: bool = False  # an untagged same-name group that --adopt takes over


@dataclass
class LiveState:
    state: AwsState  # live groups and rules, in the same model as the desired state
    groups: dict[str, LiveGroup]  # key -> group
    rule_ids: dict[str, str]  # rule key -> sgr- ID
    duplicates: list[tuple[SgRule, str]]  # further live rules with an already-seen key (non-canonical CIDRs)
    vpc_has_ipv6: bool | None = None  # None: not read (no group to create)
