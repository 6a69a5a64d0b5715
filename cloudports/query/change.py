"""`cloudports diff`: the traffic a change opens and closes, judged by verify's exact model (query/verify.py).

Both sides of a change are seen by one judge at a time: the spec's intent, or one target's rules (compiled, or
read from the live cloud). The address space is cut at the edges of every block either side mentions, so within
a cell both sides answer alike; each (source, destination) pair of roles and cells is then compared as whole
Spaces of traffic, as verify compares a spec with a cloud. A role that one side does not have has no machines
there: it sends and receives nothing on that side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cloudports.query.intent import Intent, explain_intent
from cloudports.query.model import IPNetwork, Probe, Verdict
from cloudports.query.space import Reachability, Space
from cloudports.query.verify import (
    Cell,
    Comparison,
    _adjacent,
    _example,
    _Pair,
    _pieces,
    addressless,
    cut,
    span_text,
)
from cloudports.spec.model import INTERNET, Topology
from cloudports.targets.base import Target


@dataclass
class View:
    """One side of a change, as one judge sees it."""

    topology: Topology
    reach: Reachability
    explain: Callable[[Probe], Verdict]

    @classmethod
    def of_intent(cls, topology: Topology) -> View:
        """The spec's intent: what its flows allow."""
        return cls(topology, Intent(topology), lambda probe: explain_intent(topology, probe))

    @classmethod
    def of_state(cls, topology: Topology, target: Target[Any, Any], state: Any) -> View:
        """A target's rules: a desired state, or one read from the live cloud."""
        return cls(topology, target.reachability(state), lambda probe: target.explain(state, probe))


@dataclass(frozen=True)
class Change:
    """Traffic that one side of the change allows and the other does not."""

    judge: str  # "spec" (the intent) or a target's name
    source: str
    destination: str
    traffic: str  # e.g. "tcp/1433", "all traffic except udp/53"
    opened: bool  # True: NEW allows it and OLD did not
    before: tuple[str, ...] = ()  # why OLD decided as it did
    after: tuple[str, ...] = ()  # why NEW decides as it does
    example: Probe | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "judge": self.judge,
            "change": "opened" if self.opened else "closed",
            "source": self.source,
            "destination": self.destination,
            "traffic": self.traffic,
            "before": list(self.before),
            "after": list(self.after),
        }
        if self.example is not None:
            found["example"] = f"{self.example.src} -> {self.example.dst} {self.example.what}"
        return found


@dataclass(frozen=True)
class _Delta:
    opened: Space
    closed: Space


def _cells(old: View, new: View) -> list[Cell]:
    """The cells of both sides, each named by the networks that contain it: NEW's, else OLD's, else internet."""
    blocks = [*old.reach.networks(), *new.reach.networks()]
    named_new = {(c.family, c.lo): c.names for c in cut(new.topology, blocks)}
    cells = []
    for c in cut(old.topology, blocks):
        new_names = named_new[(c.family, c.lo)]
        names = new_names if new_names and INTERNET not in new_names else (c.names or new_names)
        cells.append(Cell(c.family, c.lo, c.hi, names))
    return cells


class _Present:
    """A side's judge as verify's Comparison asks it, where a role the side does not have meets no one and
    tells no addresses apart (its answers are all empty: see _allowed)."""

    def __init__(self, view: View):
        self.view = view

    def networks(self) -> list[IPNetwork]:
        return list(self.view.reach.networks())

    def roles_between(self, role: str, outgoing: bool) -> set[str] | None:
        between = getattr(self.view.reach, "roles_between", None)  # a judge without it: any role
        if role not in self.view.topology.roles:
            return set()
        return between(role, outgoing) if between else None

    def networks_between(self, role: str, outgoing: bool) -> list[IPNetwork]:
        between = getattr(self.view.reach, "networks_between", None)  # a judge without it: every block it names
        if role not in self.view.topology.roles:
            return []
        return list(between(role, outgoing) if between else self.view.reach.networks())


def _allowed(view: View, pair: _Pair) -> Space:
    """What `view` lets pass for the pair; nothing where a role of the pair does not exist on that side."""
    for end in (pair.src, pair.dst):
        if end.role is not None and end.role not in view.topology.roles:
            return Space()
    found = Space()
    for family in pair.families:
        found |= view.reach.space(pair.src, pair.dst, family)
    return found


class ChangeFinder:
    """Compares the two sides of a change for one judge, pair by pair and cell by cell."""

    def __init__(self, judge: str, old: View, new: View):
        self.judge, self.old, self.new = judge, old, new
        self.cells = _cells(old, new)
        self.roles = sorted(set(old.topology.roles) | set(new.topology.roles))
        self.networks = sorted({*addressless(old.topology), *addressless(new.topology)})
        self.compared = Comparison(self.cells, (4, 6), [_Present(old), _Present(new)])

    def changes(self) -> list[Change]:
        """Every change; neighbouring cells that change alike for one role are reported together."""
        found: list[Change] = []
        held: tuple[_Pair, _Delta, list[Cell]] | None = None
        for pair, cells in self.compared.pairs(self.roles, self.networks):
            delta = self._delta(pair)
            if held and delta == held[1] and cells and held[2] and _adjacent(held, pair, cells[0]):
                held[2].extend(cells)
                continue
            if held:
                found += self._report(*held)
            held = (pair, delta, list(cells)) if delta else None
        if held:
            found += self._report(*held)
        return found

    def _delta(self, pair: _Pair) -> _Delta | None:
        before, after = _allowed(self.old, pair), _allowed(self.new, pair)
        return None if before == after else _Delta(after - before, before - after)

    def _report(self, pair: _Pair, delta: _Delta, cells: list[Cell]) -> list[Change]:
        source, destination = pair.source, pair.destination
        if cells:
            networks = tuple(dict.fromkeys(n for c in cells for n in c.names))
            where = span_text(cells[0].family, cells[0].lo, cells[-1].hi, networks)
            source, destination = source or where, destination or where
        found = [
            Change(self.judge, source, destination, what, opened, *self._why(probe), example=probe)
            for space, opened in ((delta.opened, True), (delta.closed, False))
            for axis, span, what in _pieces(space, pair)
            for probe in [_example(pair, axis, span)]
        ]
        return _together(found)

    def _why(self, probe: Probe) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return _reasons(self.old, probe), _reasons(self.new, probe)


def _reasons(view: View, probe: Probe) -> tuple[str, ...]:
    """The reasons behind the side's decision on the probe (the rules or flows that decide it)."""
    for end in (probe.src, probe.dst):
        if end.role is not None and end.role not in view.topology.roles:
            return (f"no role {end.role} on this side",)
    verdict = view.explain(probe)
    found = []
    for reason in verdict.reasons:
        if reason.admits == verdict.allowed:
            ref = f" [{reason.ref}]" if reason.ref and reason.ref not in reason.text else ""
            found.append(f"{reason.text}{ref}")
    return tuple(dict.fromkeys(found))


def _together(changes: list[Change]) -> list[Change]:
    """One row per direction and deciding reasons: the pieces of traffic that the same rules or flows open (or
    that the same rules or flows no longer open) are joined; the other side's reasons are those of the first piece,
    whose connection is the row's example."""
    rows: dict[tuple[bool, tuple[str, ...]], Change] = {}
    for change in changes:
        key = (change.opened, change.after if change.opened else change.before)
        held = rows.get(key)
        rows[key] = change if held is None else replace(held, traffic=f"{held.traffic}, {change.traffic}")
    return list(rows.values())


def find_changes(judge: str, old: View, new: View) -> list[Change]:
    return ChangeFinder(judge, old, new).changes()
