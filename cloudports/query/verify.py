"""`cloudports verify`: proves that a cloud's rules allow exactly what the spec's flows allow — exhaustively.

Every rule on every side matches addresses by CIDR (or by group/ASG membership), so the address space falls
into *cells*: the intervals between the edges of every address block any side mentions. Within one cell every
rule answers alike, so one address stands for the whole cell. Each side's answer for an endpoint pair is an
exact Space (query/space.py) of protocols and ports, so the comparison covers every port without probing one.
The pairs are every role to every role (over IPv4 and IPv6) and every role to and from every cell.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cloudports.query.intent import Intent, explain_intent
from cloudports.query.model import IPNetwork, Point, Probe, Verdict
from cloudports.query.space import Reachability, Space, describe, family_mask, probe_for
from cloudports.spec.model import INTERNET, Topology
from cloudports.targets.base import Capabilities

LIMITATION_TEXT = {
    "icmp_types": "{title} cannot filter ICMP by type or code",
    "icmp_families": "{title} cannot tell ICMP from ICMPv6 between groups of machines",
}


@dataclass(frozen=True)
class Cell:
    """Addresses lo..hi of one family that every rule of every side treats alike."""

    family: int
    lo: int
    hi: int
    networks: tuple[str, ...]  # the spec's networks that contain it

    @property
    def names(self) -> tuple[str, ...]:
        """The narrowest names for people: the spec networks it lies in, `internet` only when it is in no other."""
        return tuple(n for n in self.networks if n != INTERNET) or self.networks

    @property
    def point(self) -> Point:
        addr = ipaddress.ip_address(self.lo) if self.family == 4 else ipaddress.IPv6Address(self.lo)
        return Point(addr=addr, label=", ".join(self.networks))


def cut(topology: Topology, blocks: Iterable[IPNetwork]) -> list[Cell]:
    """The cells of both families, in address order, each labelled with the spec networks containing it."""
    edges: dict[int, set[int]] = {4: {0, 2**32}, 6: {0, 2**128}}
    for net in blocks:
        edges[net.version] |= {int(net.network_address), int(net.broadcast_address) + 1}
    named = [
        (n, c.version, int(c.network_address), int(c.broadcast_address))
        for n, net in topology.networks.items()
        for c in net.cidrs
    ]
    cells = []
    for family, found in edges.items():
        ordered = sorted(found)
        for lo, nxt in zip(ordered, ordered[1:], strict=False):
            inside = {n for n, version, first, last in named if version == family and first <= lo <= last}
            cells.append(Cell(family, lo, nxt - 1, tuple(sorted(inside))))
    return cells


def span_text(family: int, lo: int, hi: int, networks: tuple[str, ...]) -> str:
    """Addresses lo..hi for people: CIDRs (or a range), and the spec networks they lie in."""
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    blocks = list(ipaddress.summarize_address_range(make(lo), make(hi)))
    where = ", ".join(str(b) for b in blocks) if len(blocks) <= 3 else f"{make(lo)}-{make(hi)}"
    return f"{where} ({', '.join(networks)})" if networks else where


@dataclass(frozen=True)
class Difference:
    """Traffic that one side allows and the other does not."""

    target: str
    source: str
    destination: str
    traffic: str  # e.g. "tcp/1433"
    allowed_by: str  # "spec" or the target's name
    why: tuple[str, ...] = ()
    limitation: str = ""  # non-empty: a known limitation of the target, not a defect
    example: Probe | None = field(default=None, compare=False)  # one connection of the difference

    def as_dict(self) -> dict[str, Any]:
        found = {k: v for k, v in self.__dict__.items() if k not in ("why", "example")}
        if self.example is not None:
            found["example"] = f"{self.example.src} -> {self.example.dst} {self.example.what}"
        return {**found, "why": list(self.why)}


@dataclass
class Side:
    """One target to compare with the spec."""

    name: str
    title: str
    reach: Reachability
    explain: Callable[[Probe], Verdict]
    capabilities: Capabilities


@dataclass(frozen=True)
class _Pair:
    src: Point
    dst: Point
    families: tuple[int, ...]
    source: str
    destination: str


def network_pairs(roles: list[str], networks: list[str], families: tuple[int, ...]) -> Iterator[_Pair]:
    """Each role to and from the machines of each network without addresses (known by name, not address)."""
    for name in networks:
        machines = Point(label=name, network=name)
        for role in roles:
            yield _Pair(Point(role=role), machines, families, role, name)
            yield _Pair(machines, Point(role=role), families, name, role)


def addressless(topology: Topology) -> list[str]:
    """The spec's networks without addresses (machines a target names otherwise), by name."""
    return sorted(name for name, net in topology.networks.items() if not net.cidrs)


