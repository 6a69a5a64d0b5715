"""An Azure resource group's NSG and ASGs -> an imported lab (cloudports.importer.model): one role per ASG.

Rules are read and normalised as `drift` reads them (normalise.py). An allow rule becomes halves: Inbound on
each destination ASG's role, Outbound on each source ASG's role; `*` and VirtualNetwork on the role side mean
every role. cloudports' own structural denies are recognised (deny-vnet-inbound, deny-all-outbound: strict
egress); any other deny, and anything a spec cannot name, is listed as an approximation.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.importer.model import Half, Lab, LiveRole, Peer
from cloudports.importer.write import valid_name
from cloudports.query.model import PRIVATE_PREFIXES
from cloudports.spec.model import PortSpec
from cloudports.targets.azure.arm import ArmSettings, arm_errors
from cloudports.targets.azure.model import NsgRule
from cloudports.targets.azure.normalise import normalise_rule
from cloudports.targets.azure.placement import misplaced, role_homes
from cloudports.targets.azure.unmanaged import kept_rules
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, TOPOLOGY_TAG

_ANYWHERE = ("0.0.0.0/0", "::/0")


def _tags(resource: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (getattr(resource, "tags", None) or {}).items()}


def _nsgs(client: Any, rg: str, wanted: list[str]) -> list[Any]:
    """The NSGs to import: those named; else the only one in the resource group, or all of them when they carry
    one topology's tag (a spec with one NSG per subnet)."""
    with arm_errors("listing network security groups in", rg):
        nsgs = [n for n in client.network_security_groups.list(rg) if not wanted or n.name in wanted]
    topologies = {_tags(n).get(TOPOLOGY_TAG) for n in nsgs}
    if not nsgs or (len(nsgs) > 1 and not wanted and (len(topologies) != 1 or None in topologies)):
        found = ", ".join(sorted(n.name for n in nsgs)) or "none"
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"azure: a spec has one NSG, or one per subnet of one topology; {rg} has {found}",
                    "choose one with --nsg NAME, or the NSGs of one topology's subnets with --nsg A,B",
                )
            ]
        )
    return sorted(nsgs, key=lambda n: str(n.name))


def _name_parts(asgs: list[Any]) -> tuple[str, dict[str, str]]:
    """(topology, ASG id -> role): cloudports' tags, else the common '<topology>-<role>-asg' naming."""
    names = {str(a.id).lower(): str(a.name) for a in asgs}
    tagged = {str(a.id).lower(): _tags(a).get(ROLE_TAG) for a in asgs}
    topologies = {_tags(a).get(TOPOLOGY_TAG) for a in asgs}
    topology = topologies.pop() if len(topologies) == 1 and None not in topologies else ""
    stems = {i: n[: -len("-asg")] if n.lower().endswith("-asg") else n for i, n in names.items()}
    if not topology:
        heads = {s.split("-", 1)[0] for s in stems.values() if "-" in s}
        topology = heads.pop() if len(heads) == 1 and all("-" in s for s in stems.values()) else ""
    roles = {}
    for asg_id, stem in stems.items():
        role = tagged[asg_id] or (stem[len(topology) + 1 :] if topology and stem.startswith(topology + "-") else stem)
        roles[asg_id] = valid_name(role, "role")
    return topology, roles


def _ports(rule: NsgRule, peer: Peer) -> list[PortSpec]:
    protocol = rule.protocol.lower()
    if protocol in ("tcp", "udp", "*"):
        if rule.destination_ports == ("*",):
            return [PortSpec("all")] if protocol == "*" else [PortSpec(protocol, 0, 65535)]  # type: ignore[arg-type]
        spans = [tuple(int(x) for x in (p.split("-") * 2)[:2]) for p in rule.destination_ports]
        protos = ("tcp", "udp") if protocol == "*" else (protocol,)
        return [PortSpec(p, lo, hi) for p in protos for lo, hi in spans]  # type: ignore[arg-type]
    if protocol == "icmp" and rule.destination_ports == ("*",):
        return [PortSpec("icmpv6" if peer.value.count(":") > 1 else "icmp")]
    return []


def _hint(rule: NsgRule) -> str:
    """The network's name in a rule named as cloudports names them: in-tcp-<network>-to-<role>[-v6] (inbound),
    out-tcp-<role>-to-<network>[-v6] (outbound); '' for other names."""
    parts = rule.name.removesuffix("-v6").split("-", 2)
    if len(parts) < 3 or parts[0] not in ("in", "out") or "-to-" not in parts[2]:
        return ""
    src, _, dst = parts[2].partition("-to-")
    return valid_name(src if rule.direction == "Inbound" else dst, "")


