"""verify: do the clouds' rules allow exactly what the spec allows? Exhaustive, with every difference explained."""

from __future__ import annotations

import json
from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import typer

from cloudports.cli import common
from cloudports.cli.common import (
    TARGET_METAVAR,
    Format,
    FormatOpt,
    LiveOpt,
    PhaseOpt,
    SpecArg,
    VarOpt,
    compile_policy,
    for_target,
    one_live_target,
)
from cloudports.cli.target_options import TargetOptions, options_for, with_reading_options
from cloudports.gcpause import gc_paused
from cloudports.targets import registry

if TYPE_CHECKING:  # the pipeline and verify load when the command runs (cloudports --help stays quick)
    from cloudports.compile import CompiledPolicy
    from cloudports.query.verify import Difference, Report, Side

EQUIVALENT, DIFFERENT = 0, 2


def _verifiable() -> list[str]:
    """The registered targets that can say what their rules allow (the others are skipped, not refused)."""
    from cloudports.targets.base import Target

    return [t.name for t in registry.all_targets() if type(t).reachability is not Target.reachability]


def _side(policy: CompiledPolicy, name: str, live: bool, given: TargetOptions) -> Side:
    from cloudports.query.verify import Side

    target = for_target(policy, name, show_widening=False)  # listed as known limitations in the report
    if live:
        # adopt: read same-name groups that lack the ownership tags too (a lab just imported); nothing is written
        state = target.open_backend(policy, options_for(target, given), adopt=True).read_state()
    else:
        state = target.build(policy)
    reach = target.reachability(state)
    return Side(name, target.title, reach, lambda probe: target.explain(state, probe), target.capabilities)


@with_reading_options
@gc_paused()  # as the compile commands (compile_commands.py)
def verify(
    spec: SpecArg,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="Verify only this target (repeatable); default: every target",
            metavar=TARGET_METAVAR,
        ),
    ] = None,
    live: LiveOpt = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Count known cloud limitations as differences (exit 2)")
    ] = False,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    *,
    target_options: TargetOptions,
) -> int:
    """Prove, over every address and port, that each target allows exactly what the spec's flows allow.

    Exit 0 equivalent (known cloud limitations are listed, not counted, unless --strict), 2 differences, 1 error."""
    names = list(dict.fromkeys(target or _verifiable()))
    for name in names:
        registry.get(name)
    if live and len(names) != 1:
        raise one_live_target("verify")
    from cloudports.query.verify import verify_topology

    policy = compile_policy(spec, var, phase)
    report = verify_topology(policy.topology, [_side(policy, n, live, target_options) for n in names])
    if fmt is Format.json:
        from cloudports.live.plan import JSON_VERSION

        head = {"version": JSON_VERSION, "command": "verify", "topology": policy.topology.name, "live": live}
        common.out.print_json(json.dumps({**head, **report.as_dict(strict)}))
    else:
        _print(policy.topology.name, report, live, strict)
    return EQUIVALENT if report.equivalent(strict) else DIFFERENT


def _say(text: str, style: str | None = None) -> None:
    common.out.print(text, markup=False, highlight=False, style=style)


def _print(topology: str, report: Report, live: bool, strict: bool) -> None:
    what = "live rules" if live else "rules"
    for name in report.targets:
        mine = [d for d in report.differences if d.target == name]
        known = sum(1 for d in mine if d.limitation)
        real = len(mine) - known
        verdict = "equivalent to the spec" if not real else f"{real} difference(s) from the spec"
        also = f", {known} known limitation(s)" + (" (counted: --strict)" if strict else "") if known else ""
        _say(f"{name} {what}: {verdict}{also}", "green" if not real else "red")
    _say(f"  {topology}: {report.cells} address cells, {report.pairs} endpoint pairs per target, every port")
    ordered = sorted(report.differences, key=lambda d: (d.target, d.allowed_by != "spec", d.limitation))
    for (name, by, limitation), rows in groupby(ordered, key=_heading):
        _print_group(name, by, limitation, list(rows))
    for note in report.notes:
        _say(f"note: {note}", "yellow")


def _heading(d: Difference) -> tuple[str, str, str]:
    return d.target, d.allowed_by, d.limitation


def _print_group(name: str, by: str, limitation: str, rows: list[Difference]) -> None:
    other = name if by == "spec" else "the spec"
    head = f"{by} allows, {other} does not"
    _say("")
    _say(f"{head} (known limitation: {limitation})" if limitation else head, "yellow" if limitation else "red")
    for d in rows:
        _say(f"  {d.source} -> {d.destination}: {d.traffic}")
        if not limitation:
            for line in d.why:
                _say(f"      {line}")


COMMANDS = (verify,)
