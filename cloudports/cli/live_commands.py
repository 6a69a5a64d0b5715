"""plan, apply, drift, destroy: the live cloud through the target's backend (no Terraform)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cloudports.cli import common
from cloudports.cli.common import (
    Format,
    FormatOpt,
    PhaseOpt,
    SpecArg,
    TargetOpt,
    VarOpt,
    compile_policy,
    for_target,
)
from cloudports.cli.target_options import TargetOptions, options_for, with_target_options
from cloudports.errors import CloudportsError, Diagnostic, Interrupted
from cloudports.targets import registry

if TYPE_CHECKING:
    from rich.console import Console

    from cloudports.compile import CompiledPolicy
    from cloudports.live.backend import Backend
    from cloudports.live.plan import Command, Plan
    from cloudports.targets.base import Target


def _plan(backend: Backend) -> Plan:
    return backend.plan()


def _plan_destroy(backend: Backend) -> Plan:
    return backend.plan_destroy()


SpecsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Topology spec; several specs or folders of specs are read side by side (one row each)",
        metavar="SPEC",  # typer adds "..." for a list
        show_default=False,
    ),
]
AdoptOpt = Annotated[bool, typer.Option("--adopt", help="Take over same-name resources that lack cloudports tags")]
AutoApproveOpt = Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation")]


ExplainOpt = Annotated[
    bool,
    typer.Option("--explain", help="Also the traffic the plan opens and closes (drift: what live opens or closes)"),
]


def _opened(
    spec: Path,
    target: str,
    var: list[str] | None,
    phase: str | None,
    given: TargetOptions,
    adopt: bool = False,
    show_widening: bool = True,  # drift: what a target widens is no drift (common.for_target)
) -> tuple[CompiledPolicy, Target[Any, Any], Backend]:
    policy = compile_policy(spec, var, phase)
    chosen = for_target(policy, target, show_widening)
    return policy, chosen, chosen.open_backend(policy, options_for(chosen, given), adopt)


def _read_one(
    command: Literal["plan", "drift"],
    opened: tuple[CompiledPolicy, Target[Any, Any], Backend],
    fmt: Format,
    explain: bool,
) -> Plan:
    """Read one spec's plan (or drift) and show it; with --explain also the traffic it opens and closes."""
    policy, chosen, backend = opened
    result = _read(backend, _plan)
    changes = None
    if explain:
        from cloudports.cli.diff_commands import live_traffic

        changes = live_traffic(policy, chosen, backend, drift=command == "drift")
        result.traffic = [c.as_dict() for c in changes]
    _print_plan(result, fmt, command)
    if changes is not None and fmt is not Format.json:
        from cloudports.cli.diff_render import render_traffic

        heading = "traffic apply would open and close" if command == "plan" else "traffic live opens and closes"
        render_traffic(changes, heading, common.out)
    return result


def _one_spec(specs: list[Path], explain: bool) -> Path | None:
    one = _single(specs)
    if explain and one is None:
        raise CloudportsError([Diagnostic(None, "--explain reads one spec", "name one spec file")])
    return one


def _read(backend: Backend, reading: Callable[[Backend], Plan]) -> Plan:
    from cloudports.cli.progress import waiting  # rich.progress: for the live commands only

    with waiting(common.err, "reading the live state"):
        return reading(backend)


def _print_json(plan: Plan, command: Command, done: Plan | None = None) -> None:
    """The one JSON document of a live command (docs/json-output.md)."""
    common.write_out(plan.to_json(command, done) + "\n")


def _print_plan(plan: Plan, fmt: Format, command: Command, console: Console | None = None) -> None:
    if fmt is Format.json:
        _print_json(plan, command)
    else:
        from cloudports.live.report import render_plan

        render_plan(plan, console or common.out, "plan" if command == "apply" else command)


