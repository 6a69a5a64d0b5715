"""How few NSG rules any packing could reach: the lower bound reported beside the count (pack.py packs).

An NSG rule, as cloudports writes it, has one direction and one protocol and allows a product: its sources x its
destinations x its ports, a side being ASGs or prefixes of one address family. A port that a spec parameter gives
is written as that parameter, so a rule's port entry is a parameter or a literal, never both. A rule must allow
only declared traffic, and a *pair* (pack.py) holds every port its protocol allows between its two endpoints.

No rule spans two groups (direction, protocol, kind of peer, address family); per group the bound is the larger of:

* capacity: a rule between two ASG sides covers at most 10 x 10 ASG pairs, and a rule with a network side has
  at most 10 ASGs on its role side;
* a fooling set: *units* no two of which can share a rule, so that each needs a rule of its own. A unit is a
  source, a destination and a class of ports (ports that every pair of the group has all or none of, from the
  same origin): one thing the NSG must allow. Two units (s1, d1, p1) and (s2, d2, p2) in one rule make it allow
  all eight combinations s x d x p, so they can share only if every combination is declared. This counts rules
  that carry only part of a pair's ports as well (a rule's ports need not be a pair's). The set is found
  greedily (fewest possible sharers first): the bound is sound, not always the largest such set.

A network end is one address of the network (its *witness*, in as few other networks as may be), and what is
declared to or from it is what every network holding that address declares: where networks overlap, a rule may
lean on one network's ports for another's addresses, and the units still hold. (A network's addresses are
allowed by rules naming prefixes; an ASG rule allows the role's machines, whatever their addresses.) Service tags
have no known addresses, so a spec with one counts no network units (capacity only, for its network rules). A
group too large to compare its units in 100,000 steps falls back to ASG pairs no two of which
have a port in common (a network group to its capacity).
tests/test_azure_pack.py checks the bound against the fewest rules found by search, on small instances.
"""

from __future__ import annotations

import heapq
import ipaddress
from bisect import bisect_left, bisect_right, insort
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import cache
from math import ceil

from cloudports.targets.azure.pack import MAX_ASGS_PER_RULE_SIDE, Endpoint, Pair

Token = tuple[int, tuple[str, ...]]  # a class of ports and their origin (build._port_params: parameters, "" literal)
Member = tuple[int, tuple[str, ...]]  # a pair (by index) and the origin of one of its port entries
ClassOf = dict[frozenset[Member], int]  # ports held by exactly these members -> the class's number
Cells = dict[tuple[Endpoint, Endpoint], set[Token]]  # (source, destination) -> what is declared between them

# Comparing units costs, per unit, (sources declaring its ports to its destination) x (destinations declaring them
# from its source); past this many steps in one group the bound compares whole pairs instead (see above).
UNIT_STEPS = 100_000  # about 0.1 s of CPU at most, per group


def lower_bound(pairs: Iterable[Pair]) -> int:
    """How few allow rules any packing of the pairs needs (the structural denies not counted)."""
    groups: dict[tuple[str, str, str, int | None], list[Pair]] = defaultdict(list)
    for pair in pairs:
        groups[(pair.direction, pair.protocol, pair.peer[0], pair.family)].append(pair)
    tagged = any("/" not in c for ps in groups.values() for p in ps for c in p.prefixes)  # a service tag
    return sum(
        max(_capacity(ps), 0 if tagged and kind == "net" else _fooling(ps)) for (_, _, kind, _), ps in groups.items()
    )


def _fooling(pairs: list[Pair]) -> int:
    """The size of a set of units no two of which can share a rule (see the module's docstring)."""
    pairs = sorted(pairs, key=lambda p: p.order)  # the greedy's ties: the same whatever the spec's order
    tokens = _tokens(pairs)
    cells = _net_cells(pairs, tokens) if pairs[0].peer[0] == "net" else _pair_cells(pairs, tokens)
    # A unit shares a rule only with units whose ends declare its ports too, and no two units of the same ends
    # are in the set. Ends that declare a port no other ends declare (most of a large spec's) hold a unit that
    # shares with nothing else: they count once, and their units need no comparing.
    held = Counter(token for declared in cells.values() for token in declared)
    alone = {ends for ends, declared in cells.items() if any(held[token] == 1 for token in declared)}
    units = [(ends, token) for ends, declared in cells.items() if ends not in alone for token in sorted(declared)]
    sharing = _sharing(cells, units, held)
    if sharing is None:  # too many to compare: pairs apart, which hold only where a pair is all its ends declare
        return _port_disjoint(pairs) if pairs[0].peer[0] == "asg" else 0
    return len(alone) + _independent(sharing)