def _union(reach: Reachability, pair: _Pair, platform: bool = False) -> Space:
    found = Space()
    for family in pair.families:
        answer = reach.platform if platform else reach.space
        found |= answer(pair.src, pair.dst, family)
    return found


class Cuts(Protocol):
    """What Comparison needs of a judge (a Reachability has it): the blocks it tells apart."""

    def networks(self) -> Iterable[IPNetwork]: ...


class Comparison:
    """The endpoint pairs on which two judges (the spec and a target, or two sides of a change) are compared:
    every pair of roles that either judge may let meet, and each role to and from each run of cells that both
    judges treat alike for it. Both judges are Reachabilities; what they offer beyond the protocol,
    roles_between and networks_between, makes the comparison grow with the rules and flows instead of with
    roles x roles and roles x cells (a judge without them is asked about every pair and every cell)."""

    def __init__(self, cells: list[Cell], families: tuple[int, ...], judges: Sequence[Cuts]):
        self.cells = cells
        self.judges = judges
        self.starts = [(c.family, c.lo) for c in cells]  # in order: cut() sorts each family's cells
        self.family_starts = [bisect.bisect_left(self.starts, (family, 0)) for family in families]
        self.families = families
        self.peers: dict[tuple[int, str, bool], set[str] | None] = {}  # (judge, role, outgoing): roles_between

    def pairs(self, roles: list[str], networks: Sequence[str] = ()) -> Iterator[tuple[_Pair, list[Cell]]]:
        """Role to role, role to and from each network without addresses (`networks`: a foreign group's machines),
        then role to and from each run of cells; with the cells a pair stands for (none for the others). The pair
        of a run is its first cell's."""
        for a in roles:
            for b in roles:
                if self._may_meet(a, b):
                    yield _Pair(Point(role=a), Point(role=b), self.families, a, b), []
        yield from ((pair, []) for pair in network_pairs(roles, list(networks), self.families))
        for role in roles:
            for first, end in self._alike(role, outgoing=True):
                cell = self.cells[first]
                yield _Pair(Point(role=role), cell.point, (cell.family,), role, ""), self.cells[first:end]
            for first, end in self._alike(role, outgoing=False):
                cell = self.cells[first]
                yield _Pair(cell.point, Point(role=role), (cell.family,), "", role), self.cells[first:end]

    def _may_meet(self, source: str, destination: str) -> bool:
        """Whether some judge may let `source` reach `destination`: a pair no judge lets meet is empty for both,
        so it cannot differ (with thousands of roles, most pairs of roles are such pairs)."""
        for number, judge in enumerate(self.judges):
            between = getattr(judge, "roles_between", None)  # a judge without it: any pair may meet
            if between is None:
                return True
            for role, outgoing in ((source, True), (destination, False)):
                if (number, role, outgoing) not in self.peers:
                    self.peers[(number, role, outgoing)] = between(role, outgoing)
            reached, reaching = self.peers[(number, source, True)], self.peers[(number, destination, False)]
            if (reached is None or destination in reached) and (reaching is None or source in reaching):
                return True
        return False

    def _alike(self, role: str, outgoing: bool) -> list[tuple[int, int]]:
        """The runs [first, end) of the cells between which no judge tells addresses apart from or to `role`:
        only the blocks its own flows and rules name cut the address space for it, so each run is judged once
        (at its first cell) instead of each of the cells every role and rule cut."""
        cuts = {0, len(self.cells), *self.family_starts}
        for judge in self.judges:
            between = getattr(judge, "networks_between", None)  # a judge without it: every block it names
            for block in between(role, outgoing) if between else judge.networks():
                for edge in (int(block.network_address), int(block.broadcast_address) + 1):
                    cuts.add(bisect.bisect_left(self.starts, (block.version, edge)))
        ordered = sorted(cuts)
        return list(zip(ordered, ordered[1:], strict=False))


