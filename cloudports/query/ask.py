"""Turning the command line's words into probes, and probes into one answer (see docs in README: query).

Endpoints: a role; a network (its CIDRs, each judged at its first address); an IP address or CIDR (an address
inside a network is that network's); `internet` (a public address outside every named network)."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudports.errors import CloudportsError, Diagnostic, did_you_mean
from cloudports.query.intent import explain_intent
from cloudports.query.model import Point, Port, Probe, Reason, Verdict
from cloudports.query.space import Reachability, Space, Spans
from cloudports.spec.model import INTERNET, Topology

Evaluate = Callable[[Probe], Verdict]
PORT_FORMS = "tcp/1433, tcp/8000-8080 (judged at 8000), udp/1434, icmp/8, icmp/8:0, icmpv6/128 or all"
_PUBLIC = ("203.0.113.77", "198.51.100.9", "2001:db8:ffff::7", "2a00:1450::1")


def parse_port(text: str) -> tuple[str, Port]:
    """`tcp/443` -> ("tcp", 443); `icmp/8` -> ("icmp", (8, 0)); `all` -> ("all", None). The spec's own port
    syntax (spec/ports.py), so that --port and a spec accept the same forms and say the same about near misses."""
    from cloudports.spec.ports import PortSyntaxError
    from cloudports.spec.ports import parse_port as parse_spec_port

    word = text.strip().lower()
    if word in ("any", "-1"):
        return "all", None
    try:
        port = parse_spec_port(text.strip(), _no_parameters)
    except PortSyntaxError as exc:
        raise CloudportsError([Diagnostic(None, f"bad --port: {exc}", _port_hint(exc.hint))]) from None
    if port.protocol == "all":
        return "all", None
    if port.protocol in ("tcp", "udp"):
        return port.protocol, port.from_port
    if port.from_port < 0:  # a bare `icmp`: every type, which one probe cannot stand for
        example = f"{port.protocol}/{128 if port.protocol == 'icmpv6' else 8}"
        raise CloudportsError([Diagnostic(None, f"bad --port: '{text}' needs an ICMP type", f"e.g. {example}")])
    return port.protocol, (port.from_port, max(port.to_port, 0))


def _no_parameters(name: str) -> int:
    from cloudports.spec.ports import PortSyntaxError

    raise PortSyntaxError(f"'${{{name}}}' is a spec parameter, not a port number", "write the number, e.g. tcp/5555")


def _port_hint(hint: str) -> str:
    """The spec parser's hint, unless it lists the spec's forms (with parameters): then the forms --port takes."""
    return f"use one of: {PORT_FORMS}" if hint.startswith(("write it like", "protocols are")) else hint


def resolve(topology: Topology, text: str) -> tuple[str, list[Point]]:
    """What the user named ("role web", "network corp", ...) and the points it is judged at."""
    if text in topology.roles:
        return f"role {text}", [Point(role=text)]
    if text == INTERNET:
        return "internet", [Point(addr=_public_address(topology, v), label=INTERNET) for v in (4, 6)]
    if text in topology.networks:
        cidrs = topology.networks[text].cidrs
        if not cidrs:  # machines by what a target names (an AWS security group), not by address
            return f"network {text}", [Point(label=text, network=text)]
        return f"network {text}", [Point(addr=c.network_address, label=text) for c in cidrs]
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        known = [*topology.roles, *topology.networks]
        hint = did_you_mean(text, known)
        raise CloudportsError(
            [Diagnostic(None, f"'{text}' is not a role, network, address or CIDR of '{topology.name}'", hint)]
        ) from None
    addr = net.network_address
    inside = [n for n, v in topology.networks.items() if n != INTERNET and any(addr in c for c in v.cidrs)]
    point = Point(addr=addr, label=inside[0] if inside else "")
    where = f" (in network {', '.join(inside)})" if inside else ""
    return f"address {text}{where}", [point]


def _public_address(topology: Topology, version: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    narrow = [c for n in topology.networks.values() for c in n.cidrs if c.prefixlen]
    for text in _PUBLIC:
        addr = ipaddress.ip_address(text)
        if addr.version == version and not any(addr in c for c in narrow):
            return addr
    raise CloudportsError("every sample public address lies inside a named network; query an address instead")


@dataclass(frozen=True)
class Answer:
    what: str  # "tcp/443", or "tcp/80-443" in a listing
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        return {
            "port": self.what,
            "allowed": self.verdict.allowed,
            "reasons": [r.as_dict() for r in self.verdict.reasons],
        }


def judge(evaluate: Evaluate, srcs: list[Point], dsts: list[Point], protocol: str, port: Port) -> Verdict:
    """All points of both endpoints must pass; the reasons of every pair, without repeats. `internet` stands for
    any public address: allowed when the addresses of one family can connect, and the answer names the family."""
    for side, points in ((0, srcs), (1, dsts)):
        if len(points) > 1 and all(p.label == INTERNET and p.addr is not None for p in points):
            ends = [([p], dsts) if side == 0 else (srcs, [p]) for p in points]
            return _any_family(points, [judge(evaluate, *e, protocol, port) for e in ends])
    verdicts = [evaluate(Probe(s, d, protocol, port)) for s in srcs for d in dsts if s.groups() or d.groups()]
    if not verdicts:
        raise CloudportsError(
            "one side of a query must be a role, or with --live a machine (nothing cloudports writes sits between "
            "two hosts)"
        )
    allowed = all(v.allowed for v in verdicts)
    reasons = tuple(dict.fromkeys(r for v in verdicts for r in v.reasons if r.admits == allowed or not allowed))
    return Verdict(allowed, reasons)


def _any_family(points: list[Point], verdicts: list[Verdict]) -> Verdict:
    """The internet's verdict from its addresses' (one per family): allowed if one family is, saying which."""
    passed = [(p, v) for p, v in zip(points, verdicts, strict=True) if v.allowed]
    if not passed or len(passed) == len(points):
        return Verdict(bool(passed), tuple(dict.fromkeys(r for v in verdicts for r in v.reasons)))
    shut = [p for p in points if all(p is not q for q, _ in passed)]
    only = ", ".join(f"IPv{p.addr.version} ({p.addr})" for p, _ in passed if p.addr is not None)
    not_over = ", ".join(f"IPv{p.addr.version}" for p in shut if p.addr is not None)
    family = Reason("", True, f"internet addresses over {only} can connect; over {not_over} none can")
    return Verdict(True, (family, *dict.fromkeys(r for _, v in passed for r in v.reasons)))


def widened_icmp(topology: Topology, srcs: list[Point], dsts: list[Point], protocol: str, port: Port) -> Reason | None:
    """Where a target that cannot filter ICMP by type admits what the spec gave only for other ICMP types."""
    if protocol not in ("icmp", "icmpv6"):
        return None
    exact = judge(lambda p: explain_intent(topology, p), srcs, dsts, protocol, port)
    if exact.allowed:
        return None
    wide = judge(lambda p: explain_intent(topology, p, any_icmp=True), srcs, dsts, protocol, port)
    if not wide.allowed:
        return None
    refs = ", ".join(dict.fromkeys(r.ref for r in wide.reasons if r.ref))
    return Reason(
        "",
        True,
        "this target cannot filter ICMP by type or code: flows for other ICMP types admit every type "
        f"here, which the spec did not ask for (spec: {refs})",
        refs,
    )


def _ranges(topology: Topology, protocol: str) -> list[tuple[int, int]]:
    """Port segments within which every rule the spec can produce answers alike."""
    cuts = {0, 65536}
    for flow in topology.flows:
        for ps in flow.ports:
            if ps.protocol == protocol:
                cuts |= {ps.from_port, ps.to_port + 1}
    edges = sorted(cuts)
    return list(zip(edges, [e - 1 for e in edges[1:]], strict=False))


def _icmp_types(topology: Topology, protocol: str) -> list[tuple[int, int]]:
    named = {(ps.from_port, max(ps.to_port, 0)) for f in topology.flows for ps in f.ports if ps.protocol == protocol}
    return sorted(t for t in named if t[0] >= 0)


def listing(
    topology: Topology, evaluate: Evaluate, srcs: list[Point], dsts: list[Point], reach: Reachability | None = None
) -> list[Answer]:
    """Every protocol and port range allowed from the sources to the destinations. `reach`: the same judge's
    answers as Spaces (query/space.py), which tell at once the ports nothing between these endpoints admits: they
    are not asked one by one (at 10,000 flows nearly every range the spec cuts is such a port)."""
    every = judge(evaluate, srcs, dsts, "all", None)
    if every.allowed:
        return [Answer("all", every)]
    possible = _possible(reach, srcs, dsts) if reach is not None else Space.everything()
    found: list[Answer] = []
    for proto in ("tcp", "udp"):
        merged: list[tuple[int, int, Verdict]] = []
        spans = possible.axis(proto)
        for lo, hi in _ranges(topology, proto):
            if not _inside(spans, lo):
                continue  # denied between every pair of the endpoints
            verdict = judge(evaluate, srcs, dsts, proto, lo)
            if not verdict.allowed:
                continue
            if merged and merged[-1][1] == lo - 1 and merged[-1][2] == verdict:
                merged[-1] = (merged[-1][0], hi, verdict)
            else:
                merged.append((lo, hi, verdict))
        found += [Answer(f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}", v) for lo, hi, v in merged]
    for proto in ("icmp", "icmpv6"):
        named = _icmp_types(topology, proto)
        other = next((t, 0) for t in range(255, -1, -1) if (t, 0) not in named)
        anything = judge(evaluate, srcs, dsts, proto, other)
        if anything.allowed:
            found.append(Answer(f"{proto} (every type)", anything))
            continue
        for kind in named:
            verdict = judge(evaluate, srcs, dsts, proto, kind)
            if verdict.allowed:
                found.append(Answer(f"{proto}/{kind[0]}:{kind[1]}", verdict))
    return found


def _possible(reach: Reachability, srcs: list[Point], dsts: list[Point]) -> Space:
    """All that any source may send any destination over either family: judge() allows nothing outside it."""
    return Space.union(reach.space(src, dst, family) for src in srcs for dst in dsts for family in (4, 6))


def _inside(spans: Spans, value: int) -> bool:
    at = bisect.bisect_right(spans, (value, 65536)) - 1
    return at >= 0 and spans[at][0] <= value <= spans[at][1]
