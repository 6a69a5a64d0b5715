"""Neutral rules -> AWS desired state, with the per-group rule quota checked before anything is emitted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from cloudports.compile import CompiledPolicy, Rule
from cloudports.gcpause import gc_paused
from cloudports.spec.model import IPNetwork
from cloudports.targets.aws.model import AwsState, SecurityGroup, SgRule, open_egress
from cloudports.targets.aws.settings import AwsSettings
from cloudports.targets.aws.split import split_roles
from cloudports.targets.aws.text import aws_description
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, TOPOLOGY_TAG, spec_identity
from cloudports.targets.text import truncate

# A group's description cannot be changed (Terraform replaces the group, which fails while instances use it):
# it stays "cloudports <topology> role <role>" and the role's description goes into this tag.
DESCRIPTION_TAG = "cloudports:description"


def aws_tag_value(text: str, limit: int = 256) -> str:
    """An EC2 tag value: at most 256 characters (EC2 accepts any Unicode character); whitespace collapsed."""
    return truncate(re.sub(r"\s+", " ", text).strip(), limit)


def group_description(topology: str, role: str) -> str:
    return aws_description(f"cloudports {topology} role {role}")


def _sg_rule(rule: Rule, described: dict[tuple[str, ...], str], settings: AwsSettings) -> SgRule:
    """`described`: a neutral rule's descriptions -> the AWS description, shared by the rules of one build (one
    flow gives several rules the same text): joined and cleaned once for them all. A network that is a prefix
    list or a foreign group (targets.aws.prefix_lists, security_groups) is named as that: every CIDR of a prefix
    list's network gives the one rule that names the list."""
    proto = "-1" if rule.protocol == "all" else rule.protocol
    peer = rule.peer
    description = described.get(rule.descriptions)
    if description is None:
        description = described[rule.descriptions] = aws_description(rule.description)
    cidr_ipv4 = cidr_ipv6 = referenced_group = group_id = prefix_list = None
    if peer.kind == "role":
        referenced_group = peer.name
    elif peer.kind == "network":  # the loader lets only a security group's network have no addresses
        group_id = settings.security_groups[peer.name]
    elif peer.name in settings.prefix_lists:
        prefix_list = settings.prefix_lists[peer.name]
    else:
        cidr_ipv4, cidr_ipv6 = (None, peer.cidr) if peer.version == 6 else (peer.cidr, None)
    from_port, to_port = (None, None) if proto == "-1" else (rule.from_port, rule.to_port)
    return SgRule(
        rule.role,
        rule.direction,
        proto,
        from_port,
        to_port,
        cidr_ipv4,
        cidr_ipv6,
        referenced_group,
        group_id,
        prefix_list,
        description=description,
        port_params=rule.port_params,
        network="" if peer.kind == "role" else peer.name,
    )


def admits_all(wide: SgRule, narrow: SgRule) -> bool:
    """Whether `wide` admits every protocol and port `narrow` does (their peers aside)."""
    if wide.ip_protocol == "-1":
        return True
    if wide.ip_protocol != narrow.ip_protocol or wide.from_port is None or narrow.from_port is None:
        return False
    if wide.ip_protocol in ("tcp", "udp"):
        return wide.from_port <= narrow.from_port and (narrow.to_port or 0) <= (wide.to_port or 0)
    return wide.from_port == -1 or (wide.from_port == narrow.from_port and wide.to_port in (-1, narrow.to_port))


def _families(rule: SgRule) -> tuple[int, ...]:
    """The address families a group-reference rule admits traffic over (machines are dual-stack)."""
    return {"icmp": (4,), "icmpv6": (6,), "58": (6,), "1": (4,)}.get(rule.ip_protocol, (4, 6))


