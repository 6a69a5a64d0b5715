"""AWS security groups of a VPC -> an imported lab (cloudports.importer.model): one role per group.

Groups are chosen by VPC and optionally by ID, name prefix and tags; the VPC's `default` group is left out unless
its ID is given. A group's role is its cloudports role tag, or its name without the prefix, made valid. Rules
are read and normalised as `drift` reads them (read.py), so an imported spec compiles to rules that compare
equal to the live ones.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.importer.model import Half, Lab, LiveRole, NamedNetwork, Peer
from cloudports.importer.write import valid_name
from cloudports.spec.model import INTERNET, PortSpec
from cloudports.targets.aws.api import FILTER_VALUES, aws_errors, chunks
from cloudports.targets.aws.build import DESCRIPTION_TAG
from cloudports.targets.aws.model import PART_TAG, SgRule, part_key
from cloudports.targets.aws.read import (
    _describe_groups,
    _part,
    _tags,
    describe_rules,
    normalise_rule,
    read_prefix_lists,
    vpc_has_ipv6,
)
from cloudports.targets.ownership import ROLE_TAG, TOPOLOGY_TAG

ALL_OUT = {"0.0.0.0/0", "::/0"}


def _select(ec2: Any, vpc: str, group_ids: list[str], prefix: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [{"Name": "vpc-id", "Values": [vpc]}]
    filters += [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(tags.items())]
    filters += [{"Name": "group-id", "Values": group_ids}] if group_ids else []
    with aws_errors("listing security groups", vpc):
        groups = _describe_groups(ec2, filters)
    chosen = [g for g in groups if g["GroupName"].startswith(prefix) and (group_ids or g["GroupName"] != "default")]
    if not chosen:
        raise CloudportsError(
            [
                Diagnostic(
                    None, f"aws: no security group in {vpc} matches", "check --vpc-id, --group-id, --name-prefix, --tag"
                )
            ]
        )
    return sorted(chosen, key=lambda g: g["GroupName"])


def _prefix(groups: list[dict[str, Any]], given: str | None) -> str:
    """The name prefix: as given, else the one cloudports used (name = prefix + role tag on every group)."""
    if given is not None:
        return given
    found = set()
    for group in groups:
        role = _tags(group).get(ROLE_TAG)
        if not role or not group["GroupName"].endswith(role):
            return ""
        found.add(group["GroupName"][: -len(role)])
    return found.pop() if len(found) == 1 else ""


def _roles(groups: list[dict[str, Any]], prefix: str, notes: list[str]) -> dict[str, LiveRole]:
    """Group ID -> role, with a unique valid name each."""
    roles: dict[str, LiveRole] = {}
    taken: set[str] = set()
    by_role_tag: dict[str, LiveRole] = {}
    for group in sorted(groups, key=lambda g: _tags(g).get(PART_TAG, "")):  # a role's first group first
        tags, name = _tags(group), group["GroupName"]
        if tags.get(PART_TAG) and tags.get(ROLE_TAG) in by_role_tag:  # a later group of a split role: the same role
            roles[group["GroupId"]] = by_role_tag[tags[ROLE_TAG]]
            continue
        wanted = tags.get(ROLE_TAG) or name[len(prefix) :]
        role = valid_name(wanted, "group")
        while role in taken:
            role = valid_name(f"{role}-{group['GroupId'][-4:]}")
        if prefix + role != name:
            notes.append(
                f"security group {name} becomes role '{role}': cloudports would name its group {prefix + role}"
            )
        taken.add(role)
        description = tags.get(DESCRIPTION_TAG) or group.get("Description", "")
        if description.startswith("cloudports "):  # cloudports' own fixed group description says nothing
            description = ""
        roles[group["GroupId"]] = LiveRole(role, description, f"security group {name} ({group['GroupId']})")
        by_role_tag.setdefault(tags.get(ROLE_TAG, ""), roles[group["GroupId"]])
    return roles


def _port(rule: SgRule) -> PortSpec | None:
    proto = rule.ip_protocol
    if proto == "-1":
        return PortSpec("all")
    if proto in ("tcp", "udp", "icmp", "icmpv6"):
        lo = -1 if rule.from_port is None else rule.from_port
        hi = -1 if rule.to_port is None else rule.to_port
        return PortSpec(proto, lo, hi)  # type: ignore[arg-type]
    return None


def _name_in(description: str) -> str:
    """A CIDR rule's description that reads as a name ("ops", "admin network") names its network."""
    words = description.split()
    if not words or len(words) > 3 or len(description) > 30:
        return ""
    return valid_name(" ".join(w for w in words if w.lower() not in ("network", "net", "from", "the")), "")


