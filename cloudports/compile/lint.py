"""Exposure lint: risky admin, file-sharing and database ports must not be open to the internet by accident.

Exposure is judged by address arithmetic, not by spelling: for every role, risky service and protocol, the
addresses of all networks that may reach it (over every flow, every phase, IPv4 and IPv6, IPv4-mapped IPv6 counted
as IPv4) are united and measured against the public address space. Splitting 0.0.0.0/0 into halves, listing /8s one
by one or writing ::ffff:0:0/96 therefore changes nothing. An explicit `allow_exposure: <reason>` on a flow
documents an accepted risk: that flow's addresses are not counted.

Findings point at the flows that make the exposure (their `services:` position), so that the fix is obvious.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from cloudports.errors import Loc, Problems
from cloudports.spec.model import Flow, IPNetwork, PortSpec, Topology

# The lint's checks, as reports name them (validate --format sarif); what each means: RULES (details:
# docs/spec-format.md#exposure-lint).
RISKY_PORT, PLAIN_HTTP, BLANK_ALLOWANCE = "exposure/risky-port", "exposure/plain-http", "exposure/blank-allowance"
RULES = {
    RISKY_PORT: (
        "A risky port (admin, file sharing, directory, database) is open to a large share of the public internet",
        "More than half of the public address space is an error, more than a /8's share a warning. Open it only "
        "to the networks that need it, or document the accepted risk with `allow_exposure: <reason>` on the flow.",
    ),
    PLAIN_HTTP: (
        "Plain HTTP is open to the internet next to HTTPS",
        "Serve a redirect from HTTPS only, or drop tcp/80 if no client needs it.",
    ),
    BLANK_ALLOWANCE: (
        "`allow_exposure` is blank",
        "An allowance documents why an exposure is acceptable; write the reason, or remove the allowance.",
    ),
}


@dataclass(frozen=True, order=True)
class Risky:
    """A service that must not face the internet: tcp and udp alike, ports lo..hi."""

    lo: int
    hi: int
    name: str


# Admin, file-sharing, directory, database, cache and orchestration ports that are attacked as soon as they are
# reachable from the internet (CISA/NCSC guidance and the usual ransomware entry points).
RISKY: tuple[Risky, ...] = tuple(
    Risky(lo, hi, name)
    for lo, hi, name in (
        (20, 20, "FTP data"),
        (21, 21, "FTP"),
        (22, 22, "SSH"),
        (23, 23, "Telnet"),
        (111, 111, "Sun RPC portmapper (rpcbind)"),
        (135, 135, "MSRPC endpoint mapper"),
        (137, 137, "NetBIOS name service"),
        (138, 138, "NetBIOS datagram"),
        (139, 139, "NetBIOS session"),
        (161, 161, "SNMP"),
        (162, 162, "SNMP trap"),
        (389, 389, "LDAP"),
        (445, 445, "SMB"),
        (636, 636, "LDAPS"),
        (1433, 1433, "SQL Server"),
        (1434, 1434, "SQL Server Browser / DAC"),
        (2049, 2049, "NFS"),
        (2375, 2375, "Docker API"),
        (2376, 2376, "Docker API (TLS)"),
        (2379, 2380, "etcd"),
        (3268, 3268, "LDAP global catalog"),
        (3269, 3269, "LDAP global catalog (TLS)"),
        (3306, 3306, "MySQL"),
        (3389, 3389, "RDP"),
        (5432, 5432, "PostgreSQL"),
        (5800, 5800, "VNC (HTTP)"),
        (5900, 5903, "VNC"),
        (5985, 5985, "WinRM (HTTP)"),
        (5986, 5986, "WinRM (HTTPS)"),
        (6379, 6379, "Redis"),
        (6443, 6443, "Kubernetes API"),
        (9200, 9200, "Elasticsearch"),
        (9300, 9300, "Elasticsearch transport"),
        (10250, 10250, "kubelet"),
        (11211, 11211, "memcached"),
        (27017, 27017, "MongoDB"),
        (49152, 65535, "MSRPC dynamic ports"),
    )
)

# IANA special-purpose IPv4 blocks that are not globally reachable, plus multicast and the reserved 240/4 (never a
# source address). What is left is the public IPv4 space.
NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
# IPv6: the global unicast space 2000::/3, less the documentation prefix.
NON_PUBLIC_V6 = (ipaddress.IPv6Network("2001:db8::/32"),)
# IPv6 prefixes that carry IPv4 addresses in their last 32 bits (IPv4-mapped, NAT64 well-known prefix).
EMBEDDED_V4 = (ipaddress.IPv6Network("::ffff:0:0/96"), ipaddress.IPv6Network("64:ff9b::/96"))


_Net = TypeVar("_Net", ipaddress.IPv4Network, ipaddress.IPv6Network)


def _space(whole: _Net, holes: Iterable[_Net]) -> tuple[_Net, ...]:
    blocks = [whole]
    for hole in holes:
        blocks = [part for b in blocks for part in (b.address_exclude(hole) if b.overlaps(hole) else [b])]
    return tuple(sorted(blocks))


PUBLIC: dict[int, tuple[IPNetwork, ...]] = {  # the public space of each IP version, as disjoint blocks
    4: _space(ipaddress.IPv4Network("0.0.0.0/0"), NON_PUBLIC_V4),
    6: _space(ipaddress.IPv6Network("2000::/3"), NON_PUBLIC_V6),
}
PUBLIC_SIZE = {v: sum(b.num_addresses for b in blocks) for v, blocks in PUBLIC.items()}
# The public blocks as sorted, disjoint (first, last) address spans: the spans one block overlaps are found by
# bisection (a private /24 overlaps none of the 103 IPv4 ones, and comparing it with each took 0.2 ms).
_PUBLIC_SPANS = {
    v: [(int(b.network_address), int(b.broadcast_address)) for b in blocks] for v, blocks in PUBLIC.items()
}
_PUBLIC_FIRSTS = {v: [first for first, _last in spans] for v, spans in _PUBLIC_SPANS.items()}
# "More than a /8-equivalent": a larger share of the public space than one IPv4 /8 is of the public IPv4 space.
ERROR_SHARE = Fraction(1, 2)
WARNING_SHARE = Fraction(2**24, PUBLIC_SIZE[4])


def _as_v4(net: IPNetwork) -> list[IPNetwork]:
    """The IPv4 addresses an IPv6 block reaches through an embedding prefix."""
    out: list[IPNetwork] = []
    for prefix in EMBEDDED_V4:
        if net.subnet_of(prefix):  # type: ignore[arg-type]
            out.append(ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96)))
        elif net.supernet_of(prefix):  # type: ignore[arg-type]
            out.append(ipaddress.IPv4Network("0.0.0.0/0"))
    return out


def public_share(nets: Iterable[IPNetwork]) -> Fraction:
    """The larger of the IPv4 and IPv6 shares of the public space that these blocks together cover."""
    by_version: dict[int, list[IPNetwork]] = {4: [], 6: []}
    for net in nets:
        by_version[net.version].append(net)
        if net.version == 6:
            by_version[4].extend(_as_v4(net))
    shares = []
    for version, blocks in by_version.items():
        # collapse first so that overlapping blocks count once
        merged: Iterable[IPNetwork] = ipaddress.collapse_addresses(blocks)  # type: ignore[type-var]
        covered = sum(_public_in(version, block) for block in merged)
        shares.append(Fraction(covered, PUBLIC_SIZE[version]))
    return max(shares)


def _public_in(version: int, block: IPNetwork) -> int:
    """How many public addresses `block` holds."""
    first, last = int(block.network_address), int(block.broadcast_address)
    spans, at = _PUBLIC_SPANS[version], max(bisect.bisect_right(_PUBLIC_FIRSTS[version], first) - 1, 0)
    covered = 0
    for span_first, span_last in spans[at:]:
        if span_first > last:
            break
        covered += max(0, min(last, span_last) - max(first, span_first) + 1)
    return covered


def describe_share(share: Fraction) -> str:
    return "any address" if share == 1 else f"{float(share):.1%} of the public address space"


@dataclass(frozen=True)
class _Opening:
    """One flow opening one risky service (one protocol) on one role to its source networks."""

    flow: Flow
    finding: str  # "RDP (tcp/3389)", or "every port" for protocol 'all'
    networks: tuple[str, ...]
    cidrs: tuple[IPNetwork, ...]

    @property
    def share(self) -> Fraction:
        return _share_of(self.cidrs)


@lru_cache(maxsize=4096)
def _share_of(cidrs: tuple[IPNetwork, ...]) -> Fraction:
    """A network's share, once: every risky service and role of a flow asks for the same networks."""
    return public_share(cidrs)


