"""The interactive page of `graph --format html`: one self-contained HTML file, an SVG laid out here (layout.py)
and a small hand-written script (page.js, page.css beside this file) that highlights, filters and pans. Nothing is
fetched when the page opens and nothing but Python draws it, so the same spec gives the same bytes.
"""

from __future__ import annotations

import html
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cloudports.graph import layout
from cloudports.graph.explore import Bundle, Explorer
from cloudports.graph.layout import Box

HERE = Path(__file__).parent
Point = tuple[float, float]
PORTS_PER_LINE = 5
LABEL_CHAR_WIDTH = 6.6  # px per character of a 12 px edge label
LINE_HEIGHT = 14
DETAIL_CHARS = 34  # a network's address blocks, as far as they fit under its name (all of them in the panel)
BEND = 70  # px: how far a curve leaves a node's side before it turns


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


Badge = tuple[str, str, str]  # (bundle id, css class, text): a line under a node's name


@dataclass(frozen=True)
class Placement:
    boxes: dict[str, Box]  # nodes and waypoints (layout.waypoints)
    badges: dict[str, list[Badge]]  # node -> its badge lines
    ways: dict[str, list[str]]  # edge id -> the waypoints it passes


def _detail(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1].rsplit(",", 1)[0] + ", …"


def _badges(explorer: Explorer) -> dict[str, list[Badge]]:
    """A mesh's badge on each of its members, a loop's on its node."""
    badges: dict[str, list[Badge]] = defaultdict(list)
    for mesh in explorer.meshes:
        for member in mesh.members:
            badges[member].append((mesh.id, "badge mesh", f"◆ mesh: {_short(mesh)}"))
    for loop in explorer.loops:
        badges[loop.members[0]].append((loop.id, "badge loop", f"↻ to itself: {_short(loop)}"))
    return dict(badges)


def _widths(explorer: Explorer, badges: dict[str, list[Badge]]) -> dict[str, int]:
    """Each node's widest line in characters of its name's size (details and badges are smaller)."""
    found = {}
    for n in explorer.nodes:
        small = [text for _, _, text in badges.get(n.name, [])] + ([_detail(n.detail)] if n.kind != "role" else [])
        found[n.name] = round(max([len(n.name), *(len(text) * 0.85 for text in small)]))
    return found


def _place(explorer: Explorer) -> Placement:
    badges = _badges(explorer)
    lines = {n.name: len(badges.get(n.name, [])) + (n.kind != "role") for n in explorer.nodes}
    ends = {e.id: (e.members[0], e.members[1]) for e in explorer.edges}
    roles = [n.name for n in explorer.nodes if n.kind == "role"]
    networks = [n.name for n in explorer.nodes if n.kind != "role"]  # and foreign groups: peers from outside
    column = layout.columns(roles, networks, ends.values())
    bundles = {e.id: (*ends[e.id], " ".join(e.services + e.ports)) for e in explorer.edges}
    ways = layout.waypoints(column, bundles)
    segments = sorted({pair for e, (a, b) in ends.items() for pair in zip([a, *ways[e]], [*ways[e], b], strict=True)})
    cols = layout.order(column, segments)
    return Placement(layout.place(cols, _widths(explorer, badges), lines), badges, ways)


def _short(bundle: Bundle) -> str:
    return ", ".join(bundle.services) or ", ".join(bundle.ports[:3]) + (" …" if len(bundle.ports) > 3 else "")


def _node_svg(node_name: str, kind: str, detail: str, description: str, box: Box, badges: list[Badge]) -> str:
    parts = [
        f'<g class="node {kind}" id="node-{_attr(node_name)}" data-name="{_attr(node_name)}" tabindex="0">',
        f"<title>{html.escape(description or node_name)}</title>",
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="7"/>',
        f'<text class="name" x="{box.x + box.width / 2:.1f}" y="{box.y + 25:.1f}">{html.escape(node_name)}</text>',
    ]
    y = box.y + layout.NODE_HEIGHT
    if kind != "role":
        parts.append(
            f'<text class="detail" x="{box.x + box.width / 2:.1f}" y="{y:.1f}">{html.escape(_detail(detail))}</text>'
        )
        y += layout.BADGE_HEIGHT
    for bundle_id, css, text in badges:
        parts.append(
            f'<text class="{css}" data-bundle="{bundle_id}" x="{box.x + box.width / 2:.1f}" y="{y:.1f}">'
            f"{html.escape(text)}</text>"
        )
        y += layout.BADGE_HEIGHT
    return "".join(parts) + "</g>"


