"""Live AWS state, read into the same model the builder produces (AwsState / SgRule).

What a spec owns is exactly the security groups in the VPC tagged `cloudports:topology=<name>` and
`cloudports:spec=<identity>` (the topology plus the spec's name prefix, ownership.spec_identity), so two specs
of one topology in one VPC never touch each other's groups. A group an older cloudports tagged with the topology
only is this spec's when its name is the one this spec gives its role (prefix + role); the next apply adds
the spec tag. Their rules
are read with DescribeSecurityGroupRules (filtered by group ID, paginated) and normalised the way compiled
rules are written, so that a rule made by cloudports, by Terraform or by hand compares equal when it allows
the same traffic. Rules of groups cloudports does not own are never read, so they can never be changed.
Everything is read through VpcReads: EC2 itself, or in a fleet command one read of the VPC that every spec in it
shares (snapshot.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from cloudports.errors import CloudportsError
from cloudports.targets.aws.api import FILTER_VALUES, PAGE_SIZE, aws_errors, chunks
from cloudports.targets.aws.model import (
    PART_TAG,
    AwsState,
    LiveGroup,
    LiveState,
    Machine,
    SecurityGroup,
    SgRule,
    open_egress,
    part_key,
)
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, TOPOLOGY_TAG, NameConflicts, claim, is_mine

# AWS reports protocols by name for these and by number otherwise; the builder writes names.
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
_PORTED = ("tcp", "udp", "icmp", "icmpv6")


def normalise_protocol(raw: Any) -> str:
    text = str(raw).lower()
    return _PROTOCOL_NAMES.get(text, text)


def canonical_cidr(text: str) -> str:
    """AWS canonicalises 10.1.2.3/16 to 10.1.0.0/16 and writes IPv6 compressed; so does the compiler."""
    return str(ipaddress.ip_network(text, strict=False))


def normalise_rule(raw: dict[str, Any], keys_by_id: dict[str, str]) -> SgRule:
    """One DescribeSecurityGroupRules item -> SgRule, keyed like a compiled rule."""
    proto = normalise_protocol(raw["IpProtocol"])
    # "-1" and protocols other than tcp/udp/icmp/icmpv6 allow every port whatever range is stored.
    ports = (int(raw["FromPort"]), int(raw["ToPort"])) if proto in _PORTED else (None, None)
    peer: dict[str, Any] = {}  # one of the peer fields (Any: mypy checks **peer against every SgRule field)
    if raw.get("CidrIpv4"):
        peer["cidr_ipv4"] = canonical_cidr(raw["CidrIpv4"])
    elif raw.get("CidrIpv6"):
        peer["cidr_ipv6"] = canonical_cidr(raw["CidrIpv6"])
    elif raw.get("PrefixListId"):
        peer["prefix_list_id"] = raw["PrefixListId"]
    elif raw.get("ReferencedGroupInfo"):
        ref = raw["ReferencedGroupInfo"]["GroupId"]
        peer["referenced_group" if ref in keys_by_id else "referenced_group_id"] = keys_by_id.get(ref, ref)
    return SgRule(
        group=keys_by_id[raw["GroupId"]],
        direction="egress" if raw["IsEgress"] else "ingress",
        ip_protocol=proto,
        from_port=ports[0],
        to_port=ports[1],
        **peer,
        description=raw.get("Description") or "",
    )


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


# What a DescribeSecurityGroups item carries that cloudports never reads: the group's rules, grouped (they are read
# with DescribeSecurityGroupRules, which has rule IDs). A fleet command holds its VPCs' listings to the end, and
# with them every rule of the VPC twice (about 13 MiB for 500 groups of 32 rules).
_UNREAD = ("IpPermissions", "IpPermissionsEgress")


def _describe_groups(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=filters, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    return [{k: v for k, v in group.items() if k not in _UNREAD} for page in pages for group in page["SecurityGroups"]]


def describe_rules(ec2: Any, group_ids: list[str]) -> list[dict[str, Any]]:
    """Every rule of these groups (and only these), FILTER_VALUES groups a request, page by page. One request after
    the other: asked side by side (EC2 answering one while boto3 parses another) a fleet's read of 500 groups was
    no faster on the local server and held three answers at once (159 -> 190 MiB at 100 labs)."""
    found: list[dict[str, Any]] = []
    for ids in chunks(sorted(group_ids), FILTER_VALUES):
        pages = ec2.get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": "group-id", "Values": ids}], PaginationConfig={"PageSize": PAGE_SIZE}
        )
        found.extend(rule for page in pages for rule in page["SecurityGroupRules"])
    return found


def vpc_has_ipv6(ec2: Any, vpc_id: str) -> bool:
    with aws_errors("reading the VPC", vpc_id):
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    return any(
        a.get("Ipv6CidrBlockState", {}).get("State") == "associated"
        for vpc in vpcs
        for a in vpc.get("Ipv6CidrBlockAssociationSet") or []
    )


def _name_conflicts(
    desired: AwsState, same_name: list[dict[str, Any]], owned_ids: set[str], mode: NameConflicts
) -> list[dict[str, Any]]:
    """Untagged groups that carry a declared group's name: refused, or (with --adopt) returned for adoption."""
    problems, adoptable = [], []
    for group in same_name:
        if group["GroupId"] in owned_ids:
            continue
        where = f"security group {group['GroupName']} ({group['GroupId']}) in {desired.vpc_id}"
        hint = "rename or delete it, or give this topology another targets.aws.name_prefix"
        verdict = claim("aws", where, _tags(group), desired.identity, mode, hint)
        if verdict.problem:
            problems.append(verdict.problem)
        elif verdict.verdict == "adopt":
            adoptable.append(group)
    if problems:
        raise CloudportsError(problems)
    return adoptable