def _findings(port: PortSpec) -> list[tuple[Risky, str, str]]:
    """(risky service, protocol, finding text) for every risky service a port spec opens."""
    if port.protocol == "all":
        return [(risky, proto, "every port") for risky in RISKY for proto in ("tcp", "udp")]
    if port.protocol not in ("tcp", "udp"):
        return []
    found: list[tuple[Risky, str, str]] = []
    for risky in RISKY:
        lo, hi = max(risky.lo, port.from_port), min(risky.hi, port.to_port)
        if lo <= hi:
            found.append((risky, port.protocol, f"{risky.name} ({PortSpec(port.protocol, lo, hi)})"))
    return found


def _openings(topology: Topology, flows: list[Flow]) -> dict[tuple[str, Risky, str], list[_Opening]]:
    """(role, risky service, protocol) -> the ingress openings from networks; only ingress exposes a role."""
    found: dict[tuple[str, Risky, str], list[_Opening]] = defaultdict(list)
    for flow in flows:
        nets = [topology.networks[s] for s in flow.sources if s in topology.networks]
        nets = [n for n in nets if _share_of(n.cidrs) > 0]  # private ranges never count
        roles = [d for d in flow.destinations if topology.is_role(d)]
        if not nets or not roles:
            continue
        names, cidrs = tuple(n.name for n in nets), tuple(c for n in nets for c in n.cidrs)
        for port in flow.ports:
            for risky, proto, text in _findings(port):
                for role in roles:
                    found[(role, risky, proto)].append(_Opening(flow, text, names, cidrs))
    return found