@contextmanager
def writing(command: str) -> Iterator[None]:
    """Ctrl-C while writing: say what state the cloud is in and how to go on (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(
            [
                Diagnostic(
                    None,
                    f"interrupted: {command} stopped part-way; every change already made stays (each API call is "
                    "made whole or not at all)",
                    f"run `cloudports plan` to see what is left, and `cloudports {command}` again: it reads the "
                    "live state and carries on from there",
                )
            ]
        ) from None


_QUESTIONS = {"apply": "Apply these changes?", "destroy": "Destroy these resources?"}


def _carry_out(
    command: Literal["apply", "destroy"], planned: Plan, carry: Callable[[Plan], Plan], fmt: Format, auto_approve: bool
) -> Plan | None:
    """Show the plan, ask, carry it out; None when there was nothing to do. With --format json stdout holds one
    document, written at the end (with what was done); the plan a question is about is shown on stderr."""
    json_out = fmt is Format.json
    asking = not auto_approve and not planned.empty
    if asking:  # the table the question is about
        _print_plan(planned, Format.table, command, common.err if json_out else common.out)
    elif not json_out:  # --auto-approve: the counts, not the table again after `plan`
        from cloudports.live.report import render_counts

        render_counts(planned, common.out, "plan" if command == "apply" else "destroy")
    if planned.empty:
        if json_out:
            _print_json(planned, command, planned)
        return None
    if asking and not typer.confirm(_QUESTIONS[command], default=False, err=True):
        if json_out:
            _print_json(planned, command)
        raise CloudportsError(f"{command} cancelled; nothing was changed")
    from cloudports.cli.progress import writing_progress

    with writing(command), writing_progress(common.err, f"{command}ing", len(planned.changes)):
        done = carry(planned)
    if json_out:
        _print_json(planned, command, done)
    return done


def _fleet(
    command: Literal["plan", "drift"],
    specs: list[Path],
    fmt: Format,
    open_backend: Callable[[Path], Backend],
) -> tuple[bool, bool]:
    """Read many specs side by side (live/fleet.py) and show one table or one JSON document; returns (any
    failed, any differs)."""
    import json

    from cloudports.cli.progress import waiting
    from cloudports.live.fleet import run_fleet
    from cloudports.live.plan import JSON_VERSION

    with waiting(common.err, f"reading the live state of {len(specs)} specs"):
        outcomes = run_fleet(specs, open_backend, _plan)
    if fmt is Format.json:
        rows = [
            {
                "spec": str(o.spec),
                "plan": o.plan.to_dict(command) if o.plan else None,
                "error": o.error.diagnostics[0].message if o.error else None,
            }
            for o in outcomes
        ]
        document = {"version": JSON_VERSION, "command": command, "fleet": rows}
        common.write_out(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    else:
        from cloudports.live.report import render_fleet

        render_fleet(outcomes, common.out, command)
    for o in outcomes:
        if o.error is not None:
            common.err.print(f"[red]error:[/red] {o.spec}: {o.error}", markup=True, highlight=False)
    return any(o.error for o in outcomes), any(o.plan is not None and not o.plan.empty for o in outcomes)


def _single(specs: list[Path]) -> Path | None:
    """The spec, when exactly one file is named (the one-spec output); None for a fleet."""
    if len(specs) == 1 and not specs[0].is_dir():
        return specs[0]
    return None


@with_target_options
def plan(
    spec: SpecsArg,
    target: TargetOpt,
    fmt: FormatOpt = Format.table,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes")
    ] = False,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    adopt: AdoptOpt = False,
    explain: ExplainOpt = False,
    *,
    target_options: TargetOptions,
) -> None:
    """Show what `apply` would change in the live cloud (several specs: one row each)."""
    one = _one_spec(spec, explain)
    if one is None:
        from cloudports.live.fleet import spec_files

        opened = lambda s: _opened(s, target, var, phase, target_options, adopt)[2]  # noqa: E731
        failed, differs = _fleet("plan", spec_files(spec), fmt, opened)
        raise typer.Exit(1 if failed else 2 if differs and detailed_exitcode else 0)
    result = _read_one("plan", _opened(one, target, var, phase, target_options, adopt), fmt, explain)
    if detailed_exitcode and not result.empty:
        raise typer.Exit(2)


@with_target_options
def apply(
    spec: SpecArg,
    target: TargetOpt,
    auto_approve: AutoApproveOpt = False,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    adopt: AdoptOpt = False,
    *,
    target_options: TargetOptions,
) -> None:
    """Make the live cloud match the spec (shows the plan and asks first)."""
    backend = _opened(spec, target, var, phase, target_options, adopt)[2]
    done = _carry_out("apply", _read(backend, _plan), backend.apply, fmt, auto_approve)
    if done is None:
        return
    counts = done.counts()
    # with --format json the summary goes to stderr, so that stdout stays one JSON document
    (common.err if fmt is Format.json else common.out).print(
        f"[green]applied:[/green] {counts['add']} created, {counts['change']} updated, {counts['remove']} deleted"
    )


@with_target_options
def drift(
    spec: SpecsArg,
    target: TargetOpt,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    explain: ExplainOpt = False,
    *,
    target_options: TargetOptions,
) -> None:
    """Compare live rules with the spec (several specs or folders: one row each). Exit 0 in sync, 2 drift,
    1 error."""
    one = _one_spec(spec, explain)
    if one is None:
        from cloudports.live.fleet import spec_files

        opened = lambda s: _opened(s, target, var, phase, target_options, show_widening=False)[2]  # noqa: E731
        failed, differs = _fleet("drift", spec_files(spec), fmt, opened)
        raise typer.Exit(1 if failed else 2 if differs else 0)
    found = _opened(one, target, var, phase, target_options, show_widening=False)
    result = _read_one("drift", found, fmt, explain)
    if not result.empty:
        raise typer.Exit(2)


@with_target_options
def destroy(
    spec: SpecArg,
    target: TargetOpt,
    auto_approve: AutoApproveOpt = False,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    *,
    target_options: TargetOptions,
) -> None:
    """Remove what cloudports owns for this spec (never anything else); needs only the spec's name and targets."""
    from cloudports.pipeline import identity_policy

    chosen = registry.get(target)
    backend = chosen.open_backend(identity_policy(spec), options_for(chosen, target_options), False)
    done = _carry_out("destroy", _read(backend, _plan_destroy), backend.destroy, fmt, auto_approve)
    if done is None:
        return
    console = common.err if fmt is Format.json else common.out  # keep stdout one JSON document with --format json
    for note in done.notes:
        console.print(f"note: {note}")
    console.print(f"[green]destroyed:[/green] {done.counts()['remove']} resources")


COMMANDS = (plan, apply, drift, destroy)