def _group_keys(
    desired: AwsState, owned: list[dict[str, Any]], adoptable: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any], bool]]:
    """(key, raw group, adopt) per group: a declared role once, preferring the group with the declared name."""
    by_name = {g.name: role for role, g in desired.groups.items()}
    ordered = sorted(owned, key=lambda g: (by_name.get(g["GroupName"]) is None, g["GroupName"], g["GroupId"]))
    taken: set[str] = set()
    out = []
    for group, adopt in [(g, False) for g in ordered] + [(g, True) for g in adoptable]:
        key = by_name[group["GroupName"]] if adopt else _owned_key(group)
        if key in taken:
            if adopt:  # the role already has an owned group: leave the untagged one alone
                continue
            key = f"{key}@{group['GroupId']}"  # a second group claiming the same role: an extra group
        taken.add(key)
        out.append((key, group, adopt))
    return out


def _part(tags: dict[str, str]) -> int:
    """Which of its role's groups a group is (split.py): 1, or the number in its part tag."""
    return int(tags[PART_TAG]) if tags.get(PART_TAG, "").isdigit() else 1


def _owned_key(group: dict[str, Any]) -> str:
    """An owned group's key: its role, and for a role's later groups the part ('web-2'; split.py)."""
    tags = _tags(group)
    return part_key(tags.get(ROLE_TAG) or group["GroupName"], _part(tags))


def owned_by(desired: AwsState, group: dict[str, Any]) -> bool:
    """Whether a group (a DescribeSecurityGroups item) is this spec's: see the module docstring."""
    tags = _tags(group)
    if not is_mine(tags, desired.topology, desired.identity):
        return False
    return SPEC_TAG in tags or group["GroupName"] == f"{desired.name_prefix}{tags.get(ROLE_TAG, '')}"


Groups = list[dict[str, Any]]  # DescribeSecurityGroups items


class VpcReads:
    """The reads of one VPC a spec's live state is made of, each asked of EC2 when called (one spec, apply).
    snapshot.py's VpcSnapshot answers the same questions from one read shared by the specs of a fleet command."""

    def __init__(self, ec2: Any, vpc: str):
        self.ec2 = ec2
        self.vpc = vpc

    def groups(self) -> Groups:
        """Every security group in the VPC (a page per 1,000)."""
        with aws_errors("listing security groups", self.vpc):
            return _describe_groups(self.ec2, [{"Name": "vpc-id", "Values": [self.vpc]}])

    def rules(self, group_ids: list[str], action: str = "reading security group rules") -> list[dict[str, Any]]:
        """Every rule of these groups, and only of these."""
        with aws_errors(action, self.vpc):
            return describe_rules(self.ec2, group_ids)

    def machines(self, instance_tags: bool) -> dict[str, Machine]:
        return read_machines(self.ec2, self.vpc, instance_tags)

    def has_ipv6(self) -> bool:
        return vpc_has_ipv6(self.ec2, self.vpc)