def _sharing(
    cells: Cells, units: list[tuple[tuple[Endpoint, Endpoint], Token]], held: Counter[Token]
) -> list[set[int]] | None:
    """Per unit, the units that could share a rule with it: (s1, d1, t1) and (s2, d2, t2) where all four ends
    (s1 or s2 to d1 or d2) declare both tokens (a symmetric relation, which _independent relies on). None past
    UNIT_STEPS."""
    sources: dict[tuple[Token, Endpoint], list[Endpoint]] = defaultdict(list)  # ends declaring it to an end
    destinations: dict[tuple[Token, Endpoint], list[Endpoint]] = defaultdict(list)
    for (source, destination), declared in cells.items():
        for token in declared:
            if held[token] > 1:
                sources[(token, destination)].append(source)
                destinations[(token, source)].append(destination)
    if sum(len(sources[(t, d)]) * len(destinations[(t, s)]) for (s, d), t in units) > UNIT_STEPS:
        return None
    number = {unit: n for n, unit in enumerate(units)}
    sharing: list[set[int]] = [set() for _ in units]
    for n, ((s1, d1), token) in enumerate(units):
        for s2 in sources[(token, d1)]:
            beside = cells[(s1, d1)] & cells[(s2, d1)]
            for d2 in destinations[(token, s1)]:
                far = cells.get((s2, d2))
                if far is None or token not in far:
                    continue
                for other in beside & far & cells[(s1, d2)]:
                    m = number.get(((s2, d2), other))  # None: ends that count once (alone)
                    if m is not None and m != n:
                        sharing[n].add(m)
    return sharing


def _pair_cells(pairs: list[Pair], tokens: list[set[Token]]) -> Cells:
    """(source, destination) -> what its pairs declare: where each end is all its addresses declare from."""
    cells: Cells = {}
    for pair, declared in zip(pairs, tokens, strict=True):
        ends = (pair.source, pair.destination)
        cells[ends] = cells[ends] | declared if ends in cells else declared
    return cells


def _net_cells(pairs: list[Pair], tokens: list[set[Token]]) -> Cells:
    """(source, destination) -> what is declared between a network's witness and a role (module's docstring)."""
    if _apart(pairs):  # each network's addresses are its own: its pairs are all that is declared from them
        return _pair_cells(pairs, tokens)
    bits = 32 if pairs[0].family == 4 else 128
    holders: dict[tuple[int, int], list[int]] = defaultdict(list)  # (prefix length, first address) -> pairs
    for i, pair in enumerate(pairs):
        for cidr in pair.prefixes:
            lo, _hi, length = _cidr(cidr)
            holders[(length, lo)].append(i)
    lengths = sorted({length for length, _lo in holders})
    cells: Cells = {}
    for name, witness in _witnesses(pairs).items():
        peer: Endpoint = ("net", name)
        for length in lengths:
            for i in holders.get((length, witness >> (bits - length) << (bits - length)), ()):
                pair = pairs[i]
                ends = (peer, pair.role_side) if pair.direction == "Inbound" else (pair.role_side, peer)
                cells.setdefault(ends, set()).update(tokens[i])
    return cells


def _witnesses(pairs: list[Pair]) -> dict[str, int]:
    """Per network, one of its addresses inside as few smaller CIDRs of the group as may be: the first address
    of one of its CIDRs that no smaller CIDR holds (or the CIDR's first address, if smaller ones cover it)."""
    prefixes: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        prefixes[pair.peer[1]].update(pair.prefixes)
    spans = sorted({_cidr(c)[:2] for cidrs in prefixes.values() for c in cidrs})
    starts = [lo for lo, _hi in spans]
    found: dict[str, int] = {}
    for name, cidrs in prefixes.items():
        for lo, hi, _length in sorted(map(_cidr, cidrs)):
            point = lo
            for inner_lo, inner_hi in spans[bisect_left(starts, lo) : bisect_right(starts, hi)]:
                if (inner_lo, inner_hi) != (lo, hi) and inner_lo <= point:
                    point = max(point, inner_hi + 1)
            if point <= hi:
                found[name] = point
                break
            found.setdefault(name, lo)
    return found


def _apart(pairs: list[Pair]) -> bool:
    """Whether no two CIDRs of the pairs overlap, nor does a CIDR belong to two networks."""
    owner: dict[str, str] = {}
    for p in pairs:
        for cidr in p.prefixes:
            if owner.setdefault(cidr, p.peer[1]) != p.peer[1]:
                return False
    spans = sorted(_cidr(c)[:2] for c in owner)
    return all(hi < lo for (_lo, hi), (lo, _hi) in zip(spans, spans[1:], strict=False))


@cache  # parsed once per CIDR, not once per NSG of a split spec
def _cidr(cidr: str) -> tuple[int, int, int]:
    """A CIDR's first and last addresses as integers, and its prefix length."""
    net = ipaddress.ip_network(cidr, strict=False)
    return int(net.network_address), int(net.broadcast_address), net.prefixlen