def _egress_already_allowed(rules: dict[str, SgRule]) -> list[str]:
    """Strict egress: the keys of role-to-role egress rules that the same group's egress to whole address families
    (0.0.0.0/0 and ::/0, which hold every machine) already admits, over every family the rule carries traffic in.
    Writing them would add nothing a flow needs and would only spend the group's rule quota. A /0 of one family
    alone does not stand for a group reference: the machines talk over the other family too."""
    wide: dict[tuple[str, int], list[SgRule]] = {}
    for rule in rules.values():
        if rule.direction == "egress" and (rule.cidr_ipv4 or rule.cidr_ipv6 or "").endswith("/0"):
            wide.setdefault((rule.group, 4 if rule.cidr_ipv4 else 6), []).append(rule)
    return [
        key
        for key, rule in rules.items()
        if rule.direction == "egress"
        and rule.referenced_group
        and all(any(admits_all(w, rule) for w in wide.get((rule.group, f), ())) for f in _families(rule))
    ]


def _entries(cidrs: Iterable[IPNetwork]) -> tuple[str, ...]:
    """A prefix list's entries as the spec lists them and AWS reports them (read.py): canonical, sorted."""
    return tuple(sorted(str(c) for c in cidrs))


@gc_paused()  # builds a large acyclic structure: see gcpause
def build_aws(policy: CompiledPolicy, settings: AwsSettings) -> AwsState:
    """The one route to an AWS state from a spec: `settings` is the spec's targets.aws with any command-line
    overrides (VPC, region) already applied."""
    topo = policy.topology
    identity = spec_identity(topo.name, name_prefix=settings.name_prefix)
    common = {**settings.tags, TOPOLOGY_TAG: topo.name, SPEC_TAG: identity}
    groups = {}
    for role in sorted(topo.roles.values(), key=lambda r: r.name):
        name = f"{settings.name_prefix}{role.name}"
        desc = group_description(topo.name, role.name)
        tags = {ROLE_TAG: role.name, "Name": name}
        if role.description:
            tags[DESCRIPTION_TAG] = aws_tag_value(role.description)
        groups[role.name] = SecurityGroup(role.name, name, desc, tuple(sorted(tags.items())))
    rules: dict[str, SgRule] = {}
    origins: dict[str, list[str]] = {}
    # Different networks can share a CIDR: AWS sees one rule, so their descriptions are merged.
    described: dict[tuple[str, ...], str] = {}
    for rule in policy.rules:
        sg_rule = _sg_rule(rule, described, settings)
        key = sg_rule.key
        if key in rules:
            parts = dict.fromkeys(d for d in (rules[key].description, sg_rule.description) if d)
            joined = aws_description("; ".join(parts))  # no ";" for two empty ones, no "x; x"
            params = tuple(sorted({*rules[key].port_params, *sg_rule.port_params}))
            # Networks sharing a block: the Terraform key names the first, whatever the flows' order.
            network = min(rules[key].network, sg_rule.network)
            sg_rule = replace(rules[key], description=joined, port_params=params, network=network)
            # a prefix list's network: one rule for every CIDR of the flow, each saying the same place
            origins[key].extend(o for o in map(str, rule.origins) if o not in origins[key])
        else:
            origins[key] = [str(o) for o in rule.origins]
        rules[key] = sg_rule
    if topo.egress == "open":
        rules |= {r.key: r for role_name in groups for r in open_egress(role_name)}
    else:
        for key in _egress_already_allowed(rules):
            del rules[key], origins[key]
    state = AwsState(
        topology=topo.name,
        region=settings.region,
        vpc_id=settings.vpc_id,
        name_prefix=settings.name_prefix,
        common_tags=dict(sorted(common.items())),
        groups=groups,
        rules=dict(sorted(rules.items())),
        egress=topo.egress,
        rule_origins=origins,
        max_rules=settings.max_rules_per_group,
        max_groups_per_interface=settings.max_groups_per_interface,
        members=topo.members_for("aws"),
        unmanaged=frozenset(settings.unmanaged),
        prefix_lists={pl: _entries(topo.networks[n].cidrs) for n, pl in sorted(settings.prefix_lists.items())},
        named_groups=dict(sorted(settings.security_groups.items())),
    )
    split_roles(state, settings.max_rules_per_group, settings.max_groups_per_interface)
    return state
