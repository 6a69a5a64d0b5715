"""Which live rules a spec cannot say, and so are kept as they are (targets.azure.unmanaged) when a lab is imported.

A rule is kept when no flow could stand for it exactly: a deny (other than the structural ones cloudports writes
itself), a rule limited to source ports, one whose own side is not only roles' ASGs (`*` also holds NICs in no
ASG), one naming an ASG that is not a role or a service tag that is not a network, or a protocol a spec has no
word for. An allow rule that shares traffic with a kept deny is kept too: cloudports gives its own rules other
priorities, and which of the two comes first decides that traffic. Allow rules among themselves may be in any
order (every one allows), so the rest become flows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cloudports.targets.azure.model import Nsg, NsgRule
from cloudports.targets.azure.settings import AzureSettings

_EVERYONE = ("*", "VirtualNetwork")
KNOWN_TAGS = ("Internet", "VirtualNetwork", "AzureLoadBalancer")  # networks of their own (targets.azure.service_tags)


def _spans(items: tuple[str, ...]) -> list[tuple[int, int]]:
    if "*" in items:
        return [(0, 65535)]
    out = []
    for item in items:
        lo, _, hi = item.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out


def _ports_meet(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return any(lo <= h and l2 <= hi for lo, hi in _spans(a) for l2, h in _spans(b))


def _prefixes_meet(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    for x in a:
        for y in b:
            try:
                nx, ny = ipaddress.ip_network(x, strict=False), ipaddress.ip_network(y, strict=False)
            except ValueError:
                return True  # a service tag or '*': its addresses are not known here, so it may meet anything
            if nx.version == ny.version and nx.overlaps(ny):
                return True
    return False


def _sides_meet(
    a_prefixes: tuple[str, ...], a_asgs: tuple[str, ...], b_prefixes: tuple[str, ...], b_asgs: tuple[str, ...]
) -> bool:
    """Whether two rule sides may match one address. An ASG's NICs have addresses anywhere, and one NIC may sit in
    several ASGs: an ASG meets every ASG and every prefix."""
    if a_asgs or b_asgs:
        return True
    return _prefixes_meet(a_prefixes, b_prefixes)


def overlap(a: NsgRule, b: NsgRule) -> bool:
    """Whether some packet may match both rules (conservatively: 'may')."""
    if a.direction != b.direction:
        return False
    if "*" not in (a.protocol, b.protocol) and a.protocol != b.protocol:
        return False
    return (
        _ports_meet(a.destination_ports, b.destination_ports)
        and _ports_meet(a.source_ports, b.source_ports)
        and _sides_meet(a.source_prefixes, a.source_asgs, b.source_prefixes, b.source_asgs)
        and _sides_meet(a.destination_prefixes, a.destination_asgs, b.destination_prefixes, b.destination_asgs)
    )


def _sides(rule: NsgRule) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]]:
    """(own side, peer side), each (prefixes, ASGs): the own side is where the machines the rule guards sit."""
    src, dst = (rule.source_prefixes, rule.source_asgs), (rule.destination_prefixes, rule.destination_asgs)
    return (dst, src) if rule.direction == "Inbound" else (src, dst)


def _is_prefix(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def inexpressible(rule: NsgRule, roles: set[str]) -> str:
    """Why no flow can stand for the rule exactly ('' if one can)."""
    if rule.access == "Deny":
        return "a deny rule"
    if rule.source_ports != ("*",):
        return f"limited to source ports {','.join(rule.source_ports)}"
    (own_p, own_a), (peer_p, peer_a) = _sides(rule)
    if own_p or not own_a:
        return f"applies to {','.join(own_p)} (also machines in no role's ASG), not to roles only"
    strangers = [a for a in (*own_a, *peer_a) if a not in roles]
    if strangers:
        return f"names the ASG {strangers[0]}, which is not a role"
    tags = [p for p in peer_p if p != "*" and p not in KNOWN_TAGS and not _is_prefix(p)]
    if tags:
        return f"names the service tag {tags[0]}"
    if rule.protocol.lower() not in ("tcp", "udp", "icmp", "*"):
        return f"protocol {rule.protocol}"
    if rule.protocol.lower() == "icmp" and rule.destination_ports != ("*",):
        return "ICMP with ports"
    return ""


def kept_rules(rules: Iterable[NsgRule], roles: set[str], structural: set[str]) -> dict[str, str]:
    """Rule name -> why it is kept as it is, for the rules of one NSG (`structural`: the names of the denies
    cloudports writes itself, which are not kept)."""
    rules = [r for r in rules if r.name not in structural]
    kept = {r.name: why for r in rules if (why := inexpressible(r, roles))}
    denies = [r for r in rules if r.access == "Deny"]
    for rule in rules:
        if rule.name in kept:
            continue
        near = next((d for d in denies if overlap(rule, d)), None)
        if near is not None:
            where = "above" if near.priority < rule.priority else "below"
            kept[rule.name] = f"shares traffic with the deny {near.name} {where} it (their order decides it)"
    return kept


def listed_rules(settings: AzureSettings, nsgs: Iterable[Nsg]) -> dict[str, dict[str, NsgRule]]:
    """NSG name -> the live rules targets.azure.unmanaged keeps in it, as they are."""
    return {
        nsg.name: {name: rule for name, rule in nsg.rules.items() if name.lower() in settings.kept(nsg.name)}
        for nsg in nsgs
    }