def _tokens(pairs: list[Pair]) -> list[set[Token]]:
    """Each pair's ports as tokens: a class of ports that every pair has all or none of (and from the same
    origin), so that a pair of ports 53, 88 and 389 that always go together is one unit, not three."""
    singles: dict[int, list[Member]] = defaultdict(list)  # single ports: most of them, and cheap to class
    ranged: list[tuple[int, int, Member]] = []
    for i, pair in enumerate(pairs):
        for entry, origin in pair.port_params or [(e, ()) for e in pair.ports]:
            if entry.isdigit():
                singles[int(entry)].append((i, origin))
            else:
                ranged.append((*_span(entry), (i, origin)))
    classes: dict[frozenset[Member], int] = {}
    if ranged:
        _sweep(singles, ranged, classes)
    else:
        for holding in singles.values():
            classes.setdefault(frozenset(holding), len(classes))
    content: list[set[Token]] = [set() for _ in pairs]
    for members, number in classes.items():
        for i, origin in members:
            content[i].add((number, origin))
    return content


def _sweep(singles: dict[int, list[Member]], ranged: list[tuple[int, int, Member]], classes: ClassOf) -> None:
    """The classes of ports where ranges take part: along the ports, the set of entries holding each stretch."""
    starts: dict[int, list[Member]] = defaultdict(list)
    ends: dict[int, list[Member]] = defaultdict(list)
    for port, members in singles.items():
        starts[port] += members
        ends[port + 1] += members
    for lo, hi, member in ranged:
        starts[lo].append(member)
        ends[hi + 1].append(member)
    active: dict[Member, int] = {}  # a count: entries of one pair may overlap
    for point in sorted(starts.keys() | ends.keys()):
        for member in ends.get(point, ()):
            if active[member] == 1:
                del active[member]
            else:
                active[member] -= 1
        for member in starts.get(point, ()):
            active[member] = active.get(member, 0) + 1
        if active:
            classes.setdefault(frozenset(active), len(classes))


def _independent(sharing: list[set[int]]) -> int:
    """A large set of units no two of which share (greedy: the unit that could share with the fewest first)."""
    degree = [len(s) for s in sharing]
    heap = [(d, n) for n, d in enumerate(degree)]
    heapq.heapify(heap)
    gone = [False] * len(sharing)
    taken = 0
    while heap:
        d, n = heapq.heappop(heap)
        if gone[n] or d != degree[n]:
            continue
        taken += 1
        gone[n] = True
        for m in sharing[n]:
            if not gone[m]:
                gone[m] = True
                for k in sharing[m]:
                    if not gone[k]:
                        degree[k] -= 1
                        heapq.heappush(heap, (degree[k], k))
    return taken


def _capacity(pairs: list[Pair]) -> int:
    asg_pairs = {(p.source, p.destination) for p in pairs if p.peer[0] == "asg"}
    role_sides: dict[int | None, set[tuple[str, str]]] = defaultdict(set)
    for p in pairs:
        if p.peer[0] == "net":
            role_sides[p.family].add(p.role_side)
    per_side = MAX_ASGS_PER_RULE_SIDE
    return ceil(len(asg_pairs) / per_side**2) + sum(ceil(len(s) / per_side) for s in role_sides.values())


def _port_disjoint(pairs: list[Pair]) -> int:
    """The size of a set of pairs no two of which share a port (greedy: pairs with the fewest ports first).

    Pairs of single ports come first and only need a set of the ports taken; the few with a range are then
    checked against those ports (sorted) and the intervals taken so far, so the count stays near-linear."""
    points: set[int] = set()
    ranged: list[tuple[tuple[int, int], ...]] = []
    taken = 0
    for spans in sorted((_spans(p.ports) for p in pairs), key=lambda s: (sum(hi - lo for lo, hi in s), s)):
        if any(lo != hi for lo, hi in spans):
            ranged.append(spans)
        elif not any(lo in points for lo, _hi in spans):
            points.update(lo for lo, _hi in spans)
            taken += 1
    singles = sorted(points)
    used: list[tuple[int, int]] = []  # disjoint port intervals of the ranged pairs taken, sorted
    for spans in ranged:
        if not any(_meets(singles, used, lo, hi) for lo, hi in spans):
            for span in spans:
                insort(used, span)
            taken += 1
    return taken


def _spans(ports: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(map(_span, ports)))


def _span(entry: str) -> tuple[int, int]:
    if entry == "*":
        return (0, 65535)
    lo, _, hi = entry.partition("-")
    return (int(lo), int(hi or lo))


def _meets(singles: list[int], used: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """Whether [lo, hi] holds a port of `singles` (sorted) or meets an interval of `used` (sorted, disjoint:
    only the last one starting at or before hi can)."""
    i = bisect_left(singles, lo)
    if i < len(singles) and singles[i] <= hi:
        return True
    j = bisect_right(used, (hi, 65536)) - 1
    return j >= 0 and used[j][1] >= lo
