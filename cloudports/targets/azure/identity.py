"""Stable rule identity: what an NSG rule is called, and which rule keeps which pairs when the spec changes.

A rule is named after what it is: its direction, protocol and ports (``in-tcp-1433``, ``out-udp-53_88_123``,
``in-tcp-443-v6`` for IPv6 networks), plus a slot where several rules share those (``in-tcp-1433-slot2``). Never
after the pairs it carries: pairs come and go, the name (and so its priority and its Terraform key) stays.

Which rule carries which pair is kept from the previous state (the rules live in Azure, or the record emitted
beside the Terraform): every previous rule keeps the pairs it still may carry, and only what is new, or what a
change took out of its rule, is packed afresh (pack.py) and then joins a kept rule where the product stays
exact, or takes the lowest free slot of its name. So, for one flow added or removed:

* a rule all of whose pairs remain declared keeps its name, its priority and its contents (unless a new pair
  joins it);
* only the rules that carried a changed pair, in the old state or the new, are written.

Without a previous state (a first emit, a new lab) the packing is pack.py's, the slots numbered in its order.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from cloudports.targets.azure.model import NsgRule
from cloudports.targets.azure.pack import (
    MAX_ASGS_PER_RULE_SIDE,
    MAX_PREFIXES_PER_SIDE,
    Endpoint,
    Packed,
    Pair,
    pack,
)
from cloudports.targets.text import short_hash

_PORTS_ROOM = 40  # a long port list keeps its head and a hash, so that every name fits Azure's 80 characters
_SLOT = re.compile(r"^(?P<base>.+?)(?:-slot(?P<n>[0-9]+))?$")


def base_name(direction: str, protocol: str, ports: tuple[str, ...], family: int | None) -> str:
    """What a rule is: 'in-tcp-80_443', 'out-any-all', 'in-udp-53-v6' (the rule's peers are IPv6 networks)."""
    way = "in" if direction == "Inbound" else "out"
    proto = "any" if protocol == "*" else protocol.lower()
    label = "all" if ports == ("*",) else "_".join(ports)
    if len(label) > _PORTS_ROOM:
        head = label[: _PORTS_ROOM - 20].rsplit("_", 1)[0]
        label = f"{head}_and{len(ports) - head.count('_') - 1}more-{short_hash(label, 6)}"
    return f"{way}-{proto}-{label}" + ("-v6" if family == 6 else "")


def slot_name(base: str, slot: int) -> str:
    return base if slot == 1 else f"{base}-slot{slot}"


def pair_base(pair: Pair) -> str:
    return base_name(pair.direction, pair.protocol, pair.ports, pair.family)


@dataclass(frozen=True)
class Previous:
    """A rule of the previous state, as far as packing needs it: what it is, and the endpoints on each side."""

    direction: str
    protocol: str
    ports: tuple[str, ...]
    family: int | None
    sources: frozenset[Endpoint]
    destinations: frozenset[Endpoint]

    def slot(self, name: str) -> int | None:
        """The rule's slot if its name is what this module calls such a rule (else an older name: repacked)."""
        found = _SLOT.fullmatch(name)
        base = base_name(self.direction, self.protocol, self.ports, self.family)
        return int(found["n"] or 1) if found and found["base"] == base else None


PreviousRules = Mapping[tuple[str, str], Previous]  # (direction, rule name) -> the rule


def previous_of_rules(rules: Iterable[NsgRule], pairs: Iterable[Pair]) -> dict[tuple[str, str], Previous]:
    """Live rules as Previous: ASGs name their roles; a network is on a side that holds all its CIDRs of the
    rule's address family."""
    rules = list(rules)
    if not rules:
        return {}
    networks: dict[tuple[str, int | None], set[str]] = defaultdict(set)
    for pair in pairs:
        if pair.peer[0] == "net":
            networks[(pair.peer[1], pair.family)].update(pair.prefixes)
    # CIDR -> the networks holding it: a rule's side is checked against the networks that share a CIDR with it,
    # not against every network (rules x networks was most of a large spec's re-emit)
    holders: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    for key, own in networks.items():
        for cidr in own:
            holders[cidr].append(key)
    found: dict[tuple[str, str], Previous] = {}
    for rule in rules:
        if rule.access != "Allow":
            continue
        prefixes = rule.source_prefixes + rule.destination_prefixes
        family = _family(prefixes[0]) if prefixes else None

        def side(asgs: tuple[str, ...], cidrs: tuple[str, ...], family: int | None = family) -> frozenset[Endpoint]:
            held = set(cidrs)
            near = {key for cidr in held for key in holders.get(cidr, ())}
            nets = {("net", n) for n, f in near if f == family and networks[(n, f)] <= held}
            return frozenset({("asg", a) for a in asgs} | nets)

        sources = side(rule.source_asgs, rule.source_prefixes)
        destinations = side(rule.destination_asgs, rule.destination_prefixes)
        found[(rule.direction, rule.name)] = Previous(
            rule.direction, rule.protocol, rule.destination_ports, family, sources, destinations
        )
    return found


@lru_cache(maxsize=4096)  # parsed once per prefix: the rules of a large NSG name the same networks again and again
def _family(prefix: str) -> int | None:
    """A CIDR's address family; None for a service tag."""
    try:
        return ipaddress.ip_network(prefix, strict=False).version
    except ValueError:
        return None


def previous_of_packed(named: Mapping[str, Packed]) -> dict[tuple[str, str], Previous]:
    """This build's rules as Previous (what the Terraform record keeps for the next emit)."""
    return {
        (group.first.direction, name): Previous(
            group.first.direction,
            group.first.protocol,
            group.first.ports,
            group.first.family,
            frozenset(p.source for p in group.pairs),
            frozenset(p.destination for p in group.pairs),
        )
        for name, group in named.items()
    }


def named_packing(pairs: list[Pair], previous: PreviousRules) -> dict[str, Packed]:
    """Pairs -> NSG rules by name: previous rules keep what they still may carry; the rest is packed afresh."""
    kept: dict[str, Packed] = {}
    if previous:
        remaining = {id(p): set(p.ports) for p in pairs}
        kept = _kept(pairs, previous, remaining)
        rest = [_part(p, remaining[id(p)]) for p in pairs if remaining[id(p)]]
        fresh = _joined(kept, pack(rest))
    else:
        fresh = pack(pairs)  # a first build: no previous rule to keep
    rules = dict(kept)
    used: dict[str, set[int]] = defaultdict(set)
    for key, prev in previous.items():
        slot = prev.slot(key[1])
        if key[1] in kept and slot is not None:
            used[base_name(prev.direction, prev.protocol, prev.ports, prev.family)].add(slot)
    for group in fresh:
        base = pair_base(group.first)
        slot = next(n for n in range(1, len(used[base]) + 2) if n not in used[base])
        used[base].add(slot)
        rules[slot_name(base, slot)] = group
    return rules


def _part(pair: Pair, ports: set[str]) -> Pair:
    """The pair with only `ports` (the rest is carried by kept rules)."""
    if ports == set(pair.ports):
        return pair
    entries = tuple(e for e in pair.ports if e in ports)
    members = tuple(r for r in pair.members if _entry(r.from_port, r.to_port) in ports)
    params = tuple((e, ps) for e, ps in pair.port_params if e in ports)
    return replace(pair, ports=entries, members=members, port_params=params)


def _entry(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _kept(pairs: list[Pair], previous: PreviousRules, remaining: dict[int, set[str]]) -> dict[str, Packed]:
    """Each previous rule with the pairs it may still carry: those between its endpoints whose ports include
    the rule's ports (the largest exact product of them, of one shape). First every rule takes the pairs whose
    ports are exactly its own, then the pairs that also have other ports: so a pair stays in the rule that
    carries all of it, even where a rule with fewer ports holds the same CIDRs (two networks of one CIDR)."""
    ours = sorted((key, prev) for key, prev in previous.items() if prev.slot(key[1]) is not None and _valid(prev))
    between = _between(pairs, [prev for _key, prev in ours])
    kept: dict[str, Packed] = {}
    for exact in (True, False):
        for (_direction, name), prev in ours:
            ports = set(prev.ports)
            parts = {
                id(part): (part, p)
                for p in between[id(prev)]
                if (ports == remaining[id(p)] if exact else ports <= remaining[id(p)])
                for part in (_part(p, ports),)
            }
            if not parts:  # nothing new for the rule: what it kept is already its largest product
                continue
            had = list(kept[name].pairs) if name in kept else []
            chosen = _largest_product(had + [part for part, _p in parts.values()])
            if not chosen or len(chosen) < len(had) or not {id(p) for p in had} <= {id(p) for p in chosen}:
                continue
            for part in chosen:
                if id(part) in parts:
                    remaining[id(parts[id(part)][1])] -= ports
            kept[name] = Packed(tuple(sorted(chosen, key=lambda p: p.order)))
    return kept


def _valid(prev: Previous) -> bool:
    """Whether Azure takes the rule: a side holding a service tag holds nothing else (a rule of a record written
    before tags were kept apart would list several; it is packed afresh instead of kept)."""
    return prev.family is not None or all(
        sum(k == "net" for k, _n in side) <= 1 for side in (prev.sources, prev.destinations)
    )


def _between(pairs: list[Pair], rules: list[Previous]) -> dict[int, list[Pair]]:
    """id of each previous rule -> the pairs of its kind between its ends, in the pairs' order. Looked up by
    ends (a rule names at most 10 ASGs a side, or its networks) instead of every pair of the kind read for every
    rule, which grew with rules x pairs."""
    by_ends: dict[tuple[object, ...], list[int]] = defaultdict(list)  # kind and ends -> positions in `pairs`
    for n, p in enumerate(pairs):
        by_ends[(p.direction, p.protocol, p.family, p.source, p.destination)].append(n)
    found: dict[int, list[Pair]] = {}
    for prev in rules:
        kind = (prev.direction, prev.protocol, prev.family)
        ends = (by_ends.get((*kind, s, d), ()) for s in prev.sources for d in prev.destinations)
        found[id(prev)] = [pairs[n] for n in sorted(n for positions in ends for n in positions)]
    return found


def _largest_product(pairs: list[Pair]) -> list[Pair]:
    """The largest set of pairs of one shape that is an exact product (role sides x peers) within the limits."""
    if len(pairs) <= 1:  # none, or one pair (most rules of a large spec carry one): its own product
        return pairs if _fits(pairs) else []
    shape = Counter(p.shape for p in pairs).most_common(1)[0][0]
    same = [p for p in pairs if p.shape == shape]
    peers: dict[Endpoint, set[Endpoint]] = defaultdict(set)
    for p in same:
        peers[p.role_side].add(p.peer)
    best: tuple[int, list[Pair]] = (0, [])
    for wanted in sorted({frozenset(s) for s in peers.values()}, key=sorted):
        sides = {r for r, s in peers.items() if wanted <= s}
        chosen = [p for p in same if p.role_side in sides and p.peer in wanted]
        if len(chosen) > best[0] and _fits(chosen):
            best = (len(chosen), chosen)
    return best[1]


def _fits(pairs: Iterable[Pair]) -> bool:
    """Within Azure's per-rule limits: 10 ASGs a side, 4,000 prefixes."""
    roles, peers, prefixes = set(), set(), 0
    for p in pairs:
        roles.add(p.role_side)
        if p.peer not in peers:
            peers.add(p.peer)
            prefixes += len(p.prefixes)
    asg_peers = any(kind == "asg" for kind, _ in peers)
    return len(roles) <= MAX_ASGS_PER_RULE_SIDE and (
        len(peers) <= MAX_ASGS_PER_RULE_SIDE if asg_peers else prefixes <= MAX_PREFIXES_PER_SIDE
    )


def _joined(kept: dict[str, Packed], fresh: list[Packed]) -> list[Packed]:
    """Fresh rules that can join a kept rule (the same shape, and the same role sides or the same peers, so that
    the rule stays an exact product) join it; the others are returned, to take slots of their own."""
    index: dict[tuple[object, ...], str] = {}
    for name, group in kept.items():
        index.update({_side_key(group, side): name for side in ("role", "peer")})
    alone = []
    for group in fresh:
        for key in (_side_key(group, "role"), _side_key(group, "peer")):
            found = index.get(key)
            # a key is stale once its rule grew on that side
            if (
                found is not None
                and _side_key(kept[found], str(key[1])) == key
                and _fits(kept[found].pairs + group.pairs)
            ):
                kept[found] = Packed(tuple(sorted(kept[found].pairs + group.pairs, key=lambda p: p.order)))
                index.update({_side_key(kept[found], side): found for side in ("role", "peer")})
                break
        else:
            alone.append(group)
    return alone


def _side_key(group: Packed, side: str) -> tuple[object, ...]:
    ends = frozenset(p.role_side if side == "role" else p.peer for p in group.pairs)
    return (group.first.shape, side, ends)