def _peer(rule: SgRule, named: dict[str, str]) -> Peer:
    """`named`: prefix list or foreign group ID -> the network it becomes (_named_networks)."""
    if rule.referenced_group:
        return Peer("role", rule.referenced_group)
    if rule.cidr_ipv4 or rule.cidr_ipv6:
        return Peer("cidr", str(rule.cidr_ipv4 or rule.cidr_ipv6), _name_in(rule.description))
    other = rule.prefix_list_id or rule.referenced_group_id or ""
    if other in named:
        return Peer("network", named[other])
    return Peer("other", f"prefix list {other} (empty, or not readable by this account)")


def _halves(rules: list[SgRule], named: dict[str, str], notes: list[str]) -> list[Half]:
    halves = []
    for rule in rules:
        port = _port(rule)
        where = f"{rule.key}: {rule.direction} IP protocol {rule.ip_protocol}"
        if port is None:
            notes.append(f"{where}: a spec names tcp, udp, icmp, icmpv6 or all only; left out")
            continue
        halves.append(Half(rule.group, rule.direction, _peer(rule, named), port, rule.description, rule.key))
    return halves


def _unique(wanted: str, resource: str, taken: set[str]) -> str:
    name = valid_name(wanted, "net")
    while name in taken or name == INTERNET:
        name = valid_name(f"{name}-{resource[-4:]}")
    taken.add(name)
    return name


def _named_networks(ec2: Any, rules: list[SgRule], taken: set[str]) -> dict[str, tuple[str, NamedNetwork]]:
    """The prefix lists and foreign groups the rules name -> (network, what the spec says of it), named the way
    people name them (the list's name, the group's name; `taken`: names already used). A prefix list is the
    network of its entries (targets.aws.prefix_lists); another team's group a network without addresses
    (targets.aws.security_groups). A list that is empty or that this account cannot read is no network a spec
    can say: its rules stay unmanaged."""
    lists = sorted({r.prefix_list_id for r in rules if r.prefix_list_id})
    groups = sorted({r.referenced_group_id for r in rules if r.referenced_group_id})
    return {**_list_networks(ec2, lists, taken), **_group_networks(ec2, groups, taken)}


def _list_networks(ec2: Any, lists: list[str], taken: set[str]) -> dict[str, tuple[str, NamedNetwork]]:
    if not lists:  # most labs: no call at all
        return {}
    with aws_errors("reading managed prefix lists"):  # by filter: a list the account cannot see is left out
        pages = ec2.get_paginator("describe_managed_prefix_lists").paginate(
            Filters=[{"Name": "prefix-list-id", "Values": lists}]
        )
        described = sorted((item for page in pages for item in page["PrefixLists"]), key=lambda i: i["PrefixListId"])
    entries = read_prefix_lists(ec2, [item["PrefixListId"] for item in described])
    found = {}
    for item in (i for i in described if entries[i["PrefixListId"]]):
        pl = item["PrefixListId"]
        by_family: dict[str, list[str]] = {}
        for cidr in entries[pl]:
            by_family.setdefault("ipv6" if ":" in cidr else "ipv4", []).append(cidr)
        name = _unique(item.get("PrefixListName") or pl, pl, taken)
        found[pl] = (name, NamedNetwork(dict(sorted(by_family.items())), "aws", "prefix_lists", pl))
    return found


