"""A live lab (halves of rules) -> a topology spec as plain data, and what could not be expressed, in words.

Role to role under strict egress: a flow needs B's ingress half *and* A's egress half, so an ingress rule on B
from A becomes a flow only where an egress rule on A towards B covers it (alone it lets nothing through, and
the spec cannot say "half a flow"). CIDR peers become networks: CIDRs that always appear together form one
network (0.0.0.0/0 with ::/0 is the built-in `internet`, a lone /0 `any-ipv4` or `any-ipv6`), named by a rule
description only where every rule of the CIDR says it. A flow's port set that equals a built-in catalog service
that fits the lab (fitting_services) becomes that service by name. Flows are grouped by (from, to, description),
then sources and destinations that share everything else are listed together. `allow_exposure` and the rules
kept unmanaged need the compiler: finish.py adds them to the spec as written.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from cloudports.importer.model import Half, Lab, Peer
from cloudports.spec.model import INTERNET, PortSpec

EVERYWHERE = frozenset({"0.0.0.0/0", "::/0"})
REVIEW = "imported from a live lab as it was found; review this exposure"


@dataclass(frozen=True, order=True)
class End:
    kind: str  # "role" or "cidr"
    value: str


FlowKey = tuple[End, End, str]  # source, destination, description


def covers(wide: PortSpec, narrow: PortSpec) -> bool:
    """Whether `wide` admits everything `narrow` does."""
    if wide.protocol == "all":
        return True
    if wide.protocol != narrow.protocol:
        return False
    if wide.protocol in ("tcp", "udp"):
        return wide.from_port <= narrow.from_port and narrow.to_port <= wide.to_port
    if wide.from_port < 0:
        return True
    return wide.from_port == narrow.from_port and (wide.to_port < 0 or wide.to_port == narrow.to_port)


def _rule_text(half: Half) -> str:
    way = "from" if half.direction == "ingress" else "to"
    return f"{half.rule or half.role}: {half.direction} {half.port} {way} {half.peer.value}"


def _egress_for(half: Half, egress: list[Half]) -> tuple[list[Half], bool]:
    """The egress halves on the ingress half's source that cover it (towards its role, or towards a /0, which
    holds every machine), and whether one names the role itself."""
    src, dst = half.peer.value, half.role
    found = [
        e
        for e in egress
        if e.role == src
        and (e.peer == Peer("role", dst) or (e.peer.kind == "cidr" and e.peer.value.endswith("/0")))
        and covers(e.port, half.port)
    ]
    return found, any(e.peer.kind == "role" for e in found)


def _both_families(wide: list[Half], port: PortSpec) -> bool:
    """Whether egress halves towards a /0 let the port's traffic out over every family it travels in."""
    have = {6 if ":" in half.peer.value else 4 for half in wide}
    return {family for family in (4, 6) if port.applies_to(family)} <= have


def _pair_role_halves(
    halves: list[Half], wide: list[Half], entries: dict[FlowKey, set[PortSpec]], notes: list[str], exact: bool
) -> None:
    """Strict egress: flows where an ingress half on B from A meets an egress half on A towards B (or towards
    a /0). Where only a /0 covers it, the spec's flow adds an egress rule of its own: said, not hidden."""
    egress = [h for h in halves if h.direction == "egress"]
    used: set[Half] = set()
    alone = "alone it lets nothing through; left out"
    for half in (h for h in halves if h.direction == "ingress"):
        src = half.peer.value
        match, named = _egress_for(half, egress + wide)
        if not match:
            notes.append(f"{_rule_text(half)} has no egress rule on {src} to match: {alone}")
            continue
        if not named and exact and not _both_families(match, half.port):
            # a spec's role-to-role flow holds over both families: it would open the one the lab's egress closes
            family = "IPv4" if any(":" not in e.peer.value for e in match) else "IPv6"
            notes.append(
                f"{_rule_text(half)} passes only over {family} ({src}'s egress to {match[0].peer.value}): "
                "a role-to-role flow would open the other family"
            )
            used.update(match)
            continue
        if not named and not exact:
            notes.append(
                f"{_rule_text(half)} passes through {src}'s egress to {match[0].peer.value}; "
                f"the spec's flow also gives {src} an egress rule towards {half.role}"
            )
        used.update(match)
        entries[(End("role", src), End("role", half.role), half.description)].add(half.port)
    for half in egress:
        if half not in used:
            notes.append(f"{_rule_text(half)} has no ingress rule on {half.peer.value} to match: {alone}")


