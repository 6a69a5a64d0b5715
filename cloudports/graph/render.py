"""Renderers of the neutral graph: Mermaid (renders on GitHub), Graphviz DOT, and through `dot` SVG, for documents.
The interactive HTML page has its own module (page.py): it draws from the policy, not from this graph."""

from __future__ import annotations

import os
import shutil
import subprocess

from cloudports.errors import CloudportsError
from cloudports.graph.formats import GraphFormat
from cloudports.graph.model import Edge, Graph, Node

FLAG_COLOR = "#d62728"
LEGEND = "solid: always allowed; dashed: only during the named phase; red ⚠: marked by the exposure lint"


def render(graph: Graph, fmt: GraphFormat | str) -> str:
    fmt = GraphFormat(fmt)
    if fmt is GraphFormat.mermaid:
        return mermaid(graph)
    if fmt is GraphFormat.dot:
        return dot(graph)
    if fmt is GraphFormat.svg:
        return svg(graph)
    raise ValueError("the html page is drawn from the policy, not from the graph: cloudports.graph.page")


# ---- Mermaid ----


# What Mermaid or HTML would interpret in a quoted label, as entity codes: one str.translate per label instead of
# a Python loop over its characters (TOPOLOGY.md labels every flow).
_MERMAID_CODES = str.maketrans({c: f"#{ord(c)};" for c in '"#<>&'})


def _mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: entity codes for what Mermaid or HTML would interpret."""
    return text.translate(_MERMAID_CODES)


def _mermaid_node(node: Node) -> str:
    label = _mermaid_text(node.name)
    if node.kind == "role":
        return f'    {node.id}["{label}"]'
    return f'    {node.id}(["{label}<br/>{_mermaid_text(node.detail)}"])'


def mermaid(graph: Graph) -> str:
    lines = ["---", f"title: {_mermaid_text(graph.title)}", "---", "flowchart LR", f"    %% {LEGEND}"]
    lines += [_mermaid_node(n) for n in graph.nodes]
    flagged = []
    for i, edge in enumerate(graph.edges):
        label = "<br/>".join(_mermaid_text(line) for line in edge.lines)
        arrow = "-.->" if edge.phase else "-->"
        lines.append(f'    {edge.source} {arrow}|"{label}"| {edge.target}')
        if edge.flagged:
            flagged.append(str(i))
    lines.append("    classDef network fill:#eef6ff,stroke:#4a78b0")
    networks = [n.id for n in graph.nodes if n.kind == "network"]
    if networks:
        lines.append(f"    class {','.join(networks)} network")
    if flagged:
        lines.append(f"    linkStyle {','.join(flagged)} stroke:{FLAG_COLOR},color:{FLAG_COLOR},stroke-width:2px")
    return "\n".join(lines) + "\n"


# ---- Graphviz DOT ----


def dot_string(text: str) -> str:
    """A DOT double-quoted string holding exactly `text` (backslashes and quotes escaped, newlines as \\n)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


def _dot_node(node: Node) -> str:
    label = node.name if node.kind == "role" else f"{node.name}\n{node.detail}"
    shape = 'box, style="rounded,filled", fillcolor="#fff7e6"' if node.kind == "role" else "ellipse"
    attrs = f"label={dot_string(label)}, tooltip={dot_string(node.description or node.name)}, shape={shape}"
    return f"  {node.id} [{attrs}];"


def _dot_edge(edge: Edge) -> str:
    label = chr(10).join(edge.lines)
    attrs = [f"label={dot_string(label)}", f"tooltip={dot_string(edge.description or label)}"]
    if edge.phase:
        attrs.append("style=dashed")
    if edge.flagged:
        attrs += [f'color="{FLAG_COLOR}"', f'fontcolor="{FLAG_COLOR}"', "penwidth=2"]
    return f"  {edge.source} -> {edge.target} [{', '.join(attrs)}];"


def dot(graph: Graph) -> str:
    lines = [
        f"digraph {dot_string(graph.title)} {{",
        f"  label={dot_string(graph.title + chr(10) + LEGEND)};",
        '  labelloc="t";',
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    lines += [_dot_node(n) for n in graph.nodes]
    lines += [_dot_edge(e) for e in graph.edges]
    return "\n".join([*lines, "}"]) + "\n"


# ---- SVG (Graphviz `dot`) ----


def svg(graph: Graph) -> str:
    binary = shutil.which("dot", path=os.environ.get("PATH", ""))
    if binary is None:
        raise CloudportsError("the Graphviz 'dot' program is not on PATH; install graphviz (apt-get install graphviz)")
    try:
        done = subprocess.run(
            [binary, "-Tsvg"], input=dot(graph), capture_output=True, text=True, encoding="utf-8", timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CloudportsError(f"running Graphviz 'dot' failed: {exc}") from exc
    if done.returncode != 0:
        raise CloudportsError(f"Graphviz 'dot' failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout
