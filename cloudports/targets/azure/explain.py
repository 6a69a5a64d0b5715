"""Azure NSG semantics for `cloudports query`: one NSG on the subnet; per direction the lowest-priority
matching rule decides, Azure's default rules included. A role source needs Outbound, a role destination
Inbound. Service tags: VirtualNetwork = role machines and private addresses, Internet = the other addresses,
AzureLoadBalancer = 168.63.129.16. Protocol Icmp matches ICMP and ICMPv6 of any type."""

from __future__ import annotations

import ipaddress

from cloudports.query.model import PRIVATE_PREFIXES, Point, Probe, Reason, Verdict, first_verdict, in_cidr
from cloudports.targets.azure.model import AzureState, NsgRule

LOAD_BALANCER = ipaddress.ip_address("168.63.129.16")


def _default(name: str, direction: str, priority: int, access: str, src: str, dst: str) -> NsgRule:
    return NsgRule(
        name=name,
        direction=direction,  # type: ignore[arg-type]
        access=access,  # type: ignore[arg-type]
        protocol="*",
        destination_ports=("*",),
        source_prefixes=(src,),
        destination_prefixes=(dst,),
        priority=priority,
        description="Azure default rule",
    )


DEFAULT_RULES: tuple[NsgRule, ...] = (
    _default("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    _default("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    _default("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    _default("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
)


def _proto_matches(rule: NsgRule, probe: Probe) -> bool:
    rp, proto = rule.protocol.lower(), probe.protocol
    if rp not in ("*", "any") and not (rp == "icmp" and proto in ("icmp", "icmpv6")) and rp != proto:
        return False
    if "*" not in rule.source_ports:
        return False  # clients use ephemeral source ports
    if not isinstance(probe.port, int) or proto not in ("tcp", "udp"):
        return "*" in rule.destination_ports
    for item in rule.destination_ports:
        if item == "*":
            return True
        lo, _, hi = item.partition("-")
        if int(lo) <= probe.port <= int(hi or lo):
            return True
    return False


def _in_vnet(end: Point) -> bool:
    addr = end.addr
    return addr is None or any(addr in net for net in PRIVATE_PREFIXES if net.version == addr.version)


def _prefix_matches(prefix: str, end: Point, family: int) -> bool:
    tag = prefix.lower()
    if tag in ("*", "any"):
        return True
    if tag == "virtualnetwork":
        return _in_vnet(end)
    if tag == "internet":
        return not _in_vnet(end)
    if tag == "azureloadbalancer":
        return end.addr == LOAD_BALANCER
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False  # another service tag: none of our endpoints
    return in_cidr(end, net, family)


def _side(prefixes: tuple[str, ...], asgs: tuple[str, ...], end: Point, family: int) -> bool:
    return (end.role is not None and end.role in asgs) or any(_prefix_matches(p, end, family) for p in prefixes)


def _decide(state: AzureState, direction: str, probe: Probe, family: int) -> NsgRule:
    rules = sorted(
        (r for r in (*state.rules.values(), *DEFAULT_RULES) if r.direction == direction),
        key=lambda r: (r.priority, r.name),
    )
    for rule in rules:
        if (
            _side(rule.source_prefixes, rule.source_asgs, probe.src, family)
            and _side(rule.destination_prefixes, rule.destination_asgs, probe.dst, family)
            and _proto_matches(rule, probe)
        ):
            return rule
    raise AssertionError("the default deny matches everything")


def _family(state: AzureState, probe: Probe, family: int) -> Verdict:
    reasons: list[Reason] = []
    ok = True
    for direction, end in (("Outbound", probe.src), ("Inbound", probe.dst)):
        if end.role is None:
            continue
        rule = _decide(state, direction, probe, family)
        admits = rule.access == "Allow"
        ok = ok and admits
        way = "egress" if direction == "Outbound" else "ingress"
        text = f"{direction} {rule.access} by {rule.name} (priority {rule.priority}): {rule.description}"
        reasons.append(Reason(way, admits, text, rule.name, rule.priority))
    return Verdict(ok, tuple(reasons))


def explain(state: AzureState, probe: Probe) -> Verdict:
    return first_verdict([_family(state, probe, f) for f in probe.families()])