def _content(flow: Flow) -> tuple:
    """What a flow says, whatever its place in the spec: which of two flows the lint blames must not depend on the
    order they are listed in (the graph marks the blamed one), so ties go by this before the position."""
    ports = tuple(sorted(set(flow.ports)))
    return (sorted(set(flow.sources)), sorted(set(flow.destinations)), ports, flow.phase or "", flow.description)


def _blame(openings: list[_Opening], threshold: Fraction) -> tuple[list[_Opening], Fraction]:
    """The largest openings that together cross the threshold, and the share they reach; ([], 0) if none do.

    Blaming the largest contributors first keeps a small partner range out of the report when another flow opens
    the port to the internet, while a split (0.0.0.0/1 + 128.0.0.0/1 in two flows) blames both halves.
    """
    if public_share(c for o in openings for c in o.cidrs) <= threshold:  # the common case: one union, done
        return [], Fraction(0)
    blamed: list[_Opening] = []
    for opening in sorted(openings, key=lambda o: (-o.share, _content(o.flow), o.flow.loc)):
        blamed.append(opening)
        share = public_share(c for o in blamed for c in o.cidrs)
        if share > threshold:
            return blamed, share
    raise AssertionError("unreachable: the union of all openings crosses the threshold")


@dataclass
class _Report:
    """What one flow is blamed for at one severity: reported once, listing every finding and role."""

    flow: Flow
    findings: set[str]
    roles: list[str]
    networks: set[str]
    share: Fraction
    others: set[Loc]  # the other flows it is blamed together with


def _judge(openings: dict[tuple[str, Risky, str], list[_Opening]]) -> dict[tuple[str, Flow], _Report]:
    reports: dict[tuple[str, Flow], _Report] = {}
    for (role, _risky, _proto), items in sorted(openings.items(), key=lambda kv: str(kv[0])):
        # an allowance documents the flow's exposure, so its addresses are not counted
        counted = [o for o in items if not (o.flow.allow_exposure or "").strip()]
        for severity, threshold in (("error", ERROR_SHARE), ("warning", WARNING_SHARE)):
            blamed, share = _blame(counted, threshold)
            for opening in blamed:
                report = reports.setdefault(
                    (severity, opening.flow), _Report(opening.flow, set(), [], set(), Fraction(0), set())
                )
                report.findings.add(opening.finding)
                report.networks.update(opening.networks)
                report.roles += [role] if role not in report.roles else []
                report.share = max(report.share, share)
                report.others |= {o.flow.loc for o in blamed if o.flow != opening.flow}
            # what was not blamed for the error may still be worth a warning on its own
            counted = [o for o in counted if o not in blamed]
    return reports


