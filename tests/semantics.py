"""Reference evaluators: what a topology spec, an AWS desired state and an Azure desired state each allow.

Used by tests/test_semantics.py (and by any other test that wants to ask "would this packet get through?").
The three evaluators answer the same question — may a *new connection* from ``src`` to ``dst`` on
``protocol``/``port`` be opened? — so that the compiled cloud states can be checked against the spec on a
finite but discriminating set of probes (:func:`probe_points`).

Public API (keep it stable; other test modules import it)
---------------------------------------------------------
``spec_allows(topology, src, dst, protocol, port, *, icmp_any_type=False) -> bool``
    Ground truth from the Topology's flows (phase filtering already happened in the loader).
``aws_allows(state, src, dst, protocol, port) -> bool``
    AWS security-group semantics over an :class:`AwsState`.
``azure_allows(state, src, dst, protocol, port, vnet_prefixes=PRIVATE_PREFIXES) -> bool``
    Azure NSG semantics over an :class:`AzureState`, including the six default rules.
``probe_points(topology) -> list[Probe]``
    ``(src, dst, protocol, port)`` tuples covering every role pair and role/address pair.
``aws_mismatches`` / ``azure_mismatches`` -> list[Mismatch]
``assert_aws_equivalent`` / ``assert_azure_equivalent`` / ``assert_equivalent(topology, state)``
    Every probe: cloud result == spec result; the failure message lists the first mismatches.
``SpecModel`` / ``AwsModel`` / ``AzureModel``
    The same evaluators as objects (index built once; use them for many probes).

Arguments
---------
* An **endpoint** is a role name (a machine in that role: member of the role's security group / ASG) or an
  IP address string (a host in some network, outside the NSG / not in any cloudports group).
* ``protocol``: ``tcp``, ``udp``, ``icmp``, ``icmpv6`` or another IP protocol (``gre``, ``esp``, ``ah`` or a
  number such as ``47``); numbers 6/17/1/58 are read as tcp/udp/icmp/icmpv6. Another protocol is matched only
  by "all" rules (spec ``all``, AWS ``-1``, Azure ``*``).
* ``port``: tcp/udp destination port (int). icmp/icmpv6: ``(type, code)`` or a bare ``type`` (code 0).
  Other protocols: ignored (``None``).
* Source and destination must not both be addresses (nothing cloudports compiles sits between two hosts).

Modelling choices (documented because the clouds cannot be evaluated without them)
-----------------------------------------------------------------------------------
1. **Families.** A packet has one address family. An address endpoint fixes it; ``icmp`` is IPv4 and
   ``icmpv6`` IPv6 (``icmp`` with an IPv6 address is impossible and evaluates to ``False`` everywhere).
   Machines in roles are dual-stack; a role→role connection is allowed if it is allowed over IPv4 or IPv6.
2. **Role machines and CIDRs.** A role machine's addresses are assumed to lie outside every named network
   except those spanning the whole address space: a CIDR ``/0`` contains every role machine (of that family),
   any other CIDR none. So ``from: internet`` also admits other roles' machines, in the spec (the halves below)
   and in both clouds (0.0.0.0/0 matches every source), and ``to: internet`` lets a role reach other roles.
3. **Halves.** A connection needs the *ingress half* on the destination and the *egress half* on the source.
   Spec: the ingress half holds when a flow names the destination role in ``to`` and contains the source in
   ``from`` (by role name, or by address/role inside a network's CIDR); the egress half holds when the source
   is an address, when ``egress: open``, or when a flow names the source role in ``from`` and contains the
   destination in ``to``. A destination address has no ingress half (the host is not ours); a source address
   has no egress half. Networks in ``to`` are egress-only; networks in ``from`` never give egress.
4. **Azure service tags.** ``*``/``Any`` match everything. ``VirtualNetwork`` matches every role machine and
   every address in ``vnet_prefixes`` (default: RFC 1918 and IPv6 ULA fc00::/7) — i.e. spec networks with
   private addresses are assumed reachable over the VNet/peering/VPN, the others from the internet.
   ``Internet`` matches addresses outside ``vnet_prefixes`` (never role machines). ``AzureLoadBalancer``
   matches 168.63.129.16 only. Other tags match nothing.
5. **Azure ICMP.** NSG rules cannot filter by ICMP type/code, and protocol ``Icmp`` matches ICMP and ICMPv6
   alike. So for Azure the spec is evaluated at "any ICMP" granularity (``icmp_any_type=True``): an
   icmp/icmpv6 port spec matches any ICMP/ICMPv6 probe, except that where the peer was matched through a CIDR
   the port spec must apply to that CIDR's family (the compiler only puts icmp rules on IPv4 CIDRs and icmpv6
   on IPv6 ones). AWS is compared exactly, type and code included.
6. **Azure source ports.** A rule matches only if its source ports are ``*`` (clients use ephemeral ports).
   For protocols without ports, a rule matches only if its destination ports include ``*``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cloudports.spec.model import PortSpec, Topology
from cloudports.targets.aws.model import AwsState, SgRule
from cloudports.targets.azure.model import AzureState, NsgRule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Probe = tuple[str, str, str, object]  # (src, dst, protocol, port)

PRIVATE_PREFIXES: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
AZURE_LOAD_BALANCER = ipaddress.ip_address("168.63.129.16")
OTHER_PROTOCOL = "gre"  # IP protocol 47: only 'all' rules let it through

_NUMBERED = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "47": "gre", "50": "esp", "51": "ah"}
_FAMILY_OF = {"icmp": 4, "icmpv6": 6}


# --------------------------------------------------------------------------------------------- normalising


@dataclass(frozen=True)
class _End:
    """A resolved endpoint: a role machine (addr None) or a host address (role None)."""

    role: str | None = None
    addr: IPAddress | None = None

    @property
    def is_role(self) -> bool:
        return self.role is not None


def _endpoint(value: str, roles: set[str] | dict) -> _End:
    if value in roles:
        return _End(role=value)
    try:
        return _End(addr=ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"endpoint {value!r} is neither a role ({', '.join(sorted(roles))}) nor an address") from None


def _protocol(protocol: str | int) -> str:
    text = str(protocol).strip().lower()
    return _NUMBERED.get(text, text)


def _port(protocol: str, port: object) -> object:
    if protocol in ("tcp", "udp"):
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"{protocol} probe needs a port 0-65535, got {port!r}")
        return port
    if protocol in ("icmp", "icmpv6"):
        if isinstance(port, int):
            return (port, 0)
        if isinstance(port, tuple) and len(port) == 2:
            return port
        raise ValueError(f"{protocol} probe needs (type, code) or a type, got {port!r}")
    return None


def _families(src: _End, dst: _End, protocol: str) -> tuple[int, ...]:
    """The address families the packet can have (empty: an impossible packet)."""
    fams = {4, 6}
    for end in (src, dst):
        if end.addr is not None:
            fams &= {end.addr.version}
    if protocol in _FAMILY_OF:
        fams &= {_FAMILY_OF[protocol]}
    return tuple(sorted(fams))


def _in_cidr(end: _End, cidr: IPNetwork, family: int) -> bool:
    """Whether the endpoint (in a packet of `family`) lies in `cidr` (role machines: only in /0 — choice 2)."""
    if cidr.version != family:
        return False
    if end.addr is not None:
        return end.addr in cidr
    return cidr.prefixlen == 0


def _prepare(src: str, dst: str, protocol: str | int, port: object, roles: set[str] | dict):
    s, d = _endpoint(src, roles), _endpoint(dst, roles)
    if not s.is_role and not d.is_role:
        raise ValueError(f"probe {src} -> {dst}: at least one endpoint must be a role")
    proto = _protocol(protocol)
    return s, d, proto, _port(proto, port)


# --------------------------------------------------------------------------------------------- the spec


def _spec_port_matches(ps: PortSpec, proto: str, port: object, via: int | None, any_icmp: bool) -> bool:
    """Whether one spec PortSpec admits the probe; `via` is the CIDR family the peer matched through, if any."""
    if ps.protocol == "all":
        return True
    if proto in ("tcp", "udp"):
        return ps.protocol == proto and ps.from_port <= port <= ps.to_port  # type: ignore[operator]
    if proto in ("icmp", "icmpv6"):
        if any_icmp:
            return ps.protocol in ("icmp", "icmpv6") and (via is None or ps.applies_to(via))
        icmp_type, code = port  # type: ignore[misc]
        return (
            ps.protocol == proto
            and (ps.from_port < 0 or ps.from_port == icmp_type)
            and (ps.to_port < 0 or ps.to_port == code)
        )
    return False


class SpecModel:
    """Ground truth from a Topology (see the module docstring, choice 3 for the two halves)."""

    def __init__(self, topology: Topology, *, icmp_any_type: bool = False):
        self.topology = topology
        self.icmp_any_type = icmp_any_type
        self.roles = set(topology.roles)
        self._ingress_cache: dict = {}
        self._egress_cache: dict = {}

    def _contains(self, names: Sequence[str], end: _End, family: int) -> list[int | None]:
        """How `end` is contained in the flow side `names`: None for a role-name match, else the CIDR family."""
        ways: list[int | None] = []
        for name in names:
            if end.role is not None and name == end.role:
                ways.append(None)
            elif name in self.topology.networks and any(
                _in_cidr(end, c, family) for c in self.topology.networks[name].cidrs
            ):
                ways.append(family)
        return ways

    def _half(self, cache: dict, role: str, side: str, peer: _End, family: int) -> list[tuple[PortSpec, int | None]]:
        """(port spec, via) pairs of flows naming `role` on `side` and containing `peer` on the other side."""
        key = (role, side, peer, family)
        if key not in cache:
            found = []
            for flow in self.topology.flows:
                mine, other = (flow.destinations, flow.sources) if side == "to" else (flow.sources, flow.destinations)
                if role not in mine:
                    continue
                for via in dict.fromkeys(self._contains(other, peer, family)):
                    found.extend((ps, via) for ps in flow.ports)
            cache[key] = found
        return cache[key]

    def _allows(self, s: _End, d: _End, proto: str, port: object) -> bool:
        for family in _families(s, d, proto):
            if d.is_role:
                specs = self._half(self._ingress_cache, d.role, "to", s, family)  # type: ignore[arg-type]
                if not any(_spec_port_matches(ps, proto, port, via, self.icmp_any_type) for ps, via in specs):
                    continue
            if s.is_role and self.topology.egress != "open":
                specs = self._half(self._egress_cache, s.role, "from", d, family)  # type: ignore[arg-type]
                if not any(_spec_port_matches(ps, proto, port, via, self.icmp_any_type) for ps, via in specs):
                    continue
            return True
        return False

    def allows(self, src: str, dst: str, protocol: str | int, port: object = None) -> bool:
        return self._allows(*_prepare(src, dst, protocol, port, self.roles))


def spec_allows(
    topology: Topology, src: str, dst: str, protocol: str | int, port: object = None, *, icmp_any_type: bool = False
) -> bool:
    """May `src` open a connection to `dst` according to the spec's flows? (icmp_any_type: Azure granularity)"""
    return SpecModel(topology, icmp_any_type=icmp_any_type).allows(src, dst, protocol, port)


