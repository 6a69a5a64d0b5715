"""How few NSG rules any packing could reach: the lower bound reported beside the count (pack.py packs).

Per direction and protocol (an NSG rule has one of each, as cloudports writes them) the larger of two bounds:

* capacity: a rule between two ASG sides covers at most 10 x 10 ASG pairs, and a rule with a network side has
  at most 10 ASGs on its role side (and one address family);
* pairs apart: two pairs without a port in common can never share a rule. A rule allowing some of each
  would also allow one pair's endpoints on the other pair's port, which is not declared (a pair holds every
  port its protocol allows between its endpoints). Nor can an ASG pair and a network pair, or network pairs
  of two address families. So a set of pairs that are pairwise apart, found greedily, needs a rule each.
  Networks count here only when no two CIDRs of the topology overlap: where they do, one network's addresses
  may be declared on another network's ports, and the argument fails.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from math import ceil

from cloudports.targets.azure.pack import MAX_ASGS_PER_RULE_SIDE, Pair


def lower_bound(pairs: Iterable[Pair]) -> int:
    by_kind: dict[tuple[str, str], list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_kind[(pair.direction, pair.protocol)].append(pair)
    apart = _networks_apart([p for ps in by_kind.values() for p in ps])
    return sum(max(_capacity(ps), _apart(ps, apart)) for ps in by_kind.values())


def _apart(pairs: list[Pair], networks_apart: bool) -> int:
    """Pairs no two of which can share a rule: ASG pairs, IPv4 and IPv6 network pairs never do (a rule side is
    ASGs or prefixes of one family), and within each kind, pairs without a common port."""
    kinds: dict[tuple[str, int | None], list[Pair]] = defaultdict(list)
    for p in pairs:
        if p.peer[0] == "asg" or networks_apart:
            kinds[(p.peer[0], p.family)].append(p)
    return sum(_port_disjoint(ps) for ps in kinds.values())


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
    def span(entry: str) -> tuple[int, int]:
        if entry == "*":
            return (0, 65535)
        lo, _, hi = entry.partition("-")
        return (int(lo), int(hi or lo))

    return tuple(sorted(span(e) for e in ports))


def _meets(singles: list[int], used: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """Whether [lo, hi] holds a port of `singles` (sorted) or meets an interval of `used` (sorted, disjoint:
    only the last one starting at or before hi can)."""
    i = bisect_left(singles, lo)
    if i < len(singles) and singles[i] <= hi:
        return True
    j = bisect_right(used, (hi, 65536)) - 1
    return j >= 0 and used[j][1] >= lo


# Parsed once per CIDR, not once per NSG of a split spec (each NSG's bound asks again).
_network = lru_cache(maxsize=None)(ipaddress.ip_network)


def _networks_apart(pairs: list[Pair]) -> bool:
    """Whether no two CIDRs the pairs name overlap (nor appear in two networks)."""
    owner: dict[str, str] = {}
    if any("/" not in c for p in pairs for c in p.prefixes):
        return False  # a service tag: its addresses are not known here
    for p in pairs:
        for cidr in p.prefixes:
            if owner.setdefault(cidr, p.peer[1]) != p.peer[1]:
                return False
    nets = sorted((_network(c) for c in owner), key=lambda n: (n.version, int(n.network_address)))
    for a, b in zip(nets, nets[1:], strict=False):
        if a.version == b.version and int(b.network_address) <= int(a.broadcast_address):
            return False
    return True