def _group_networks(ec2: Any, groups: list[str], taken: set[str]) -> dict[str, tuple[str, NamedNetwork]]:
    names: dict[str, str] = {}
    with aws_errors("reading the other security groups the rules name"):
        for ids in chunks(groups, FILTER_VALUES):
            names |= {
                g["GroupId"]: g["GroupName"] for g in _describe_groups(ec2, [{"Name": "group-id", "Values": ids}])
            }
    # a group this account cannot see (another account's, through peering) is named by its ID
    return {
        sg: (_unique(names.get(sg, sg), sg, taken), NamedNetwork({}, "aws", "security_groups", sg)) for sg in groups
    }


def _allow_all_out(half: Half) -> bool:
    return half.direction == "egress" and half.port.protocol == "all" and half.peer.value in ALL_OUT


def _egress(halves: list[Half], roles: list[str], has_ipv6: bool) -> tuple[str, list[Half]]:
    """'open' when every group lets everything out to 0.0.0.0/0 (and to ::/0 where the VPC has IPv6: AWS's
    default egress, and what cloudports writes for `egress: open`) and has no other egress rule, those rules then
    dropped; otherwise 'strict', each egress rule part of a flow."""
    needed = ALL_OUT if has_ipv6 else {"0.0.0.0/0"}
    everywhere = {(h.role, h.peer.value) for h in halves if _allow_all_out(h)}
    others = [h for h in halves if h.direction == "egress" and not _allow_all_out(h)]
    if others or any((role, cidr) not in everywhere for role in roles for cidr in needed):
        return "strict", halves
    return "open", [h for h in halves if not _allow_all_out(h)]


def read_lab(ec2: Any, vpc: str, options: dict[str, str | None]) -> Lab:
    """The lab in `vpc` (options: group_ids, name_prefix and tags, comma-separated; name)."""
    group_ids = [g for g in (options.get("group_ids") or "").split(",") if g]
    tags = dict(t.split("=", 1) for t in (options.get("tags") or "").split(",") if "=" in t)
    groups = _select(ec2, vpc, group_ids, options.get("name_prefix") or "", tags)
    prefix = _prefix(groups, options.get("name_prefix"))
    notes: list[str] = []
    roles = _roles(groups, prefix, notes)
    with aws_errors("reading security group rules", vpc):
        raw = describe_rules(ec2, list(roles))
    keys = {gid: role.name for gid, role in roles.items()}
    rules = sorted((normalise_rule(r, keys) for r in raw), key=lambda r: r.key)
    named = _named_networks(ec2, rules, {r.name for r in roles.values()})
    halves = _halves(list({r.key: r for r in rules}.values()), {i: name for i, (name, _) in named.items()}, notes)
    egress, halves = _egress(halves, [r.name for r in roles.values()], vpc_has_ipv6(ec2, vpc))
    topologies = {_tags(g).get(TOPOLOGY_TAG) for g in groups}
    name = options.get("name") or (topologies.pop() if len(topologies) == 1 and None not in topologies else "")
    settings: dict[str, Any] = {"region": ec2.meta.region_name, "vpc_id": vpc}
    if prefix:
        settings["name_prefix"] = prefix
    per_group = Counter((r.group, r.direction, r.family) for r in rules)
    if per_group and max(per_group.values()) > 60:  # the quota cloudports assumes unless told (60 by default)
        settings["max_rules_per_group"] = min(1000, max(per_group.values()))
    return Lab(
        valid_name(name or f"imported-{vpc}"),
        f"Imported from the security groups of {vpc}",
        {r.name: r for r in roles.values()},
        halves,
        egress,  # type: ignore[arg-type]
        {"aws": settings},
        notes,
        _rule_names(groups, roles, raw),
        wide_egress_holds_roles=True,  # build.py writes no role-to-role egress a /0 egress admits
        networks=dict(named.values()),
    )


def _rule_names(groups: list[dict[str, Any]], roles: dict[str, LiveRole], raw: list[dict[str, Any]]) -> list[str]:
    """Every live rule as plan names it: by its group's key (a split role's later groups: 'web-2', ...)."""
    keys = {g["GroupId"]: part_key(roles[g["GroupId"]].name, _part(_tags(g))) for g in groups}
    return sorted({normalise_rule(r, keys).key for r in raw})