def _anchors(explorer: Explorer, placed: Placement) -> dict[tuple[str, str], Point]:
    """Where each edge leaves its source and reaches its target ((edge id, node) -> point): out of the side that
    faces its next waypoint or its target (a backward edge leaves on the left), the edges on one side spread out
    in the order of their other ends, so that they do not cross at the node."""
    boxes = placed.boxes
    sides: dict[tuple[str, str], list[tuple[float, str, str]]] = defaultdict(list)  # (node, side) -> edges
    for e in explorer.edges:
        src, dst = e.members
        after, before = boxes[([*placed.ways[e.id], dst])[0]], boxes[([src, *placed.ways[e.id]])[-1]]
        sides[(src, "right" if after.x > boxes[src].x else "left")].append((after.middle, dst, e.id))
        sides[(dst, "right" if before.x > boxes[dst].x else "left")].append((before.middle, src, e.id))
    point = {}
    for (node, side), attached in sides.items():
        box = boxes[node]
        x = box.x + box.width if side == "right" else box.x
        span = min(layout.NODE_HEIGHT, box.height) * 0.7
        for i, (_, _, edge_id) in enumerate(sorted(attached)):
            offset = span * ((i + 1) / (len(attached) + 1) - 0.5)
            point[(edge_id, node)] = (x, box.y + layout.NODE_HEIGHT / 2 + offset)
    return point


def _edge_points(edge: Bundle, placed: Placement, anchors: dict[tuple[str, str], Point]) -> list[Point]:
    """Where the edge starts, enters and leaves each waypoint's column, and ends."""
    src, dst = edge.members
    points = [anchors[(edge.id, src)]]
    for way in placed.ways[edge.id]:
        box = placed.boxes[way]
        sides = [box.x, box.x + box.width]
        points += [(x, box.middle) for x in (sides if box.x > points[0][0] else sides[::-1])]
    return [*points, anchors[(edge.id, dst)]]


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point, t: float) -> Point:
    u = 1 - t
    x = u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0]
    y = u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1]
    return x, y


def _path(points: list[Point]) -> tuple[str, list[Point]]:
    """A path through the points: a curve across each gap between columns (leaving and arriving level), a
    straight line across each column a waypoint stands in; and the places its label may go, best first: the
    middle of the first gap, of the last, then of the others, then a third of the way across each."""
    path = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    curves = []
    for i, (start, end) in enumerate(itertools.pairwise(points)):
        if i % 2 == 1:  # across a waypoint's column
            path += f" L{end[0]:.1f},{end[1]:.1f}"
            continue
        bend = (end[0] - start[0]) / 2 if abs(end[0] - start[0]) > 1 else -BEND  # same column: a bow on the left
        c1, c2 = (start[0] + bend, start[1]), (end[0] - bend if abs(end[0] - start[0]) > 1 else end[0] + bend, end[1])
        path += f" C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} {end[0]:.1f},{end[1]:.1f}"
        curves.append((start, c1, c2, end))
    ordered = [curves[0], *curves[-1:], *curves[1:-1]][: len(curves)]
    spots = [_bezier(*curve, t) for t in (0.5, 0.3, 0.7) for curve in ordered]
    return path, spots


Rect = tuple[float, float, float, float]  # left, top, right, bottom


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _edge_lines(edge: Bundle) -> list[str]:
    lines = [", ".join(edge.services)] if edge.services else []
    ports = list(edge.ports)
    return lines + [", ".join(ports[i : i + PORTS_PER_LINE]) for i in range(0, len(ports), PORTS_PER_LINE)]


def _label(lines: list[str], spots: list[Point], taken: list[Rect]) -> tuple[Point, bool]:
    """The first place where the label covers no node and no other label (then taken), else the first place and
    shown only on demand (hover, a highlighted edge)."""
    width = max((len(line) for line in lines), default=0) * LABEL_CHAR_WIDTH + 6
    height = LINE_HEIGHT * len(lines)
    for x, y in spots:
        rect = (x - width / 2, y - height / 2, x + width / 2, y + height / 2)
        if not any(_overlaps(rect, other) for other in taken):
            taken.append(rect)
            return (x, y), False
    return spots[0], True


