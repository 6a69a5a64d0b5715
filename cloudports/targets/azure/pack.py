"""Packing: several declared pairs per NSG rule (a greedy packing, measured against a lower bound).

A *pair* is everything one protocol allows from one source to one destination (a role's ASG or a network's
CIDRs) in one direction: the unit cloudports wrote as one NSG rule before packing. An NSG rule is a product,
sources x destinations x ports, so pairs that share their ports can share a rule:

1. pairs with the same role-side ASG and the same ports gather their peers: up to 10 peer ASGs
   (MAX_ASGS_PER_RULE_SIDE), or the CIDRs of several networks (up to 4,000 prefixes, one address family);
2. the rules of step 1 with the same peers and ports gather their role-side ASGs (up to 10).

Each pair lands in exactly one rule. Rules are named (identity.py) after what they are - direction, protocol,
ports and a slot - not after their pairs, and a later build keeps each rule's pairs in it; this packing is what a
first build uses, and what packs the pairs a change leaves without a rule. A pair's label only orders pairs here.
bound.py says how few rules any packing could reach, for the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cloudports.compile import Rule

Endpoint = tuple[str, str]  # ("asg", role) or ("net", network name)

MAX_ASGS_PER_RULE_SIDE = 10
MAX_PREFIXES_PER_SIDE = 4000


@dataclass(frozen=True)
class Pair:
    direction: str  # Inbound or Outbound
    protocol: str  # Tcp, Udp, Icmp or *
    family: int | None  # the network side's address family; None between two ASGs
    ports: tuple[str, ...]
    source: Endpoint
    destination: Endpoint
    prefixes: tuple[str, ...]  # the network side's CIDRs (empty between two ASGs)
    members: tuple[Rule, ...]  # the neutral rules it allows
    # Per port entry, the spec parameters behind it (build._port_params): pairs pack only when these agree too,
    # so that a port Terraform takes from a variable never gets tied to a literal that happens to be equal.
    port_params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    variant: int = 0  # > 0 when CIDRs of one network need different ports (overlapping networks)

    # Derived once, at creation: packing, naming and the bound read them several times per pair (properties
    # recomputed them every time; functools.cached_property takes a lock per read in Python 3.11).
    role_side: Endpoint = field(init=False, compare=False, repr=False)
    peer: Endpoint = field(init=False, compare=False, repr=False)
    label: str = field(init=False, compare=False, repr=False)
    # Sorts by label; the rest only breaks ties between labels that collide (see build._named).
    order: tuple[str, Endpoint, Endpoint, int] = field(init=False, compare=False, repr=False)
    shape: tuple[object, ...] = field(init=False, compare=False, repr=False)  # what pairs sharing a rule share

    def __post_init__(self) -> None:
        inbound = self.direction == "Inbound"
        peer = self.source if inbound else self.destination
        way = "in" if inbound else "out"
        proto = "any" if self.protocol == "*" else self.protocol.lower()
        label = f"{way}-{proto}-{self.source[1]}-to-{self.destination[1]}"
        label += ("-v6" if self.family == 6 else "") + (f"-{self.variant + 1}" if self.variant else "")
        shape = (self.direction, self.protocol, self.family, self.ports, self.port_params, peer[0])
        for name, value in (
            ("role_side", self.destination if inbound else self.source),
            ("peer", peer),
            ("label", label),
            ("order", (label, self.source, self.destination, self.family or 0)),
            ("shape", shape),
        ):
            object.__setattr__(self, name, value)

    @property
    def identity(self) -> str:
        return f"{self.direction}|{self.protocol}|{self.source}|{self.destination}|{self.family}|{self.ports}"


@dataclass(frozen=True)
class Packed:
    """One NSG rule: the pairs it allows, sorted, the first one naming it."""

    pairs: tuple[Pair, ...]

    @property
    def first(self) -> Pair:
        return self.pairs[0]

    def side(self, side: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(ASG role names, CIDRs) on the source or destination side."""
        ends = {getattr(p, side) for p in self.pairs}
        asgs = tuple(sorted(name for kind, name in ends if kind == "asg"))
        if asgs:
            return asgs, ()
        return (), tuple(sorted({c for p in self.pairs if getattr(p, side)[0] == "net" for c in p.prefixes}))

    @property
    def members(self) -> list[Rule]:
        return [r for p in self.pairs for r in p.members]


def pack(pairs: Iterable[Pair]) -> list[Packed]:
    """Pairs -> NSG rules (see the module's docstring), in a deterministic order."""
    # 1. one role side, its peers gathered
    by_role_side: dict[tuple[object, ...], list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_role_side[(pair.shape, pair.role_side)].append(pair)
    step1 = [chunk for group in by_role_side.values() for chunk in _chunks(group, lambda p: p.peer)]
    # 2. one set of peers, the role sides gathered
    by_peers: dict[tuple[object, ...], list[tuple[Pair, ...]]] = defaultdict(list)
    for chunk in step1:
        peers = chunk[0].peer if len(chunk) == 1 else frozenset(p.peer for p in chunk)
        by_peers[(chunk[0].shape, peers)].append(chunk)
    rules = [
        Packed(
            chunks[0]
            if len(chunks) == len(chunks[0]) == 1
            else tuple(sorted((p for c in chunks for p in c), key=_order))
        )
        for group in by_peers.values()
        for chunks in _chunks_of_chunks(group)
    ]
    return sorted(rules, key=lambda r: r.first.order)


def _order(pair: Pair) -> tuple[str, Endpoint, Endpoint, int]:
    return pair.order


def _chunks(pairs: list[Pair], key: Callable[[Pair], Endpoint]) -> Iterator[tuple[Pair, ...]]:
    """Pairs sorted by `key`, cut so that no rule side exceeds Azure's limits: 10 ASGs, 4,000 prefixes."""
    chunk: list[Pair] = []
    size = 0
    for pair in pairs if len(pairs) == 1 else sorted(pairs, key=lambda p: (key(p), p.variant)):
        weight = len(pair.prefixes) if key(pair)[0] == "net" else 1
        limit = MAX_PREFIXES_PER_SIDE if key(pair)[0] == "net" else MAX_ASGS_PER_RULE_SIDE
        if key(pair)[0] == "net" and pair.family is None:
            # a service tag (its pair has no address family): Azure takes a tag as a rule side's only prefix,
            # never inside a list (SecurityRuleParameterContainsUnsupportedValue), so it fills its chunk alone
            weight = limit
        if chunk and size + weight > limit:
            yield tuple(chunk)
            chunk, size = [], 0
        chunk.append(pair)
        size += weight
    if chunk:
        yield tuple(chunk)


def _chunks_of_chunks(chunks: list[tuple[Pair, ...]]) -> Iterator[list[tuple[Pair, ...]]]:
    """Step-1 rules with the same peers, at most 10 role-side ASGs per rule."""
    ordered = chunks if len(chunks) == 1 else sorted(chunks, key=lambda c: c[0].role_side)
    for start in range(0, len(ordered), MAX_ASGS_PER_RULE_SIDE):
        yield ordered[start : start + MAX_ASGS_PER_RULE_SIDE]
