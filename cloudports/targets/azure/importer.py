"""An Azure resource group's NSG and ASGs -> an imported lab (cloudports.importer.model): one role per ASG.

Rules are read and normalised as `drift` reads them (normalise.py). An allow rule becomes halves: Inbound on
each destination ASG's role, Outbound on each source ASG's role; `*` and VirtualNetwork on the role side mean
every role. cloudports' own structural denies are recognised (deny-vnet-inbound, deny-all-outbound: strict
egress); any other deny, and anything a spec cannot name, is listed as an approximation.
"""

from __future__ import annotations

from typing import Any

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.importer.model import Half, Lab, LiveRole, Peer
from cloudports.importer.write import valid_name
from cloudports.query.model import PRIVATE_PREFIXES
from cloudports.spec.model import PortSpec
from cloudports.targets.azure.arm import ArmSettings, arm_errors
from cloudports.targets.azure.model import NsgRule
from cloudports.targets.azure.normalise import normalise_rule
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, TOPOLOGY_TAG

_EVERYONE = ("*", "VirtualNetwork")
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


def _peers(
    prefixes: tuple[str, ...], asgs: tuple[str, ...], roles: set[str], notes: list[str], rule: str, hint: str = ""
) -> list[Peer]:
    peers = [Peer("role", a) if a in roles else Peer("other", f"application security group {a}") for a in asgs]
    for prefix in prefixes:
        if prefix in ("*", "Internet"):
            peers += [Peer("cidr", c) for c in _ANYWHERE]
            if prefix == "Internet":
                notes.append(
                    f"{rule}: the service tag Internet becomes the spec's internet (which also holds the VNet)"
                )
        elif prefix == "VirtualNetwork":
            peers += [Peer("cidr", str(c)) for c in PRIVATE_PREFIXES]
            notes.append(f"{rule}: the service tag VirtualNetwork becomes the private address ranges")
        elif "/" in prefix or prefix.replace(".", "").isdigit() or ":" in prefix:
            peers.append(Peer("cidr", prefix if "/" in prefix else f"{prefix}/{128 if ':' in prefix else 32}", hint))
        else:
            peers.append(Peer("other", f"service tag {prefix}"))
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
    """One allow rule as halves: on each role of the rule's own side, towards each peer of the other."""
    inbound = rule.direction == "Inbound"
    mine_p, mine_a = (
        (rule.destination_prefixes, rule.destination_asgs) if inbound else (rule.source_prefixes, rule.source_asgs)
    )
    peer_p, peer_a = (
        (rule.source_prefixes, rule.source_asgs) if inbound else (rule.destination_prefixes, rule.destination_asgs)
    )
    mine = sorted(set(mine_a) & roles) + (sorted(roles) if set(mine_p) & set(_EVERYONE) else [])
    strays = [p for p in mine_p if p not in _EVERYONE] + [a for a in mine_a if a not in roles]
    if strays:
        notes.append(f"{rule.name}: {', '.join(strays)} on the {rule.direction.lower()} side is not a role; left out")
    if "*" not in rule.source_ports:
        notes.append(f"{rule.name}: source ports {', '.join(rule.source_ports)} cannot be said in a spec; left out")
        return []
    found = []
    for peer in _peers(peer_p, peer_a, roles, notes, rule.name, _hint(rule)):
        ports = _ports(rule, peer)
        if not ports:
            notes.append(f"{rule.name}: protocol {rule.protocol} with these ports cannot be said in a spec; left out")
        direction = "ingress" if inbound else "egress"
        found += [Half(role, direction, peer, p, rule.description, rule.name) for role in mine for p in ports]  # type: ignore[arg-type]
    return found


def _rules(rules: list[NsgRule], roles: set[str], notes: list[str]) -> tuple[str, list[Half]]:
    """(egress, halves) of the NSG's rules, in priority order."""
    found: set[str] = set()
    halves: list[Half] = []
    for rule in sorted(rules, key=lambda r: (r.direction, r.priority)):
        kind = _structural(rule)
        if kind:
            found.add(kind)
        elif rule.access == "Deny":
            notes.append(f"{rule.name} (priority {rule.priority}): a deny rule cannot be said in a spec; left out")
        else:
            halves += _halves(rule, roles, notes)
    own_names = [
        r.name for r in rules if r.access == "Allow" and not _hint(r) and not r.name.startswith(("in-", "out-"))
    ]
    if own_names:
        notes.append(
            f"rules {', '.join(sorted(own_names))}: cloudports names its rules in-<protocol>-<from>-to-<to>; "
            "apply replaces them with equal rules under those names (new ones first: no flow is blocked)"
        )
    if "inbound" not in found:
        notes.append(
            "no deny for VirtualNetwork inbound: Azure's default AllowVnetInBound lets every machine in the "
            "virtual network reach every other; the spec allows only its flows (cloudports adds deny-vnet-inbound)"
        )
    return ("strict" if "outbound" in found else "open"), list(dict.fromkeys(halves))


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
    egress, halves, subnets = _read_rules(client, rg, nsgs, role_of, set(roles), notes)
    first = nsgs[0]
    name = options.get("name") or _tags(first).get(TOPOLOGY_TAG) or topology or str(first.name).removesuffix("-nsg")
    lab_name = valid_name(name)
    settings: dict[str, Any] = {"location": str(first.location), "resource_group": rg, **_nsg_name(nsgs, lab_name)}
    if subnets:
        settings["subnets"] = _placed(subnets, set(roles), len(nsgs) > 1, notes)
    named = {role_of[str(a.id).lower()]: str(a.name) for a in asgs}
    own = {role: {"asg": name} for role, name in sorted(named.items()) if name.lower() != f"{lab_name}-{role}-asg"}
    if own:  # the role is the lab's own ASG: adopting keeps it (same ID), and the NICs in it
        settings["roles"] = own
    source = ", ".join(str(n.name) for n in nsgs)
    return Lab(lab_name, f"Imported from {source} in {rg}", roles, halves, egress, {"azure": settings}, notes)  # type: ignore[arg-type]


def _read_rules(
    client: Any, rg: str, nsgs: list[Any], role_of: dict[str, str], roles: set[str], notes: list[str]
) -> tuple[str, list[Half], list[dict[str, Any]]]:
    """(egress, the halves of every NSG's rules, the NSGs' subnets each with the roles its NSG's rules are for)."""
    egresses, halves, subnets = set(), [], []
    for nsg in nsgs:
        with arm_errors("listing the security rules of", f"network security group {nsg.name}"):
            rules = [normalise_rule(r, role_of) for r in client.security_rules.list(rg, nsg.name)]
        egress, found = _rules(rules, roles, notes)
        egresses.add(egress)
        halves += found
        subnets += [{**s, "roles": sorted({h.role for h in found})} for s in _subnets(nsg, rg)]
    if len(egresses) > 1:
        notes.append("some NSGs deny all outbound traffic and some do not; the spec says strict egress for all")
    return ("strict" if "strict" in egresses else "open"), list(dict.fromkeys(halves)), subnets


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
        return [{k: v for k, v in s.items() if k != "roles"} for s in subnets]
    idle = sorted(roles - {r for s in subnets for r in s["roles"]})
    if idle:
        notes.append(f"roles {', '.join(idle)}: no NSG has rules for them; listed in every subnet")
    return [{**s, "roles": sorted({*s["roles"], *idle})} for s in subnets]