# --------------------------------------------------------------------------------------------- AWS


def _aws_proto_matches(rule: SgRule, proto: str, port: object) -> bool:
    rp = _protocol(rule.ip_protocol)
    if rp == "-1":
        return True
    if rp != proto:
        return False
    if proto in ("tcp", "udp"):
        return rule.from_port is not None and rule.to_port is not None and rule.from_port <= port <= rule.to_port  # type: ignore[operator]
    if proto in ("icmp", "icmpv6"):
        icmp_type, code = port  # type: ignore[misc]
        lo = -1 if rule.from_port is None else rule.from_port
        hi = -1 if rule.to_port is None else rule.to_port
        return (lo < 0 or lo == icmp_type) and (hi < 0 or hi == code)
    return True  # another protocol number: AWS ignores the port range


def _aws_peer_matches(rule: SgRule, peer: _End, family: int) -> bool:
    if rule.referenced_group is not None:
        return peer.role == rule.referenced_group
    # foreign groups and prefix lists never contain our endpoints
    return any(cidr and _in_cidr(peer, ipaddress.ip_network(cidr), family) for cidr in (rule.cidr_ipv4, rule.cidr_ipv6))


class AwsModel:
    """AWS: the union of allow rules; ingress on the destination's group AND egress on the source's group."""

    def __init__(self, state: AwsState):
        self.state = state
        self.roles = set(state.groups)
        self.index: dict[tuple[str, str], list[SgRule]] = {}
        for rule in state.rules.values():
            self.index.setdefault((rule.group, rule.direction), []).append(rule)
        self._candidates = lru_cache(maxsize=None)(self._candidates_uncached)

    def _candidates_uncached(self, group: str, direction: str, peer: _End, family: int) -> tuple[SgRule, ...]:
        return tuple(r for r in self.index.get((group, direction), ()) if _aws_peer_matches(r, peer, family))

    def _allows(self, s: _End, d: _End, proto: str, port: object) -> bool:
        for family in _families(s, d, proto):
            if d.is_role and not any(
                _aws_proto_matches(r, proto, port) for r in self._candidates(d.role, "ingress", s, family)
            ):
                continue
            if s.is_role and not any(
                _aws_proto_matches(r, proto, port) for r in self._candidates(s.role, "egress", d, family)
            ):
                continue
            return True
        return False

    def allows(self, src: str, dst: str, protocol: str | int, port: object = None) -> bool:
        return self._allows(*_prepare(src, dst, protocol, port, self.roles))


