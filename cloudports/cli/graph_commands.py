"""graph: the topology as a diagram (Mermaid, Graphviz DOT, SVG, HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloudports.cli import common
from cloudports.cli.common import TARGET_METAVAR, PhaseOpt, SpecArg, VarOpt, compile_policy, for_target
from cloudports.cli.target_options import TargetOptions, options_for, with_reading_options
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.gcpause import gc_paused
from cloudports.graph.formats import GraphFormat
from cloudports.targets import registry

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy


@with_reading_options
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
    live: Annotated[
        bool, typer.Option("--live", help="html: what the live cloud's rules allow, read as drift reads them")
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", "-t", help="The cloud --live reads", metavar=TARGET_METAVAR, autocompletion=registry.names
        ),
    ] = None,
    *,
    target_options: TargetOptions,
) -> None:
    """Draw roles, networks and flows; phase flows dashed, flows the exposure lint marks in red. html: one
    self-contained interactive page (click a role for its flows and rules, filter, pan and zoom)."""
    policy = compile_policy(spec, var, phase)
    if live:
        text = _live_page(policy, fmt, role, target, target_options)
    elif fmt is GraphFormat.html:
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


def _live_page(
    policy: CompiledPolicy, fmt: GraphFormat, role: str | None, target: str | None, given: TargetOptions
) -> str:
    from cloudports.graph.explore import live_explorer
    from cloudports.graph.page import page

    if target is None:
        raise CloudportsError([Diagnostic(None, "graph --live reads one cloud", "add --target aws or --target azure")])
    if fmt is not GraphFormat.html or role is not None:
        raise CloudportsError(
            [Diagnostic(None, "graph --live draws the html page, of every role", "use --format html")]
        )
    chosen = for_target(policy, target, show_widening=False)
    # adopt: also read same-name groups without the ownership tags (a lab just imported); nothing is written
    state = chosen.open_backend(policy, options_for(chosen, given), adopt=True).read_state()
    return page(live_explorer(policy, chosen, state))


COMMANDS = (graph,)