# The service tags a spec can name: the network import gives each (its CIDRs are what the tag means to verify and
# elsewhere; targets.azure.service_tags makes its Azure rules name the tag itself).
TAG_NETWORKS = {"Internet": "azure-internet", "VirtualNetwork": "azure-vnet", "AzureLoadBalancer": "azure-lb"}


def _tag_cidrs(tag: str) -> list[str]:
    """What cloudports' evaluators take the tag to be: VirtualNetwork the private ranges (and every role, added
    as roles), Internet every other address, AzureLoadBalancer the platform's address."""
    if tag == "VirtualNetwork":
        return [str(c) for c in PRIVATE_PREFIXES]
    if tag == "AzureLoadBalancer":
        return ["168.63.129.16/32"]
    out: list[str] = []
    for whole in (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")):
        rest = [whole]
        for private in (p for p in PRIVATE_PREFIXES if p.version == whole.version):
            rest = [piece for r in rest for piece in (r.address_exclude(private) if private.subnet_of(r) else [r])]  # type: ignore[arg-type]
        out += [str(c) for c in sorted(rest)]
    return out


def _peers(prefixes: tuple[str, ...], asgs: tuple[str, ...], roles: set[str], hint: str = "") -> list[Peer]:
    """The peers of a rule's other side (unmanaged.py keeps every rule whose peers a spec cannot name)."""
    peers = [Peer("role", a) for a in asgs if a in roles]
    for prefix in prefixes:
        if prefix == "*":
            peers += [Peer("cidr", c) for c in _ANYWHERE]
        elif prefix in TAG_NETWORKS:
            peers += [Peer("cidr", c, TAG_NETWORKS[prefix]) for c in _tag_cidrs(prefix)]
            peers += [Peer("role", r) for r in sorted(roles)] if prefix == "VirtualNetwork" else []
        elif "/" in prefix or prefix.replace(".", "").isdigit() or ":" in prefix:
            peers.append(Peer("cidr", prefix if "/" in prefix else f"{prefix}/{128 if ':' in prefix else 32}", hint))
    return peers


def _structural(rule: NsgRule) -> str:
    """'inbound' / 'outbound' for a deny that does what cloudports' structural denies do, else ''."""
    if rule.access != "Deny" or rule.protocol != "*" or rule.destination_ports != ("*",):
        return ""
    if rule.source_asgs or rule.destination_asgs:
        return ""
    if rule.direction == "Inbound" and rule.source_prefixes in (("VirtualNetwork",), ("*",)):
        return "inbound" if rule.destination_prefixes in (("VirtualNetwork",), ("*",)) else ""
    if rule.direction == "Outbound" and rule.source_prefixes in (("*",), ("VirtualNetwork",)):
        return "outbound" if rule.destination_prefixes == ("*",) else ""
    return ""


def _halves(rule: NsgRule, roles: set[str], notes: list[str]) -> list[Half]:
    """One allow rule (its own side only roles' ASGs, unmanaged.py) as halves: on each role of the rule's own
    side, towards each peer of the other."""
    inbound = rule.direction == "Inbound"
    mine = sorted(set(rule.destination_asgs if inbound else rule.source_asgs))
    peer_p, peer_a = (
        (rule.source_prefixes, rule.source_asgs) if inbound else (rule.destination_prefixes, rule.destination_asgs)
    )
    found = []
    direction: Literal["ingress", "egress"] = "ingress" if inbound else "egress"
    for peer in _peers(peer_p, peer_a, roles, _hint(rule)):
        found += [
            Half(role, direction, peer, p, rule.description, rule.name) for role in mine for p in _ports(rule, peer)
        ]
    return found


def _structurals(rules: list[NsgRule]) -> dict[str, str]:
    """Rule name -> 'inbound'/'outbound' for the denies that do what cloudports' structural denies do and come
    last in their direction (cloudports writes its own at 4096, after every other rule: so must theirs be)."""
    last = {d: max((r.priority for r in rules if r.direction == d), default=0) for d in ("Inbound", "Outbound")}
    return {r.name: kind for r in rules if (kind := _structural(r)) and r.priority == last[r.direction]}


def _rules(rules: list[NsgRule], roles: set[str], notes: list[str]) -> tuple[set[str], list[Half], dict[str, str]]:
    """(the structural denies found, halves of the NSG's rules, the rules kept as they are with why)."""
    structural = _structurals(rules)
    kept = kept_rules(rules, roles, set(structural))
    halves: list[Half] = []
    for rule in sorted(rules, key=lambda r: (r.direction, r.priority)):
        if rule.name in kept:
            notes.append(f"{rule.name} (priority {rule.priority}): {kept[rule.name]}; kept as it is (unmanaged)")
        elif rule.name not in structural:
            halves += _halves(rule, roles, notes)
    own_names = [
        r.name
        for r in rules
        if r.name not in kept and r.access == "Allow" and not _hint(r) and not r.name.startswith(("in-", "out-"))
    ]
    if own_names:
        notes.append(
            f"rules {', '.join(sorted(own_names))}: cloudports names its rules after what they are "
            "(in-<protocol>-<ports>, e.g. in-tcp-443); "
            "apply replaces them with equal rules under those names (new ones first: no flow is blocked)"
        )
    return set(structural.values()), list(dict.fromkeys(halves)), kept


def _subnets(nsg: Any, rg: str) -> list[dict[str, str]]:
    found = []
    for subnet in getattr(nsg, "subnets", None) or []:
        parts = str(subnet.id).split("/")
        low = [p.lower() for p in parts]
        entry = {"virtual_network": parts[low.index("virtualnetworks") + 1], "name": parts[low.index("subnets") + 1]}
        subnet_rg = parts[low.index("resourcegroups") + 1]
        if subnet_rg.lower() != rg.lower():
            entry["resource_group"] = subnet_rg
        found.append(entry)
    return sorted(found, key=lambda s: (s["virtual_network"], s["name"]))


def read_lab(client: Any, arm: ArmSettings, options: dict[str, str | None]) -> Lab:
    """The lab in the resource group (options: nsgs, comma-separated; name). Several NSGs (one per subnet) give
    subnets that list their roles: the roles whose rules each NSG holds (inbound to them, outbound from them)."""
    rg = arm.resource_group
    nsgs = _nsgs(client, rg, [n for n in (options.get("nsgs") or "").split(",") if n])
    with arm_errors("listing application security groups in", rg):
        asgs = list(client.application_security_groups.list(rg))
    topology, role_of = _name_parts(asgs)
    notes: list[str] = []
    roles = {
        r: LiveRole(r, "", f"application security group {n.name}") for n in asgs for r in [role_of[str(n.id).lower()]]
    }
    found, halves, subnets = _read_rules(client, rg, nsgs, role_of, set(roles), notes)
    egress, kept = found.pop("egress"), found.pop("unmanaged")
    first = nsgs[0]
    name = options.get("name") or _tags(first).get(TOPOLOGY_TAG) or topology or str(first.name).removesuffix("-nsg")
    lab_name = valid_name(name)
    settings: dict[str, Any] = {"location": str(first.location), "resource_group": rg, **_nsg_name(nsgs, lab_name)}
    settings |= found
    if subnets:
        base = settings.get("nsg_name") or f"{lab_name}-nsg"
        settings["subnets"] = [
            {k: v for k, v in s.items() if k != "nsg" or v.lower() != f"{base}-{s['name']}".lower()}
            for s in _placed(subnets, set(roles), len(nsgs) > 1, notes)
        ]
    named = {role_of[str(a.id).lower()]: str(a.name) for a in asgs}
    own = {role: {"asg": name} for role, name in sorted(named.items()) if name.lower() != f"{lab_name}-{role}-asg"}
    if own:  # the role is the lab's own ASG: adopting keeps it (same ID), and the NICs in it
        settings["roles"] = own
    tags = {TAG_NETWORKS[t]: t for t in TAG_NETWORKS if any(h.peer.hint == TAG_NETWORKS[t] for h in halves)}
    if tags:
        settings["service_tags"] = tags
    if kept:  # what the spec cannot say stays where it is, and the spec says so
        settings["unmanaged"] = kept
    source = ", ".join(str(n.name) for n in nsgs)
    lab = Lab(lab_name, f"Imported from {source} in {rg}", roles, halves, egress, {"azure": settings}, notes)
    lab.network_keyed = (("azure", "service_tags"),)
    return lab


def _read_rules(
    client: Any, rg: str, nsgs: list[Any], role_of: dict[str, str], roles: set[str], notes: list[str]
) -> tuple[dict[str, Any], list[Half], list[dict[str, Any]]]:
    """(settings: egress, vnet_inbound, the rules kept as they are; the halves of every NSG's rules; the NSGs'
    subnets each with the roles its NSG's rules are for)."""
    read, per_nsg, kept = [], {}, []
    for nsg in nsgs:
        with arm_errors("listing the security rules of", f"network security group {nsg.name}"):
            rules = [normalise_rule(r, role_of) for r in client.security_rules.list(rg, nsg.name)]
        found, per_nsg[str(nsg.name)], nsg_kept = _rules(rules, roles, notes)
        read.append((str(nsg.name), found, rules))
        kept += [{"nsg": str(nsg.name), "rule": name} for name in sorted(nsg_kept)]
    homes = role_homes(client, rg, nsgs, role_of) if len(nsgs) > 1 else {}
    for (nsg_name, rule), why in sorted(misplaced(per_nsg, homes).items()):
        notes.append(f"{rule} in {nsg_name}: {why}; kept as it is (unmanaged)")
        kept.append({"nsg": nsg_name, "rule": rule})
        per_nsg[nsg_name] = [h for h in per_nsg[nsg_name] if h.rule != rule]
    halves, subnets = [], []
    for nsg in nsgs:
        name = str(nsg.name)
        halves += per_nsg[name]
        placed = {h.role for h in per_nsg[name]} | {role for role, home in homes.items() if name in home}
        subnets += [{**s, "roles": sorted(placed), "nsg": nsg.name} for s in _subnets(nsg, rg)]
    settings: dict[str, Any] = {"egress": "strict" if all("outbound" in f for _, f, _ in read) else "open"}
    if any("outbound" in f for _, f, _ in read) and (kept or settings["egress"] == "open"):
        halves, kept = _outbound_kept(read, halves, kept, notes)
        settings["egress"] = "open"
    if not all("inbound" in f for _, f, _ in read):
        # Azure's default AllowVnetInBound lets the whole VNet in: so the spec says, and cloudports adds no deny
        settings["vnet_inbound"] = "allow"
        notes.append(
            "no deny for VirtualNetwork inbound: Azure's default AllowVnetInBound lets every machine in the "
            "virtual network reach every other; the spec says so (vnet_inbound: allow)"
        )
        kept += [
            {"nsg": name, "rule": r.name} for name, found, rules in read for r in rules
            if "inbound" in found and _structural(r) == "inbound" and r.name in _structurals(rules)
        ]  # fmt: skip
    settings["unmanaged"] = sorted(kept, key=lambda k: (k["nsg"], k["rule"]))
    return settings, list(dict.fromkeys(halves)), subnets


def _outbound_kept(
    read: list[tuple[str, set[str], list[NsgRule]]], halves: list[Half], kept: list[dict[str, str]], notes: list[str]
) -> tuple[list[Half], list[dict[str, str]]]:
    """Strict egress written by the spec pairs each role-to-role ingress rule with an egress rule (alone, either
    lets nothing through); where a kept rule or an NSG without a deny of all outbound traffic gives one half, that
    pairing would delete the other. So the lab's outbound rules are kept as they are, all of them, and the spec
    says `egress: open` (it writes no outbound rule)."""
    notes.append(
        "outbound: some rules are kept as they are, or only some NSGs deny all outbound traffic; every outbound "
        "rule is kept as it is (unmanaged) and the spec says egress: open, writing no outbound rule of its own"
    )
    outbound = [{"nsg": name, "rule": r.name} for name, _f, rules in read for r in rules if r.direction == "Outbound"]
    return [h for h in halves if h.direction != "egress"], list(
        {(k["nsg"], k["rule"]): k for k in [*kept, *outbound]}.values()
    )


def _nsg_name(nsgs: list[Any], lab_name: str) -> dict[str, str]:
    """The spec names its NSG only where the original did (cloudports' identity tag says so), or where the name
    is not the default: naming it changes the spec's identity, and the lab would look like another spec's. With
    one NSG per subnet, the name their names begin with, from the identity tag."""
    identity = _tags(nsgs[0]).get(SPEC_TAG)
    named = "nsg_name=" in (identity or "")
    if len(nsgs) == 1 and (named or (identity is None and nsgs[0].name != f"{lab_name}-nsg")):
        return {"nsg_name": str(nsgs[0].name)}
    return {"nsg_name": (identity or "").split("nsg_name=", 1)[1].split(";", 1)[0]} if named else {}


def _placed(subnets: list[dict[str, Any]], roles: set[str], split: bool, notes: list[str]) -> list[dict[str, Any]]:
    """With one NSG the subnets list no roles; with several, each lists the roles its NSG has rules for, and a
    role that no NSG has a rule for goes in every subnet (it has no rules to place: that changes nothing)."""
    if not split:
        return [{k: v for k, v in s.items() if k not in ("roles", "nsg")} for s in subnets]
    idle = sorted(roles - {r for s in subnets for r in s["roles"]})
    if idle:
        notes.append(f"roles {', '.join(idle)}: no NSG has rules for them; listed in every subnet")
    return [{**s, "roles": sorted({*s["roles"], *idle})} for s in subnets]