def _edge_svg(edge: Bundle, path: str, lines: list[str], at: Point, quiet: bool) -> str:
    top = at[1] - LINE_HEIGHT * (len(lines) - 1) / 2 + 4
    spans = "".join(
        f'<tspan x="{at[0]:.1f}" y="{top + LINE_HEIGHT * i:.1f}">{html.escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    classes = "edge" + (" phased" if edge.phased else "") + (" flagged" if edge.flagged else "")
    src, dst = edge.members
    return (
        f'<g class="{classes}" id="{edge.id}" data-from="{_attr(src)}" data-to="{_attr(dst)}">'
        f"<title>{html.escape(src)} → {html.escape(dst)}: {html.escape(' / '.join(lines))}</title>"
        f'<path class="hit" d="{path}"/><path class="line" d="{path}"/>'
        f'<text class="label{" quiet" if quiet else ""}">{spans}</text></g>'
    )


def _edges_svg(explorer: Explorer, placed: Placement, boxes: dict[str, Box]) -> list[str]:
    """The edges, each label where it covers no node and no label placed before it."""
    anchors = _anchors(explorer, placed)
    taken: list[Rect] = [(b.x, b.y, b.x + b.width, b.y + b.height) for b in boxes.values()]
    edges: list[str] = []
    labelled: set[tuple[str, ...]] = set()
    for e in explorer.edges:
        path, spots = _path(_edge_points(e, placed, anchors))
        lines = _edge_lines(e)
        # a fan (one node, many edges on the same services) says what it carries once; the others on hover
        ends = {("from", e.members[0], *lines), ("to", e.members[1], *lines)}
        at, quiet = (spots[0], True) if ends & labelled else _label(lines, spots, taken)
        if not quiet:
            labelled.update(ends)
        edges.append(_edge_svg(e, path, lines, at, quiet))
    return edges


def picture(explorer: Explorer) -> str:
    placed = _place(explorer)
    boxes = {n.name: placed.boxes[n.name] for n in explorer.nodes}
    edges = _edges_svg(explorer, placed, boxes)
    width = max((b.x + b.width for b in boxes.values()), default=0) + layout.MARGIN
    height = max((b.y + b.height for b in boxes.values()), default=0) + layout.MARGIN
    nodes = [
        _node_svg(n.name, n.kind, n.detail, n.description, boxes[n.name], placed.badges.get(n.name, []))
        for n in explorer.nodes
    ]
    return (
        f'<svg id="picture" xmlns="http://www.w3.org/2000/svg" data-width="{width:.0f}" data-height="{height:.0f}">'
        "<defs>"
        + "".join(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-{name}"/></marker>'
            for name in ("plain", "in", "out", "flagged")
        )
        + '</defs><g id="viewport"><g id="edges">'
        + "".join(edges)
        + '</g><g id="nodes">'
        + "".join(nodes)
        + "</g></g></svg>"
    )


def _data(explorer: Explorer) -> dict[str, object]:
    """What the script needs beyond the picture: the flows, what each bundle holds, the targets' rules."""
    bundles = {
        b.id: {"kind": kind, "members": b.members, "flows": b.flows, "ports": b.ports, "services": b.services}
        for kind, group in (("edge", explorer.edges), ("mesh", explorer.meshes), ("loop", explorer.loops))
        for b in group
    }
    return {
        "title": explorer.title,
        "place": explorer.place,
        "nodes": {n.name: {"kind": n.kind, "detail": n.detail, "description": n.description} for n in explorer.nodes},
        "flows": {
            f.id: {
                "from": f.sources,
                "to": f.destinations,
                "services": f.services,
                "ports": f.ports,
                "phase": f.phase,
                "description": f.description,
                "at": f.at,
                "exposure": f.exposure,
                "allowed": f.allowed,
            }
            for f in explorer.flows
        },
        "bundles": bundles,
        "targets": {name: {"error": t.error, "rules": t.rules} for name, t in sorted(explorer.targets.items())},
    }


def _script_json(data: object) -> str:
    """JSON that cannot end its <script> element early."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _options(explorer: Explorer) -> tuple[str, str, str]:
    phases = sorted({f.phase for f in explorer.flows if f.phase})
    phase = '<option value="">every phase</option><option value="-">always (no phase)</option>' + "".join(
        f'<option value="{_attr(p)}">phase: {html.escape(p)}</option>' for p in phases
    )
    target = '<option value="">all targets</option>' + "".join(
        f'<option value="{_attr(t)}">{html.escape(t)}</option>' for t in sorted(explorer.targets)
    )
    words = sorted({w for f in explorer.flows for w in (*f.services, *f.ports)})
    listed = "".join(f'<option value="{_attr(w)}"></option>' for w in words)
    return phase, target, listed


def page(explorer: Explorer) -> str:
    title = html.escape(explorer.title)
    phase, target, listed = _options(explorer)
    style = (HERE / "page.css").read_text(encoding="utf-8")
    script = (HERE / "page.js").read_text(encoding="utf-8")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}: topology</title>\n<style>\n{style}</style>\n</head>\n<body>\n"
        f'<header><h1>{title}</h1><p class="description">{html.escape(explorer.description)}</p>\n'
        '<form id="controls" onsubmit="return false">'
        '<label>role <input id="search" type="search" placeholder="find a role" autocomplete="off"></label>'
        '<label>service or port <input id="service" type="search" list="words" placeholder="e.g. ssh, 443" '
        f'autocomplete="off"></label><datalist id="words">{listed}</datalist>'
        f'<label>phase <select id="phase">{phase}</select></label>'
        f'<label>target <select id="target">{target}</select></label>'
        '<label class="toggle"><input id="exposure" type="checkbox"> only exposure</label>'
        '<button id="fit" type="button">fit</button></form></header>\n'
        '<main><div id="canvas">' + picture(explorer) + '</div><aside id="panel" aria-live="polite"></aside></main>\n'
        f'<script type="application/json" id="cloudports-data">{_script_json(_data(explorer))}</script>\n'
        f"<script>\n{script}</script>\n</body>\n</html>\n"
    )