def _list_groups(reads: VpcReads, desired: AwsState) -> tuple[Groups, Groups, Groups]:
    """(every group in the VPC, the groups this spec owns, the groups carrying a name the spec declares): one
    listing of the VPC's groups, sorted out here rather than with a tag filter and a name filter (two calls)."""
    in_vpc = reads.groups()
    names = {g.name for g in desired.groups.values()}
    owned = [g for g in in_vpc if _tags(g).get(TOPOLOGY_TAG) == desired.topology and owned_by(desired, g)]
    return in_vpc, owned, [g for g in in_vpc if g["GroupName"] in names]


def _read_rules(
    reads: VpcReads, keys_by_id: dict[str, str]
) -> tuple[dict[str, SgRule], dict[str, str], list[tuple[SgRule, str]]]:
    """(rules by key, rule ID by key, further rules with an already-seen key) of the given groups."""
    raw_rules = reads.rules(list(keys_by_id))
    rules: dict[str, SgRule] = {}
    rule_ids: dict[str, str] = {}
    duplicates: list[tuple[SgRule, str]] = []
    for raw in sorted(raw_rules, key=lambda r: r["SecurityGroupRuleId"]):
        rule = normalise_rule(raw, keys_by_id)
        if rule.key in rules:
            duplicates.append((rule, raw["SecurityGroupRuleId"]))
            continue
        rules[rule.key] = rule
        rule_ids[rule.key] = raw["SecurityGroupRuleId"]
    return dict(sorted(rules.items())), rule_ids, duplicates