def flow_entries(lab: Lab) -> tuple[dict[FlowKey, set[PortSpec]], list[str]]:
    """(ports by (source, destination, description), approximations)."""
    entries: dict[FlowKey, set[PortSpec]] = defaultdict(set)
    notes = list(lab.approximations)
    role_pairs: list[Half] = []
    wide: list[Half] = []  # egress halves towards a /0: they cover role peers too
    for half in lab.halves:
        role = End("role", half.role)
        if half.peer.kind == "other":
            notes.append(f"{_rule_text(half)}: the peer cannot be named in a spec; left out")
        elif half.direction == "egress" and lab.egress == "open":
            notes.append(f"{_rule_text(half)} adds nothing to the open egress; cloudports keeps only allow-all")
        elif half.peer.kind in ("cidr", "network"):
            peer = End(half.peer.kind, half.peer.value)
            key = (role, peer, half.description) if half.direction == "egress" else (peer, role, half.description)
            entries[key].add(half.port)
            wide += [half] if half.direction == "egress" and half.peer.value.endswith("/0") else []
        elif lab.egress == "open":
            entries[(End("role", half.peer.value), role, half.description)].add(half.port)
        else:
            role_pairs.append(half)
    _pair_role_halves(role_pairs, wide, entries, notes, lab.wide_egress_holds_roles)
    return dict(entries), notes


def networks_of(
    entries: dict[FlowKey, set[PortSpec]], hints: dict[str, set[str]] | None = None, taken: Iterable[str] = ()
) -> dict[str, str]:
    """CIDR -> network name: CIDRs that appear in exactly the same flows form one network, named by the live
    rules where they all say the same name (`hints`), else net-1, net-2, ...; never a name `taken` (the networks
    the reader names itself)."""
    contexts: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    hints = hints or {}
    for cidr, said in hints.items():  # blocks the live rules name differently stay apart (Azure packs by network)
        contexts[cidr].add(("named", tuple(sorted(said))))
    for (src, dst, desc), ports in entries.items():
        # ICMP of either family is one context: a rule allowing ICMP to blocks of both families (an Azure rule
        # with protocol Icmp) reads as icmp for the IPv4 ones and icmpv6 for the IPv6 ones, and they are one
        # network (a service tag, say) whose flow lists both
        neutral = tuple(
            sorted({PortSpec("icmp", p.from_port, p.to_port) if p.protocol == "icmpv6" else p for p in ports})
        )
        for mine, other, side in ((src, dst, "from"), (dst, src, "to")):
            if mine.kind == "cidr":
                contexts[mine.value].add((side, other, desc, neutral))
    groups: dict[frozenset[tuple[Any, ...]], list[str]] = defaultdict(list)
    for cidr, context in contexts.items():
        groups[frozenset(context)].append(cidr)
    ordered = sorted((sorted(cidrs, key=_cidr_order) for cidrs in groups.values()), key=lambda c: _cidr_order(c[0]))
    names: dict[str, str] = {}
    given = set(taken)  # every name given so far
    counter = 0
    for cidrs in ordered:
        said = set.union(*(hints.get(c, set()) for c in cidrs))
        hint = said.pop() if len(said) == 1 else ""
        if frozenset(cidrs) == EVERYWHERE:  # all addresses are the internet, whatever a rule's description says
            name = INTERNET
        elif cidrs in (["0.0.0.0/0"], ["::/0"]):  # a whole family is that, whatever a rule's description says
            name = "any-ipv4" if cidrs == ["0.0.0.0/0"] else "any-ipv6"
        elif hint and hint != INTERNET and hint not in given:
            name = hint  # the name the live rules give it
        else:
            counter += 1
            # never a name the live rules give another network, nor one already taken
            while f"net-{counter}" in given or any(f"net-{counter}" in h for h in hints.values()):
                counter += 1
            name = f"net-{counter}"
        names.update({c: name for c in cidrs})
        given.add(name)
    return names