def _report(severity: str, report: _Report, problems: Problems) -> None:
    flow = report.flow
    roles = sorted(set(report.roles))  # sorted: the order a flow lists them in must not change the message
    names = sorted(report.networks)
    others = ", ".join(f"{Path(o.file).name}:{o.line}" for o in sorted(report.others))
    together = f", together with the flow(s) at {others}"
    message = (
        f"{', '.join(sorted(report.findings))} open to {', '.join(repr(n) for n in names)} "
        f"({describe_share(report.share)}{together if report.others else ''}) on {', '.join(roles)}"
    )
    if severity == "error":
        hint = "open it only to the networks that need it (an office, VPN or partner range), or add "
        hint += "'allow_exposure: <reason>' to the flow"
        problems.error(flow.ports_loc, message, hint, RISKY_PORT)
    else:
        hint = "open it only to the networks that need it (more than a /8's share of the public space is rarely "
        hint += "meant), or add 'allow_exposure: <reason>' to the flow"
        problems.warning(flow.ports_loc, message, hint, RISKY_PORT)


def _lint_http(topology: Topology, flows: list[Flow], problems: Problems) -> None:
    """Plain HTTP next to HTTPS from the internet is worth a second look (allowance or not)."""

    # (role, port) -> the flows into the role that open tcp/port, in spec order; one pass over the flows (asking
    # every role about every flow made this quadratic: 500 roles x 100,000 flows twice)
    opening: dict[tuple[str, int], list[Flow]] = defaultdict(list)
    for f in flows:
        for port in (80, 443):
            if any(p.protocol == "tcp" and p.from_port <= port <= p.to_port for p in f.ports):
                for role in dict.fromkeys(f.destinations):
                    opening[(role, port)].append(f)

    def internet_openings(role: str, port: int) -> list[Flow]:
        return opening.get((role, port), [])

    def to_internet(found: list[Flow]) -> bool:
        nets = [topology.networks[s] for f in found for s in f.sources if s in topology.networks]
        return public_share(c for n in nets for c in n.cidrs) > ERROR_SHARE

    for role in sorted(topology.roles):
        http = internet_openings(role, 80)
        if to_internet(http) and to_internet(internet_openings(role, 443)):
            alone = [f for f in http if to_internet([f])] or http  # or only together
            first = min(alone, key=lambda f: (_content(f), f.loc))
            problems.warning(
                first.ports_loc,
                f"plain HTTP (tcp/80) is open to the internet on '{role}' next to HTTPS",
                "serve a redirect from HTTPS only, or drop tcp/80 if no client needs it",
                PLAIN_HTTP,
            )


def refused_flows(topology: Topology) -> set[int]:
    """The indices (in the spec's `flows`) of the flows that need `allow_exposure` for the lint to pass: those it
    refuses (an error, not a warning), and then those it refuses once they are allowed (the IPv6 flow beside an
    IPv4 one that alone crossed the line)."""
    flows = [*topology.flows, *topology.skipped_flows]
    allowed: set[int] = set()
    while True:
        judged = [replace(f, allow_exposure="needed") if f.index in allowed else f for f in flows]
        refused = {flow.index for severity, flow in _judge(_openings(topology, judged)) if severity == "error"}
        if refused <= allowed:
            return allowed
        allowed |= refused


def lint_exposure(topology: Topology, problems: Problems) -> None:
    """Every flow counts, including those of other phases: a setup phase that exposes SMB is still an exposure."""
    flows = sorted([*topology.flows, *topology.skipped_flows], key=lambda f: f.loc)
    for flow in flows:
        if flow.allow_exposure is not None and not flow.allow_exposure.strip():
            problems.error(
                flow.loc,
                "'allow_exposure' is blank; a blank reason is not a reason",
                "write why the exposure is acceptable, e.g. allow_exposure: 'lab, torn down nightly'; or remove it",
                BLANK_ALLOWANCE,
            )
    reports = _judge(_openings(topology, flows))
    for (severity, _flow), report in sorted(reports.items(), key=lambda kv: (kv[0][1].loc, kv[0][0])):
        _report(severity, report, problems)
    _lint_http(topology, flows, problems)
