"""graph: the topology as a diagram (Mermaid, Graphviz DOT, SVG, HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloudports.cli import common
from cloudports.cli.common import PhaseOpt, SpecArg, VarOpt, compile_policy
from cloudports.gcpause import gc_paused
from cloudports.graph.formats import GraphFormat


@gc_paused()  # as the compile commands (compile_commands.py)
def graph(
    spec: SpecArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format")] = GraphFormat.mermaid,
    role: Annotated[str | None, typer.Option("--role", help="Only this role's ingress and egress")] = None,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout", metavar="FILE")
    ] = None,
) -> None:
    """Draw roles, networks and flows; phase flows dashed, flows the exposure lint marks in red. html: one
    self-contained interactive page (click a role for its flows and rules, filter, pan and zoom)."""
    policy = compile_policy(spec, var, phase)
    if fmt is GraphFormat.html:
        from cloudports.graph.explore import build_explorer
        from cloudports.graph.page import page

        text = page(build_explorer(policy, spec, role))
    else:
        from cloudports.graph.model import build_graph
        from cloudports.graph.render import render

        text = render(build_graph(policy, role), fmt)
    if out_file is None:
        common.write_out(text)
        return
    out_file.write_text(text, encoding="utf-8")
    common.err.print(f"wrote {fmt.value} to {out_file}", markup=False, highlight=False)


COMMANDS = (graph,)