def _cidr_order(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr)
    return net.version, int(net.network_address), net.prefixlen


@cache
def catalog_services() -> dict[frozenset[PortSpec], tuple[str, str]]:
    """Port set -> (service, catalog) of every built-in catalog service (the first by name wins a tie)."""
    from cloudports.importer.catalogs import expanded_catalog_services

    return expanded_catalog_services()


def fitting_services(port_sets: Iterable[frozenset[PortSpec]]) -> dict[frozenset[PortSpec], tuple[str, str]]:
    """Port set -> (service, catalog) where a catalog service fits the lab as a whole: its catalog names two or
    more of the lab's port sets, or the service alone is specific (three ports or more). Two ports that a web
    server and a SharePoint front end share (tcp/80 and tcp/443) do not make a lab a SharePoint farm."""
    found = {ports: catalog_services()[ports] for ports in set(port_sets) if ports in catalog_services()}
    evidence = Counter(catalog for _, catalog in found.values())
    return {ports: hit for ports, hit in found.items() if evidence[hit[1]] >= 2 or len(ports) >= 3}


def _services(
    ports: set[PortSpec], catalogs: set[str], fitting: dict[frozenset[PortSpec], tuple[str, str]]
) -> list[str]:
    """A catalog service's name where the ports are exactly a service that fits the lab, else the ports."""
    found = fitting.get(frozenset(ports))
    if found:
        catalogs.add(found[1])
        return [found[0]]
    return [str(p) for p in sorted(ports)]


def _grouped(
    entries: dict[tuple[str, str, str], tuple[PortSpec, ...]],
) -> list[tuple[list[str], list[str], str, tuple[PortSpec, ...]]]:
    """Sources sharing (destination, description, ports) together, then destinations sharing the rest."""
    by_dst: dict[tuple[str, str, tuple[PortSpec, ...]], list[str]] = defaultdict(list)
    for (src, dst, desc), ports in entries.items():
        by_dst[(dst, desc, ports)].append(src)
    by_src: dict[tuple[tuple[str, ...], str, tuple[PortSpec, ...]], list[str]] = defaultdict(list)
    for (dst, desc, ports), srcs in by_dst.items():
        by_src[(tuple(sorted(srcs)), desc, ports)].append(dst)
    flows = [(list(srcs), sorted(dsts), desc, ports) for (srcs, desc, ports), dsts in by_src.items()]
    return sorted(flows, key=lambda f: (f[0], f[1], f[2], f[3]))


def _one_or_many(names: list[str]) -> str | list[str]:
    return names[0] if len(names) == 1 else names


def _networks(names: dict[str, str], used: set[str], lab: Lab) -> dict[str, dict[str, Any]]:
    """The networks the flows use, each with its CIDRs by family; those the reader names, as it defines them."""
    networks: dict[str, dict[str, Any]] = {}
    for cidr, name in sorted(names.items(), key=lambda item: _cidr_order(item[0])):
        if name != INTERNET and name in used:
            family = "ipv4" if ipaddress.ip_network(cidr).version == 4 else "ipv6"
            networks.setdefault(name, {}).setdefault(family, []).append(cidr)
    return networks | {name: found.definition for name, found in sorted(lab.networks.items()) if name in used}