def aws_allows(state: AwsState, src: str, dst: str, protocol: str | int, port: object = None) -> bool:
    """May `src` open a connection to `dst` through the AWS security groups of `state`?"""
    return AwsModel(state).allows(src, dst, protocol, port)


# --------------------------------------------------------------------------------------------- Azure


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
    )


AZURE_DEFAULT_RULES: tuple[NsgRule, ...] = (
    _default("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    _default("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    _default("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    _default("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
)


def _azure_proto_matches(rule: NsgRule, proto: str, port: object) -> bool:
    rp = rule.protocol.lower()
    if rp not in ("*", "any"):
        if rp == "icmp":
            if proto not in ("icmp", "icmpv6"):
                return False
        elif rp != proto:
            return False
    if "*" not in rule.source_ports:
        return False  # choice 6: clients use ephemeral source ports
    if proto not in ("tcp", "udp"):
        return "*" in rule.destination_ports
    for item in rule.destination_ports:
        if item == "*":
            return True
        lo, _, hi = item.partition("-")
        if int(lo) <= port <= int(hi or lo):  # type: ignore[operator]
            return True
    return False


class AzureModel:
    """Azure: Outbound for a role source by the NSG of its subnet, then Inbound for a role destination by the NSG
    of its subnet (one NSG on every subnet, or one per subnet holding the roles it lists; a role in several
    subnets is allowed only what every one of its subnets' NSGs allows)."""

    def __init__(self, state: AzureState, vnet_prefixes: Sequence[IPNetwork | str] = PRIVATE_PREFIXES):
        self.state = state
        self.roles = set(state.asgs)
        self.vnet = tuple(ipaddress.ip_network(p) for p in vnet_prefixes)
        self.ordered: dict[tuple[str, str], list[NsgRule]] = {}
        for nsg in state.nsgs.values():
            rules = [*nsg.rules.values(), *AZURE_DEFAULT_RULES]
            for way in ("Inbound", "Outbound"):
                ordered = sorted((r for r in rules if r.direction == way), key=lambda r: (r.priority, r.name))
                self.ordered[(nsg.name, way)] = ordered
        self._candidates = lru_cache(maxsize=None)(self._candidates_uncached)

    def _nsgs_of(self, role: str | None) -> list[str]:
        return [n.name for n in self.state.nsgs.values() if n.roles is None or role in n.roles]

    def _in_vnet(self, end: _End) -> bool:
        return end.is_role or any(end.addr in net for net in self.vnet if net.version == end.addr.version)

    def _side_matches(self, prefixes: tuple[str, ...], asgs: tuple[str, ...], end: _End, family: int) -> bool:
        if end.role is not None and end.role in asgs:
            return True
        for prefix in prefixes:
            tag = prefix.lower()
            if tag in ("*", "any"):
                return True
            if tag == "virtualnetwork":
                if self._in_vnet(end):
                    return True
            elif tag == "internet":
                if not self._in_vnet(end):
                    return True
            elif tag == "azureloadbalancer":
                if end.addr == AZURE_LOAD_BALANCER:
                    return True
            else:
                try:
                    net = ipaddress.ip_network(prefix, strict=False)
                except ValueError:
                    continue  # another service tag: none of our endpoints
                if _in_cidr(end, net, family):
                    return True
        return False

    def _candidates_uncached(self, nsg: str, direction: str, s: _End, d: _End, family: int) -> tuple[NsgRule, ...]:
        """The rules of one NSG and direction whose source and destination match, in evaluation order."""
        return tuple(
            r
            for r in self.ordered[(nsg, direction)]
            if self._side_matches(r.source_prefixes, r.source_asgs, s, family)
            and self._side_matches(r.destination_prefixes, r.destination_asgs, d, family)
        )

    def _verdict(self, direction: str, s: _End, d: _End, family: int, proto: str, port: object) -> bool:
        role = s.role if direction == "Outbound" else d.role
        return all(self._nsg_verdict(nsg, direction, s, d, family, proto, port) for nsg in self._nsgs_of(role))

    def _nsg_verdict(self, nsg: str, direction: str, s: _End, d: _End, family: int, proto: str, port: object) -> bool:
        for rule in self._candidates(nsg, direction, s, d, family):
            if _azure_proto_matches(rule, proto, port):
                return rule.access == "Allow"
        return False  # unreachable: the default deny matches everything

    def _allows(self, s: _End, d: _End, proto: str, port: object) -> bool:
        for family in _families(s, d, proto):
            if s.is_role and not self._verdict("Outbound", s, d, family, proto, port):
                continue
            if d.is_role and not self._verdict("Inbound", s, d, family, proto, port):
                continue
            return True
        return False

    def allows(self, src: str, dst: str, protocol: str | int, port: object = None) -> bool:
        return self._allows(*_prepare(src, dst, protocol, port, self.roles))


def azure_allows(
    state: AzureState,
    src: str,
    dst: str,
    protocol: str | int,
    port: object = None,
    vnet_prefixes: Sequence[IPNetwork | str] = PRIVATE_PREFIXES,
) -> bool:
    """May `src` open a connection to `dst` through the NSG of `state` (default rules included)?"""
    return AzureModel(state, vnet_prefixes).allows(src, dst, protocol, port)


# --------------------------------------------------------------------------------------------- probes

FIXED_PORTS = (0, 1, 22, 53, 80, 135, 443, 445, 1433, 3389, 8080, 65534, 65535)
FIXED_ICMP = ((0, 0), (3, 4), (8, 0), (128, 0), (255, 255))
_OUTSIDE_CANDIDATES = {
    4: ("203.0.113.77", "192.0.2.55", "198.18.7.7", "100.64.9.9", "172.31.254.1", "192.168.254.254", "10.254.1.1"),
    6: ("2001:db8:ffff::7", "2001:db8:fffe::1", "2a00:1450::1", "fd99:1::1", "fdff:ffff::9"),
}


def _all_port_specs(topology: Topology) -> list[PortSpec]:
    return [ps for flow in (*topology.flows, *topology.skipped_flows) for ps in flow.ports]


def probe_ports(topology: Topology) -> list[int]:
    """tcp/udp ports at every boundary of every port range (lo-1, lo, hi, hi+1), plus a few fixed ones."""
    ports = set(FIXED_PORTS)
    for ps in _all_port_specs(topology):
        if ps.protocol in ("tcp", "udp"):
            ports.update(p for p in (ps.from_port - 1, ps.from_port, ps.to_port, ps.to_port + 1) if 0 <= p <= 65535)
    return sorted(ports)


def probe_icmp(topology: Topology) -> list[tuple[int, int]]:
    """(type, code) probes around every ICMP type and code the spec names, plus a few fixed ones."""
    found = set(FIXED_ICMP)
    for ps in _all_port_specs(topology):
        if ps.protocol in ("icmp", "icmpv6") and ps.from_port >= 0:
            t, c = ps.from_port, max(ps.to_port, 0)
            found.update({(t, 0), (t, c), (t, c - 1), (t, c + 1), (t - 1, 0), (t + 1, 0)})
    return sorted((t, c) for t, c in found if 0 <= t <= 255 and 0 <= c <= 255)


def probe_addresses(topology: Topology) -> list[str]:
    """First and last address of every CIDR, the addresses just outside it, and addresses outside every
    non-/0 network (one public and one private per family, when such exist)."""
    addrs: dict[str, None] = {}
    cidrs = [c for net in topology.networks.values() for c in net.cidrs]
    for cidr in cidrs:
        first, last = cidr.network_address, cidr.broadcast_address
        candidates = [first, last]
        if cidr.prefixlen:
            candidates += [a for a in (_step(first, -1), _step(last, 1)) if a is not None]
        addrs.update((str(a), None) for a in candidates)
    narrow = [c for c in cidrs if c.prefixlen]
    for family, texts in _OUTSIDE_CANDIDATES.items():
        picked: set[bool] = set()
        for text in texts:
            addr = ipaddress.ip_address(text)
            private = any(addr in p for p in PRIVATE_PREFIXES if p.version == family)
            if private in picked or any(addr in c for c in narrow if c.version == family):
                continue
            picked.add(private)
            addrs[text] = None
    return list(addrs)


def _step(addr: IPAddress, delta: int) -> IPAddress | None:
    try:
        return addr + delta
    except (ipaddress.AddressValueError, ValueError):
        return None


def probe_points(topology: Topology) -> list[Probe]:
    """A finite, discriminating probe set: every role pair (self included) and every role/address pair, in
    both directions; tcp and udp at every range boundary, icmp/icmpv6 types and codes, and one other protocol."""
    roles = sorted(topology.roles)
    pairs = [(a, b) for a in roles for b in roles]
    for addr in probe_addresses(topology):
        for role in roles:
            pairs += [(addr, role), (role, addr)]
    ports, icmp = probe_ports(topology), probe_icmp(topology)
    probes: list[Probe] = []
    for src, dst in pairs:
        versions = {ipaddress.ip_address(x).version for x in (src, dst) if x not in topology.roles}
        for proto in ("tcp", "udp"):
            probes += [(src, dst, proto, p) for p in ports]
        if versions <= {4}:
            probes += [(src, dst, "icmp", t) for t in icmp]
        if versions <= {6}:
            probes += [(src, dst, "icmpv6", t) for t in icmp]
        probes.append((src, dst, OTHER_PROTOCOL, None))
    return probes


# --------------------------------------------------------------------------------------------- equivalence


@dataclass(frozen=True)
class Mismatch:
    probe: Probe
    spec: bool
    cloud: bool

    def __str__(self) -> str:
        src, dst, proto, port = self.probe
        what = proto if port is None else f"{proto}/{port}"
        verdict = {True: "allows", False: "denies"}
        return f"{src} -> {dst} {what}: spec {verdict[self.spec]}, cloud {verdict[self.cloud]}"


def _compare(spec: SpecModel, cloud: AwsModel | AzureModel, probes: Iterable[Probe] | None) -> list[Mismatch]:
    out = []
    for probe in probes if probes is not None else probe_points(spec.topology):
        s, d, proto, port = _prepare(*probe, spec.roles)
        want, got = spec._allows(s, d, proto, port), cloud._allows(s, d, proto, port)
        if want != got:
            out.append(Mismatch(probe, want, got))
    return out


def aws_mismatches(topology: Topology, state: AwsState, probes: Iterable[Probe] | None = None) -> list[Mismatch]:
    """Probes where the AWS state and the spec disagree (exact, ICMP types and codes included)."""
    return _compare(SpecModel(topology), AwsModel(state), probes)


def azure_mismatches(
    topology: Topology,
    state: AzureState,
    probes: Iterable[Probe] | None = None,
    vnet_prefixes: Sequence[IPNetwork | str] = PRIVATE_PREFIXES,
) -> list[Mismatch]:
    """Probes where the Azure state and the spec disagree (ICMP compared at 'any ICMP' granularity)."""
    return _compare(SpecModel(topology, icmp_any_type=True), AzureModel(state, vnet_prefixes), probes)


def _report(cloud: str, topology: Topology, bad: list[Mismatch], limit: int = 15) -> str:
    lines = [f"{cloud}: {len(bad)} probe(s) of topology '{topology.name}' disagree with the spec:"]
    lines += [f"  {m}" for m in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def assert_aws_equivalent(topology: Topology, state: AwsState, probes: Iterable[Probe] | None = None) -> None:
    bad = aws_mismatches(topology, state, probes)
    assert not bad, _report("aws", topology, bad)


def assert_azure_equivalent(
    topology: Topology,
    state: AzureState,
    probes: Iterable[Probe] | None = None,
    vnet_prefixes: Sequence[IPNetwork | str] = PRIVATE_PREFIXES,
) -> None:
    bad = azure_mismatches(topology, state, probes, vnet_prefixes)
    assert not bad, _report("azure", topology, bad)


def assert_equivalent(topology: Topology, state: AwsState | AzureState, probes: Iterable[Probe] | None = None) -> None:
    """For every probe, the cloud state allows exactly what the spec allows (Azure: ICMP at any-type level)."""
    if isinstance(state, AwsState):
        assert_aws_equivalent(topology, state, probes)
    elif isinstance(state, AzureState):
        assert_azure_equivalent(topology, state, probes)
    else:
        raise TypeError(f"not a desired state: {type(state).__name__}")


def rules_of(state: Any) -> dict[str, Any]:
    """The rules of an AWS state, or of the one NSG of an Azure state."""
    return state.nsg.rules if isinstance(state, AzureState) else state.rules


def with_rules(state: Any, rules: dict[str, Any]) -> Any:
    """The state with other rules (an Azure state's one NSG's)."""
    if isinstance(state, AzureState):
        return dataclasses.replace(state, nsgs={state.nsg.name: dataclasses.replace(state.nsg, rules=rules)})
    return dataclasses.replace(state, rules=rules)


# --------------------------------------------------------------------------------------------- Azure, live
#
# Decisions NIC to NIC (and between NICs and outside addresses) over what a resource group really holds, read
# with the plain SDK into plain data: no cloudports model, reader or normaliser. Azure's rules (azure.md §1):
# traffic leaving a NIC is judged Outbound by the NSG of its subnet, traffic reaching a NIC Inbound by the NSG of
# its subnet (no NSG: allowed); within an NSG the rules, the six default ones included, are tried by priority and
# the first whose protocol, source/destination address (prefix, service tag or ASG membership of the NIC) and
# source/destination port match decides. Service tags: VirtualNetwork is the address space of the resource
# group's virtual networks, Internet every address outside it, AzureLoadBalancer 168.63.129.16.

_LIVE_DEFAULTS = (
    ("Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    ("Inbound", 65500, "Deny", "*", "*"),
    ("Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("Outbound", 65001, "Allow", "*", "Internet"),
    ("Outbound", 65500, "Deny", "*", "*"),
)


def _listed(single: Any, plural: Any) -> list[str]:
    return [str(single)] if single else [str(v) for v in plural or []]


def _raw_rule(r: Any) -> dict[str, Any]:
    def ids(refs: Any) -> set[str]:
        return {str(a.id).lower() for a in refs or []}

    return {
        "name": r.name,
        "direction": str(getattr(r.direction, "value", r.direction)),
        "priority": int(r.priority),
        "access": str(getattr(r.access, "value", r.access)),
        "protocol": str(getattr(r.protocol, "value", r.protocol)).lower(),
        "sports": _listed(r.source_port_range, r.source_port_ranges),
        "dports": _listed(r.destination_port_range, r.destination_port_ranges),
        "src": (_listed(r.source_address_prefix, r.source_address_prefixes), ids(r.source_application_security_groups)),
        "dst": (
            _listed(r.destination_address_prefix, r.destination_address_prefixes),
            ids(r.destination_application_security_groups),
        ),
    }


def live_azure_snapshot(sdk: Any, rg: str) -> dict[str, Any]:
    """What decides traffic in a resource group, as plain data (and the IDs of its NSGs and ASGs)."""
    nsgs = {}
    for nsg in sdk.network_security_groups.list(rg):
        defaults = [
            {"name": f"default-{d}-{p}", "direction": d, "priority": p, "access": a, "protocol": "*",
             "sports": ["*"], "dports": ["*"], "src": ([s], set()), "dst": ([t], set())}
            for d, p, a, s, t in _LIVE_DEFAULTS
        ]  # fmt: skip
        rules = [_raw_rule(r) for r in nsg.security_rules or []] + defaults
        nsgs[str(nsg.id).lower()] = sorted(rules, key=lambda r: r["priority"])
    subnet_nsg, spaces = {}, []
    for vnet in sdk.virtual_networks.list(rg):
        spaces += [ipaddress.ip_network(p) for p in vnet.address_space.address_prefixes or []]
        for subnet in vnet.subnets or []:
            nsg = getattr(subnet, "network_security_group", None)
            subnet_nsg[str(subnet.id).lower()] = str(nsg.id).lower() if nsg is not None else None
    nics = {}
    for nic in sdk.network_interfaces.list(rg):
        config = nic.ip_configurations[0]
        asgs = {str(a.id).lower() for c in nic.ip_configurations for a in c.application_security_groups or []}
        nics[nic.name] = (
            ipaddress.ip_address(config.private_ip_address),
            subnet_nsg[str(config.subnet.id).lower()],
            asgs,
        )
    asg_ids = sorted(str(a.id).lower() for a in sdk.application_security_groups.list(rg))
    return {"nsgs": nsgs, "nics": nics, "vnet": spaces, "ids": (sorted(nsgs), asg_ids)}


def _live_port_in(items: list[str], port: int | None) -> bool:
    if "*" in items:
        return True
    if port is None:
        return False
    for item in items:
        lo, _, hi = item.partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False


def _live_side(side: tuple[list[str], set[str]], addr: IPAddress, asgs: set[str], vnet: list[IPNetwork]) -> bool:
    prefixes, refs = side
    if refs & asgs:
        return True
    in_vnet = any(addr in n for n in vnet if n.version == addr.version)
    for prefix in prefixes:
        tag = prefix.lower()
        if tag in ("*", "any") or (tag == "virtualnetwork" and in_vnet) or (tag == "internet" and not in_vnet):
            return True
        if tag == "azureloadbalancer":
            if addr == AZURE_LOAD_BALANCER:
                return True
            continue
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            continue
        if net.version == addr.version and addr in net:
            return True
    return False


def _live_verdict(snap: dict[str, Any], nsg: str | None, direction: str, packet: tuple) -> bool:
    if nsg is None:
        return True
    (saddr, sasgs), (daddr, dasgs), proto, sport, dport = packet
    for rule in snap["nsgs"][nsg]:
        if rule["direction"] != direction or rule["protocol"] not in ("*", proto):
            continue
        if proto in ("tcp", "udp"):
            if not (_live_port_in(rule["sports"], sport) and _live_port_in(rule["dports"], dport)):
                continue
        elif "*" not in rule["dports"] or "*" not in rule["sports"]:
            continue
        if _live_side(rule["src"], saddr, sasgs, snap["vnet"]) and _live_side(rule["dst"], daddr, dasgs, snap["vnet"]):
            return bool(rule["access"] == "Allow")
    return False


def live_azure_allows(
    snap: dict[str, Any], src: str, dst: str, proto: str, sport: int | None, dport: int | None
) -> bool:
    """May `src` open a connection to `dst` (each a NIC name or an address outside the NICs)?"""
    ends = []
    for end in (src, dst):
        if end in snap["nics"]:
            addr, nsg, asgs = snap["nics"][end]
            ends.append((addr, asgs, nsg))
        else:
            ends.append((ipaddress.ip_address(end), set(), None))
    (saddr, sasgs, snsg), (daddr, dasgs, dnsg) = ends
    packet = ((saddr, sasgs), (daddr, dasgs), proto, sport, dport)
    out_ok = src not in snap["nics"] or _live_verdict(snap, snsg, "Outbound", packet)
    return out_ok and (dst not in snap["nics"] or _live_verdict(snap, dnsg, "Inbound", packet))


def _live_edges(items: list[str]) -> set[int]:
    edges = set()
    for item in items:
        if item != "*":
            lo, _, hi = item.partition("-")
            edges.update(p for p in (int(lo) - 1, int(lo), int(hi or lo), int(hi or lo) + 1) if 0 <= p <= 65535)
    return edges


def _live_addresses(net: IPNetwork) -> list[IPAddress]:
    edges = (
        (net.network_address, 0),
        (net.network_address, -1),
        (net.broadcast_address, 0),
        (net.broadcast_address, 1),
    )
    return [a for a in (_step(addr, delta) for addr, delta in edges) if a is not None]


def _live_cells(snaps: Sequence[dict[str, Any]]) -> tuple[list[str], list[int], list[int]]:
    """Addresses at every edge of every prefix the rules or the virtual networks name (first, last, and the
    addresses either side), plus the load balancer's; source and destination ports at every edge of every range."""
    nets: set[IPNetwork] = set()
    sports, dports = {0, 1023, 1024, 49151, 49152, 65535}, {0, 1, 65534, 65535}
    for snap in snaps:
        nets.update(snap["vnet"])
        for rule in (r for rules in snap["nsgs"].values() for r in rules):
            for prefix in (*rule["src"][0], *rule["dst"][0]):
                with contextlib.suppress(ValueError):  # a service tag is no prefix
                    nets.add(ipaddress.ip_network(prefix, strict=False))
            sports |= _live_edges(rule["sports"])
            dports |= _live_edges(rule["dports"])
    addrs = {AZURE_LOAD_BALANCER, ipaddress.ip_address("203.0.113.9"), ipaddress.ip_address("2001:db8::9")}
    for net in nets:
        addrs.update(_live_addresses(net))
    return sorted(str(a) for a in addrs), sorted(sports), sorted(dports)


def live_azure_decisions(snaps: Sequence[dict[str, Any]], snap: dict[str, Any]) -> dict[tuple, bool]:
    """Every decision of `snap` over the cells of all `snaps` (so two snapshots are compared on the same cells):
    NIC to NIC, NIC to address and address to NIC; tcp/udp at every port edge from every source-port edge, icmp and
    another protocol."""
    addrs, sports, dports = _live_cells(snaps)
    nics = sorted(set().union(*(s["nics"] for s in snaps)))
    pairs = [(a, b) for a in nics for b in nics if a != b] + [(a, x) for a in nics for x in addrs]
    pairs += [(x, a) for a in nics for x in addrs]
    out = {}
    for src, dst in pairs:
        for proto in ("tcp", "udp"):
            for sport in sports:
                for dport in dports:
                    out[(src, dst, proto, sport, dport)] = live_azure_allows(snap, src, dst, proto, sport, dport)
        for proto in ("icmp", "gre"):
            out[(src, dst, proto, None, None)] = live_azure_allows(snap, src, dst, proto, None, None)
    return out


def live_azure_changes(before: dict[str, Any], after: dict[str, Any], limit: int | None = 20) -> list[tuple]:
    """The decisions that differ between two snapshots ((src, dst, protocol, source port, port), before, after;
    the first `limit` of them, for a message)."""
    one, two = live_azure_decisions([before, after], before), live_azure_decisions([before, after], after)
    return [(k, one[k], two[k]) for k in sorted(one, key=str) if one[k] != two[k]][:limit]
