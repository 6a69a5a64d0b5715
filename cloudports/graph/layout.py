"""Where the interactive page draws each node: networks (and `internet`) in the first column, roles in columns by
how traffic flows, so that most edges run left to right.

Roles that send to most others (a bastion, monitoring) stand in a column of their own next to the networks. The
other columns come from longest-path layering over the flow graph between roles: a role stands one column right of
the furthest role that sends to it. Cycles (two roles that talk both ways) are broken where they must be, at the
role with the fewest senders left (ties by name). An edge that spans several columns gets a waypoint in each column
it crosses (Sugiyama's dummy nodes), so that it runs between the nodes, not through them; the edges from one node on
the same services share them (bundled). Within a column, a few sweeps order the nodes and waypoints by the mean row
of their neighbours (the barycentre heuristic), which removes most crossings. Everything is sorted: same graph,
same picture.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

SWEEPS = 4
BROADCAST_LEAST = 6  # a role sending to at least this many others, and to half of all roles, is a broadcaster
CHAR_WIDTH = 8.0  # px per character of a 14 px label (a generous mean for Helvetica/Arial)
NODE_HEIGHT = 40
MIN_WIDTH = 100
WAYPOINT_HEIGHT = 14  # the room an edge takes where it crosses a column
BADGE_HEIGHT = 18
ROW_GAP = 26
COLUMN_GAP = 150  # room for the edge labels between columns
MARGIN = 40


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def middle(self) -> float:
        return self.y + self.height / 2


def broadcasters(roles: Iterable[str], pairs: Iterable[tuple[str, str]]) -> set[str]:
    """The roles that send to most others (a bastion, a monitoring server): laid out by their fans, everything
    else would be pushed right behind them, so they get a column of their own next to the networks instead."""
    role_set = set(roles)
    reach: dict[str, set[str]] = defaultdict(set)
    for src, dst in pairs:
        if src in role_set and dst in role_set and src != dst:
            reach[src].add(dst)
    least = max(BROADCAST_LEAST, len(role_set) // 2)
    return {role for role, found in reach.items() if len(found) >= least}


def columns(roles: Iterable[str], networks: Iterable[str], pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Networks in column 0, broadcasters (if any) in column 1; each other role one column right of the furthest
    role that sends to it (broadcasters do not count), at least the first column after those."""
    role_set, pairs = set(roles), list(pairs)
    wide = broadcasters(role_set, pairs)
    first = 2 if wide else 1
    senders: dict[str, set[str]] = defaultdict(set)
    for src, dst in pairs:
        if src in role_set and dst in role_set and src != dst and src not in wide:
            senders[dst].add(src)
    column = dict.fromkeys(networks, 0) | dict.fromkeys(wide, 1)
    left = role_set - wide
    while left:
        ready = sorted(r for r in left if not senders[r] & left)
        if not ready:  # a cycle: the role fewest others still wait on goes first, its waiting senders ignored
            ready = [min(left, key=lambda r: (len(senders[r] & left), r))]
        for role in ready:
            column[role] = max((column[s] + 1 for s in senders[role] if s in column and s not in left), default=first)
        left -= set(ready)
    return column


def waypoints(column: dict[str, int], edges: dict[str, tuple[str, str, str]]) -> dict[str, list[str]]:
    """Per edge (id -> source, target, bundle), the waypoints it passes in the columns between its ends, in the
    order it passes them; each waypoint is added to `column`. Edges of one bundle (from one source on the same
    services) share their waypoints: a fan of fifty edges runs as one trunk until it splits. Waypoint names start
    with '~', which no node name does."""
    found = {}
    for edge_id, (src, dst, bundle) in sorted(edges.items()):
        start, end = column[src], column[dst]
        step = 1 if end > start else -1
        crossed = range(start + step, end, step)
        found[edge_id] = [f"~{src}~{bundle}~{step}~{c}" for c in crossed]
        for c, name in zip(crossed, found[edge_id], strict=True):
            column[name] = c
    return found


def order(column: dict[str, int], pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The nodes of each column top to bottom: by name, then barycentre sweeps right and left."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        if a != b and a in column and b in column:
            neighbours[a].add(b)
            neighbours[b].add(a)
    width = max(column.values(), default=0) + 1
    cols = [sorted(n for n, c in column.items() if c == i) for i in range(width)]

    def row(name: str) -> float:  # centred: columns of different heights line up on their middles
        col = cols[column[name]]
        return col.index(name) - (len(col) - 1) / 2

    def resort(i: int, side: int) -> None:
        def key(name: str) -> tuple[float, str]:
            near = [row(n) for n in sorted(neighbours[name]) if (column[n] - i) * side > 0]  # sorted: same sum
            return (sum(near) / len(near) if near else row(name), name)

        cols[i] = sorted(cols[i], key=key)

    for sweep in range(SWEEPS):
        if sweep % 2 == 0:
            for i in range(1, width):
                resort(i, -1)
        else:
            for i in range(width - 2, -1, -1):
                resort(i, +1)
    return cols


def place(cols: list[list[str]], label_chars: dict[str, int], badges: dict[str, int]) -> dict[str, Box]:
    """Boxes for the ordered columns: each column as wide as its longest label, centred on the tallest column."""
    heights = {
        n: WAYPOINT_HEIGHT if n.startswith("~") else NODE_HEIGHT + BADGE_HEIGHT * badges.get(n, 0)
        for col in cols
        for n in col
    }

    def column_height(col: list[str]) -> float:
        return sum(heights[n] for n in col) + ROW_GAP * max(len(col) - 1, 0)

    tallest = max((column_height(c) for c in cols), default=0)
    boxes = {}
    x = float(MARGIN)
    for col in cols:
        width = max((max(label_chars.get(n, 0) * CHAR_WIDTH + 28, MIN_WIDTH) for n in col), default=MIN_WIDTH)
        y = MARGIN + (tallest - column_height(col)) / 2
        for name in col:
            boxes[name] = Box(x, y, width, heights.get(name, WAYPOINT_HEIGHT))
            y += heights[name] + ROW_GAP
        x += width + COLUMN_GAP
    return boxes