def _targets(lab: Lab, used: set[str]) -> dict[str, dict[str, Any]]:
    """The lab's target settings, with what each network the reader names is there (for the networks used)."""
    targets = {name: dict(settings) for name, settings in lab.targets.items()}
    for name, found in sorted(lab.networks.items()):
        if name in used:
            targets.setdefault(found.target, {}).setdefault(found.setting, {})[name] = found.value
    for target, setting in lab.network_keyed:  # settings the reader keyed by network itself: the used ones stay
        settings = targets.get(target, {})
        settings[setting] = {name: v for name, v in settings.pop(setting, {}).items() if name in used}
        if not settings[setting]:
            del settings[setting]
    return targets


def _whole(names: list[str]) -> list[str]:
    """0.0.0.0/0 and ::/0 side by side are the built-in internet."""
    if {"any-ipv4", "any-ipv6"} <= set(names):
        names = sorted({*names, INTERNET} - {"any-ipv4", "any-ipv6"})
    return names


def _covered(merged: dict[tuple[str, str, str], set[PortSpec]]) -> list[str]:
    """Live rules another rule of the same peer covers (tcp/443 beside all): the compiled spec keeps only the
    wider one, so apply would delete the narrower rule (the same traffic passes). Said, not hidden."""
    notes = []
    for (src, dst, _), ports in sorted(merged.items()):
        for port in sorted(ports):
            wider = next((q for q in sorted(ports) if q != port and covers(q, port)), None)
            if wider is not None:
                notes.append(f"{src} -> {dst}: {port} is covered by {wider}; the spec compiles one rule for both")
    return notes


def _flows(merged: dict[tuple[str, str, str], set[PortSpec]], catalogs: set[str]) -> list[dict[str, Any]]:
    flows = []
    grouped = _grouped({k: tuple(sorted(v)) for k, v in merged.items()})
    fitting = fitting_services(frozenset(ports) for _, _, _, ports in grouped)
    for srcs, dsts, desc, ports in grouped:
        srcs, dsts = _whole(srcs), _whole(dsts)
        flow: dict[str, Any] = {"from": _one_or_many(srcs), "to": _one_or_many(dsts)}
        flow["services"] = _services(set(ports), catalogs, fitting)
        if desc:
            flow["description"] = desc
        flows.append(flow)  # allow_exposure: where the exposure lint refuses the flow (finish.py)
    return flows


def _hints(lab: Lab) -> dict[str, set[str]]:
    """CIDR -> the names its live rules give it, where every rule of that CIDR gives one: a description belongs to
    a network only when it is said of all of that network's rules, not of one rule that happens to name it."""
    said: dict[str, set[str]] = defaultdict(set)
    for half in lab.halves:
        if half.peer.kind == "cidr":
            said[half.peer.value].add(half.peer.hint if half.peer.hint not in lab.roles else "")
    return {cidr: names for cidr, names in said.items() if "" not in names}


def build_spec(lab: Lab) -> tuple[dict[str, Any], list[str]]:
    """The spec (plain data, sections in the usual order) and every approximation made."""
    entries, notes = flow_entries(lab)
    names = networks_of(entries, _hints(lab), lab.networks)
    merged: dict[tuple[str, str, str], set[PortSpec]] = defaultdict(set)  # the ports of every CIDR of a network
    for (s, d, desc), ports in entries.items():
        merged[(names.get(s.value, s.value), names.get(d.value, d.value), desc)].update(ports)
    notes += _covered(merged)
    catalogs: set[str] = set()
    flows = _flows(merged, catalogs)
    used = {n for f in flows for side in ("from", "to") for n in ([f[side]] if isinstance(f[side], str) else f[side])}
    networks = _networks(names, used, lab)
    spec: dict[str, Any] = {"name": lab.name}
    if lab.description:
        spec["description"] = lab.description
    if catalogs:
        spec["catalogs"] = sorted(catalogs)
    spec["egress"] = lab.egress
    if networks:
        spec["networks"] = networks
    spec["roles"] = {
        r.name: ({"description": r.description} if r.description else {})
        for r in sorted(lab.roles.values(), key=lambda r: r.name)
    }
    spec["flows"] = flows
    spec["targets"] = _targets(lab, used)
    return spec, notes