@dataclass(frozen=True)
class _Gap:
    wanted: Space = field(compare=False)  # what the spec allows (cells that differ alike merge whatever it is)
    missing: Space  # the spec allows, the target does not
    extra: Space  # the target allows, the spec does not, and nothing known explains it
    limited: Space  # the target allows more because it cannot express the spec exactly (its capabilities)
    platform: Space  # the target's platform allows it whatever the rules say


class Verifier:
    """Compares one target's reachability with the spec's, pair by pair and cell by cell."""

    def __init__(self, topology: Topology, side: Side, intent: Intent, wide: Intent):
        self.topology = topology
        self.side = side
        self.intent = intent
        caps = side.capabilities
        self.lacks = [k for k in LIMITATION_TEXT if not getattr(caps, k)]
        self.wide = wide if self.lacks else None  # the spec at the ICMP granularity the target can express
        # a side whose machines cannot use a family at all (an AWS VPC without IPv6) is compared over the others
        self.families: tuple[int, ...] = getattr(side.reach, "families", (4, 6))
        cells = cut(topology, [*self.intent.networks(), *side.reach.networks()])
        self.cells = [c for c in cells if c.family in self.families]
        self.compared = Comparison(self.cells, self.families, [self.intent, side.reach])

    def _gap(self, pair: _Pair) -> _Gap | None:
        want, got = _union(self.intent, pair), _union(self.side.reach, pair)
        if want == got:
            return None
        extra = got - want
        platform = extra & _union(self.side.reach, pair, platform=True)
        limited = (extra - platform) & (_union(self.wide, pair) - want) if self.wide is not None else Space()
        return _Gap(want, want - got, extra - platform - limited, limited, platform)

    def differences(self) -> list[Difference]:
        """Every difference; neighbouring cells with the same difference to one role are reported together."""
        found: list[Difference] = []
        held: tuple[_Pair, _Gap, list[Cell]] | None = None
        for pair, cells in self.compared.pairs(sorted(self.topology.roles), addressless(self.topology)):
            gap = self._gap(pair)
            if held and gap == held[1] and cells and held[2] and _adjacent(held, pair, cells[0]):
                held[2].extend(cells)
                continue
            if held:
                found += self._report(*held)
            held = (pair, gap, list(cells)) if gap else None
        if held:
            found += self._report(*held)
        return found

    def _report(self, pair: _Pair, gap: _Gap, cells: list[Cell]) -> list[Difference]:
        source, destination = pair.source, pair.destination
        if cells:
            networks = tuple(sorted({n for c in cells for n in c.names}))
            where = span_text(cells[0].family, cells[0].lo, cells[-1].hi, networks)
            source, destination = source or where, destination or where
        side = self.side
        parts = ((gap.missing, "spec"), (gap.extra, side.name), (gap.limited, side.name), (gap.platform, side.name))
        return [
            Difference(side.name, source, destination, what, by, self._why(example), known, example)
            for space, by in parts
            for axis, span, what in _pieces(space, pair)
            for known, example in [(self._known(gap, space, axis), _example(pair, axis, span))]
        ]

    def _known(self, gap: _Gap, space: Space, axis: str) -> str:
        """Why the target allows more than the spec there, when that is a known limitation ("" when not)."""
        if space is gap.platform:
            return self.side.reach.platform_text
        if space is not gap.limited:
            return ""
        family_blind = "icmp_families" in self.lacks and not gap.wanted.axis(axis)
        lacking = "icmp_families" if family_blind or "icmp_types" not in self.lacks else "icmp_types"
        return LIMITATION_TEXT[lacking].format(title=self.side.title)

    def _why(self, probe: Probe) -> tuple[str, ...]:
        found = []
        verdicts = (("spec", explain_intent(self.topology, probe)), (self.side.name, self.side.explain(probe)))
        for who, verdict in verdicts:
            for reason in verdict.reasons:
                if reason.admits == verdict.allowed:
                    ref = f" [{reason.ref}]" if reason.ref and reason.ref not in reason.text else ""
                    found.append(f"{who}: {reason.text}{ref}")
        return tuple(dict.fromkeys(found))