def describe_interfaces(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The network interfaces the filters select, page by page."""
    pages = ec2.get_paginator("describe_network_interfaces").paginate(
        Filters=filters, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    return [eni for page in pages for eni in page["NetworkInterfaces"]]


def read_machines(ec2: Any, vpc: str, instance_tags: bool) -> dict[str, Machine]:
    """Every network interface in the VPC with its groups; `instance_tags`: also read the instances' tags (one
    more paged call) for members selected by tag."""
    in_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    with aws_errors("reading network interfaces", vpc):
        interfaces = describe_interfaces(ec2, in_vpc)
        tags_of: dict[str, dict[str, str]] = {}
        if instance_tags:
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=in_vpc, PaginationConfig={"PageSize": PAGE_SIZE}
            )
            tags_of = {i["InstanceId"]: _tags(i) for p in pages for r in p["Reservations"] for i in r["Instances"]}
    machines = {}
    for eni in interfaces:
        instance = (eni.get("Attachment") or {}).get("InstanceId")
        tags = tags_of.get(instance, {}) if instance else {t["Key"]: t["Value"] for t in eni.get("TagSet") or []}
        machines[eni["NetworkInterfaceId"]] = Machine(
            id=eni["NetworkInterfaceId"],
            instance_id=instance,
            private_ips=tuple(a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses") or []),
            group_ids=tuple(g["GroupId"] for g in eni.get("Groups") or []),
            tags=tuple(sorted(tags.items())),
        )
    return dict(sorted(machines.items()))


def read_live(
    ec2: Any,
    desired: AwsState,
    conflicts: NameConflicts = "error",
    destroying: bool = False,
    machines: bool = False,
    reads: VpcReads | None = None,
) -> LiveState:
    """Owned groups and their rules in the desired state's VPC (plus, with adopt, same-name untagged groups).

    The VPC's network interfaces are read too when membership is at stake: some role has members, or a group is
    to be deleted (it must come off every machine first); or when asked (`machines`, for query). `reads`: where
    the VPC is read from (a fleet's shared snapshot); by default EC2 itself, through `ec2`."""
    vpc = desired.vpc_id
    if not vpc:  # open_backend refuses a spec without a VPC; this guards other callers
        raise CloudportsError(f"aws: no VPC given for topology '{desired.topology}'")
    reads = reads or VpcReads(ec2, vpc)
    in_vpc, owned, same_name = _list_groups(reads, desired)
    adoptable = _name_conflicts(desired, same_name, {g["GroupId"] for g in owned}, conflicts)

    groups: dict[str, LiveGroup] = {}
    model_groups: dict[str, SecurityGroup] = {}
    for key, raw, adopt in _group_keys(desired, owned, adoptable):
        tags = _tags(raw)
        groups[key] = LiveGroup(raw["GroupId"], key, raw["GroupName"], raw.get("Description", ""), tags, adopt)
        model_tags = tuple(sorted((k, v) for k, v in tags.items() if k in (ROLE_TAG, "Name", PART_TAG)))
        part = 1 if adopt else _part(tags)
        role = tags.get(ROLE_TAG, key) if part > 1 else key
        model_groups[key] = SecurityGroup(role, raw["GroupName"], raw.get("Description", ""), model_tags, part)

    rules, rule_ids, duplicates = _read_rules(reads, {g.id: key for key, g in groups.items()})
    state = AwsState(
        topology=desired.topology,
        region=desired.region,
        vpc_id=vpc,
        name_prefix=desired.name_prefix,
        common_tags=desired.common_tags,
        groups=dict(sorted(model_groups.items())),
        rules=rules,
        egress=desired.egress,
        group_ids={key: g.id for key, g in groups.items()},
        unmanaged=desired.unmanaged,
        named_groups=desired.named_groups,
    )
    if machines or desired.members or destroying or any(key not in desired.groups for key in groups):
        state.machines = reads.machines(any(m.tags for m in desired.members.values()))
    if machines:
        _add_foreign_groups(reads, state, {g.id for g in groups.values()}, in_vpc)
    # Whether AWS's default egress of a new group includes ::/0 matters only when groups are to be created; reading
    # the VPC then also proves it exists (InvalidVpcID.NotFound), which an empty listing cannot.
    # So does it where open egress finds a group without the ::/0 allow-all: only a VPC with IPv6 needs it.
    has_ipv6 = reads.has_ipv6() if _ipv6_matters(desired, state) else None
    return LiveState(state, groups, rule_ids, duplicates, has_ipv6)


def read_prefix_lists(ec2: Any, ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """What each prefix list holds now (never changed), canonical and sorted as build.py gives the spec's."""
    found = {}
    for pl in sorted(ids):
        with aws_errors("reading the managed prefix list", pl):
            pages = ec2.get_paginator("get_managed_prefix_list_entries").paginate(PrefixListId=pl)
            found[pl] = tuple(sorted(canonical_cidr(e["Cidr"]) for page in pages for e in page["Entries"]))
    return found


def _ipv6_matters(desired: AwsState, live: AwsState) -> bool:
    """Whether the VPC's IPv6 decides the plan: a group is to be created, or open egress finds a live group
    without an allow-all to ::/0 (AWS's default egress in a VPC without IPv6)."""
    if any(role not in live.groups for role in desired.groups):
        return True
    return desired.egress == "open" and any(open_egress(g)[1].key not in live.rules for g in live.groups)


def _add_foreign_groups(reads: VpcReads, state: AwsState, owned: set[str], in_vpc: Groups) -> None:
    """Read (never change) the other groups on the VPC's machines and their rules into the live state, keyed by
    group ID: `query --live` about a machine judges everything that governs it, not only cloudports' part. The
    groups themselves are in the VPC's listing already; only their rules are one more read."""
    foreign = sorted({g for m in state.machines.values() for g in m.group_ids} - owned)
    if not foreign:
        return
    raw_rules = reads.rules(foreign, "reading the other security groups on machines")
    keys_by_id = {**{i: key for key, i in state.group_ids.items()}, **{g: g for g in foreign}}
    for raw in in_vpc:
        if raw["GroupId"] in foreign:
            state.groups[raw["GroupId"]] = SecurityGroup(
                raw["GroupId"], raw["GroupName"], raw.get("Description", ""), ()
            )
            state.group_ids[raw["GroupId"]] = raw["GroupId"]
    for raw in raw_rules:
        rule = normalise_rule(raw, keys_by_id)
        state.rules.setdefault(rule.key, rule)
