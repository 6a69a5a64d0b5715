"""Sets of traffic kinds — protocols with port, ICMP type/code or IP-protocol ranges — as exact interval sets.

`verify` compares what the spec and each cloud allow between two endpoints as whole sets rather than probe by
probe, so every port is covered at the cost of a few interval operations. A Space has five axes:

* ``tcp``, ``udp``: destination ports 0..65535;
* ``icmp``, ``icmpv6``: type * 256 + code (0..65535), so "type 8, any code" is one interval;
* ``ip``: every other IP protocol by number (1, 6, 17 and 58 live on the axes above, never here).

A probe of protocol ``all`` (see query.model.Probe) stands for "some other IP protocol": a Space holds it only
if it holds every other protocol, as only an all-protocol rule does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from cloudports.query.model import IPNetwork, Point, Probe

Span = tuple[int, int]  # inclusive
Spans = tuple[Span, ...]
AXES = ("tcp", "udp", "icmp", "icmpv6", "ip")
_PORTS: Spans = ((0, 65535),)
OTHER_PROTOCOLS: Spans = ((0, 0), (2, 5), (7, 16), (18, 57), (59, 255))
_FULL_AXIS: dict[str, Spans] = {"tcp": _PORTS, "udp": _PORTS, "icmp": _PORTS, "icmpv6": _PORTS, "ip": OTHER_PROTOCOLS}
_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}


def _merge(spans: Iterable[Span]) -> Spans:
    merged: list[Span] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


# _intersect and _subtract walk both sorted lists once (verify calls them hundreds of thousands of times)
def _intersect(a: Spans, b: Spans) -> Spans:
    found: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        (alo, ahi), (blo, bhi) = a[i], b[j]
        lo, hi = alo if alo > blo else blo, ahi if ahi < bhi else bhi
        if lo <= hi:
            found.append((lo, hi))
        if ahi < bhi:
            i += 1
        else:
            j += 1
    return tuple(found)


def _subtract(a: Spans, b: Spans) -> Spans:
    found: list[Span] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1  # b's spans wholly below this one (and so below every later one)
        k = j
        while k < len(b) and b[k][0] <= hi:
            blo, bhi = b[k]
            if blo > lo:
                found.append((lo, blo - 1))
            lo = bhi + 1 if bhi + 1 > lo else lo
            k += 1
        if lo <= hi:
            found.append((lo, hi))
    return tuple(found)


@dataclass(frozen=True)
class Space:
    """An exact set of traffic kinds; immutable, hashable, compared by content."""

    axes: tuple[tuple[str, Spans], ...] = ()  # non-empty axes only, in AXES order

    @classmethod
    def of(cls, parts: Mapping[str, Iterable[Span]]) -> Space:
        found = {axis: _intersect(_merge(parts[axis]), _FULL_AXIS[axis]) for axis in AXES if axis in parts}
        return cls(tuple((axis, spans) for axis, spans in found.items() if spans))

    @classmethod
    def everything(cls) -> Space:
        return _EVERYTHING

    @classmethod
    def ports(cls, protocol: str, lo: int, hi: int) -> Space:
        """tcp/udp ports lo..hi."""
        if protocol in ("tcp", "udp") and 0 <= lo <= hi <= 65535:
            return cls(((protocol, ((lo, hi),)),))  # already one merged span within its axis: what of() makes
        return cls.of({protocol: [(lo, hi)]})

    @classmethod
    def icmp(cls, protocol: str, kind: int = -1, code: int = -1) -> Space:
        """icmp/icmpv6 of one type and code; -1 for any."""
        if kind < 0:
            return cls.of({protocol: _PORTS})
        lo, hi = (code, code) if code >= 0 else (0, 255)
        return cls.of({protocol: [(kind * 256 + lo, kind * 256 + hi)]})

    @classmethod
    def protocol_number(cls, number: int) -> Space:
        """One IP protocol by number (6, 17, 1, 58 mean the whole tcp, udp, icmp, icmpv6 axis)."""
        for axis, known in _NUMBERS.items():
            if number == known:
                return cls.of({axis: _FULL_AXIS[axis]})
        return cls.of({"ip": [(number, number)]})

    @classmethod
    def union(cls, spaces: Iterable[Space]) -> Space:
        """All of them at once (one merge per axis instead of one per space)."""
        parts: dict[str, list[Span]] = {}
        for space in spaces:
            for axis, spans in space.axes:
                parts.setdefault(axis, []).extend(spans)
        # the parts are a Space's already (within their axis): merging them is all that is left
        return cls(tuple((axis, _merge(parts[axis])) for axis in AXES if axis in parts))

    def axis(self, name: str) -> Spans:
        return dict(self.axes).get(name, ())

    def _combine(self, other: Space, how: str) -> Space:
        # Both are merged, within their axes: so are the intersection and the difference of two of them, and
        # the union needs only merging (verify combines Spaces millions of times; Space.of would check it all).
        mine, theirs = dict(self.axes), dict(other.axes)
        found = []
        for axis in AXES:
            a, b = mine.get(axis, ()), theirs.get(axis, ())
            if how == "or":
                spans = _merge(a + b) if a and b else a or b
            elif how == "and":
                spans = _intersect(a, b) if a and b else ()
            else:
                spans = _subtract(a, b) if a and b else a
            if spans:
                found.append((axis, spans))
        return Space(tuple(found))

    # The short cuts below answer the common cases (nothing, everything) without reading the axes; each answer is
    # a Space of its own, as _combine's are (verify tells its Spaces apart by identity).
    def __or__(self, other: Space) -> Space:
        if not self.axes or not other.axes:
            return Space(self.axes or other.axes)
        return self._combine(other, "or")

    def __and__(self, other: Space) -> Space:
        if not self.axes or not other.axes:
            return Space()
        # everything, or a family's mask: each axis it has is whole, so the other's on those axes
        if id(other.axes) in _WHOLE_AXES:
            return self.only(*_WHOLE_AXES[id(other.axes)])
        if id(self.axes) in _WHOLE_AXES:
            return other.only(*_WHOLE_AXES[id(self.axes)])
        return self._combine(other, "and")

    def __sub__(self, other: Space) -> Space:
        if not self.axes or not other.axes:
            return Space(self.axes)
        return self._combine(other, "minus")

    def __bool__(self) -> bool:
        return bool(self.axes)

    def only(self, *axes: str) -> Space:
        return Space(tuple((a, s) for a, s in self.axes if a in axes))

    def without(self, *axes: str) -> Space:
        return Space(tuple((a, s) for a, s in self.axes if a not in axes))

    def contains(self, probe: Probe) -> bool:
        point = probe_point(probe)
        if point is None:
            return _subtract(OTHER_PROTOCOLS, self.axis("ip")) == ()
        axis, value = point
        return any(lo <= value <= hi for lo, hi in self.axis(axis))

    def pieces(self) -> Iterator[tuple[str, Span]]:
        """Each interval of each axis; every other IP protocol at once as ("ip", (0, 255))."""
        for axis, spans in self.axes:
            if axis == "ip" and spans == OTHER_PROTOCOLS:
                yield axis, (0, 255)
                continue
            yield from ((axis, span) for span in spans)


_EVERYTHING = Space.of(dict(_FULL_AXIS))
_FAMILY_MASKS = {4: _EVERYTHING.without("icmpv6"), 6: _EVERYTHING.without("icmp")}
# by the identity of their axes (they live as long as the module, so no other tuple takes their id)
_WHOLE_AXES = {id(s.axes): tuple(a for a, _ in s.axes) for s in (_EVERYTHING, *_FAMILY_MASKS.values())}


def probe_point(probe: Probe) -> tuple[str, int] | None:
    """Where a probe lies in a Space (None: "some other IP protocol", see the module docstring)."""
    port = probe.port
    if probe.protocol in ("tcp", "udp") and isinstance(port, int):
        return probe.protocol, port
    if probe.protocol in ("icmp", "icmpv6") and isinstance(port, tuple):
        return probe.protocol, port[0] * 256 + port[1]
    if probe.protocol in ("tcp", "udp", "icmp", "icmpv6"):
        return probe.protocol, 0
    return None


def family_mask(family: int) -> Space:
    """What a packet of one address family can be: no ICMPv6 over IPv4, no ICMP over IPv6."""
    return _FAMILY_MASKS[family]


def describe(axis: str, span: Span) -> str:
    """One piece for people: tcp/1433, udp/49152-65535, icmp/8 (every code), every other IP protocol."""
    lo, hi = span
    if span == _PORTS[0]:
        return f"{axis} (every {'port' if axis in ('tcp', 'udp') else 'type'})"
    if axis in ("tcp", "udp"):
        return f"{axis}/{lo}" if lo == hi else f"{axis}/{lo}-{hi}"
    if axis == "ip":
        if span == (0, 255):
            return "every other IP protocol"
        return f"IP protocol {lo}" if lo == hi else f"IP protocols {lo}-{hi}"
    (tlo, clo), (thi, chi) = divmod(lo, 256), divmod(hi, 256)
    if clo == 0 and chi == 255:
        return f"{axis}/{tlo} (every code)" if tlo == thi else f"{axis} types {tlo}-{thi}"
    return f"{axis}/{tlo}:{clo}" if lo == hi else f"{axis}/{tlo}:{clo}-{thi}:{chi}"


def probe_for(axis: str, value: int) -> tuple[str, int | tuple[int, int] | None]:
    """The probe protocol and port for one point of a Space."""
    if axis in ("tcp", "udp"):
        return axis, value
    if axis in ("icmp", "icmpv6"):
        return axis, divmod(value, 256)
    return "all", None


class Reachability(Protocol):
    """One side of a verify: what it allows between two endpoints, as a Space (a target's rules, or the spec)."""

    def space(self, src: Point, dst: Point, family: int) -> Space:
        """What may pass from src to dst over one address family (family_mask applied)."""
        ...

    platform_text: str  # why platform() lets traffic through ("" when it never does)

    def platform(self, src: Point, dst: Point, family: int) -> Space:
        """The part of space() that the cloud's platform admits whatever the rules say."""
        ...

    def unjudged(self) -> list[str]:
        """Rules whose peers lie outside what verify models (another account's group, a prefix list, ...)."""
        ...

    def networks(self) -> Iterable[IPNetwork]:
        """Every address block this side's rules tell apart (verify cuts the address space at their edges)."""
        ...