def _example(pair: _Pair, axis: str, span: tuple[int, int]) -> Probe:
    protocol, port = probe_for(axis, span[0])
    return Probe(pair.src, pair.dst, protocol, port)


def _pieces(space: Space, pair: _Pair) -> list[tuple[str, tuple[int, int], str]]:
    """The space in readable pieces; one piece, "all traffic", when it is everything the pair can carry."""
    full = Space()
    for family in pair.families:
        full |= family_mask(family)
    found = [piece for axis, spans in space.axes for piece in _axis_pieces(axis, spans)]
    rest = [describe(axis, span) for axis, span in (full - space).pieces()]
    if len(rest) + 1 < len(found):
        axis, span, _ = found[0]
        return [(axis, span, f"all traffic except {', '.join(rest)}" if rest else "all traffic")]
    return found


def _axis_pieces(axis: str, spans: tuple[tuple[int, int], ...]) -> list[tuple[str, tuple[int, int], str]]:
    """One axis in readable pieces; "icmp except icmp/8 (every code)" when that is shorter."""
    gaps = (Space.everything().only(axis) - Space.of({axis: spans})).pieces()
    rest = [describe(a, s) for a, s in gaps]
    if len(spans) > 1 and len(rest) == 1:
        return [(axis, spans[0], f"{axis} except {rest[0]}")]
    return [(axis, span, describe(axis, span)) for _, span in Space.of({axis: spans}).pieces()]


def _adjacent(held: tuple[_Pair, object, list[Cell]], pair: _Pair, cell: Cell) -> bool:
    """Whether `cell` continues the run of cells held (with what differs there) for the same role and direction;
    verify and diff both merge such runs into one row."""
    last, before = held[2][-1], held[0]
    same_ends = (before.source, before.destination) == (pair.source, pair.destination)
    return same_ends and last.family == cell.family and last.hi + 1 == cell.lo


@dataclass
class Report:
    targets: list[str]
    cells: int  # address cells compared (both families)
    pairs: int  # endpoint pairs compared per target
    differences: list[Difference]
    notes: list[str]

    def equivalent(self, strict: bool = False) -> bool:
        return not [d for d in self.differences if strict or not d.limitation]

    def as_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "equivalent": self.equivalent(strict),
            "targets": self.targets,
            "cells": self.cells,
            "pairs": self.pairs,
            "differences": [d.as_dict() for d in self.differences],
            "notes": self.notes,
        }


def verify_topology(topology: Topology, sides: list[Side]) -> Report:
    report = Report([s.name for s in sides], 0, 0, [], [])
    intent, wide = Intent(topology), Intent(topology, any_icmp=True)
    for side in sides:
        verifier = Verifier(topology, side, intent, wide)
        report.differences += verifier.differences()
        report.cells = max(report.cells, len(verifier.cells))
        roles = len(topology.roles)
        endpoints = len(verifier.cells) + len(addressless(topology))
        report.pairs = max(report.pairs, roles * roles + 2 * roles * endpoints)
        report.notes += [f"{side.name}: {n}" for n in side.reach.unjudged()]
        # rules that verify can only approximate (e.g. limited to some source ports) are differences, not silence
        inexact: list[tuple[str, str, str, str]] = getattr(side.reach, "inexact", list)()
        report.differences += [Difference(side.name, a, b, what, side.name, (why,)) for a, b, what, why in inexact]
        # rules the spec keeps unmanaged that are gone: what they admitted no longer passes
        for src, dst, traffic, why in getattr(side.reach, "kept_but_gone", list)():
            report.differences.append(Difference(side.name, src, dst, traffic, "spec", (f"{side.name}: {why}",)))
        # rules whose peers are machines no spec names (another group, a prefix list): differences, with the rule
        for src, dst, traffic, why in getattr(side.reach, "unknown_admits", list)():
            report.differences.append(Difference(side.name, src, dst, traffic, side.name, (f"{side.name}: {why}",)))
        if verifier.families != (4, 6):
            shown = " and ".join(f"IPv{f}" for f in verifier.families)
            report.notes.append(
                f"{side.name}: its machines have {shown} addresses only (the network carries no other); "
                f"only {shown} is compared"
            )
    return report
