"""diff: the traffic a change of spec (or the live cloud against its spec) opens and closes, with the reasons."""

from __future__ import annotations

import re
import subprocess
import tarfile
import tempfile
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cloudports.cli.common import (
    TARGET_METAVAR,
    LiveOpt,
    PhaseOpt,
    VarOpt,
    compile_policy,
    for_target,
    one_live_target,
)
from cloudports.cli.diff_render import DiffFormat, Outcome, render
from cloudports.cli.target_options import TargetOptions, options_for, with_reading_options
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.gcpause import gc_paused
from cloudports.targets import registry

if TYPE_CHECKING:  # loaded when the command runs (cloudports --help stays quick)
    from cloudports.compile import CompiledPolicy
    from cloudports.live.backend import Backend
    from cloudports.query.change import Change, View
    from cloudports.targets.base import Target

UNCHANGED, CHANGED = 0, 2


SpecSideArg = Annotated[
    str, typer.Argument(help="A spec file, or REV:path for the spec at a git revision", show_default=False)
]


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise CloudportsError([Diagnostic(None, "git is not installed", "give the spec as a file")]) from None
    except subprocess.CalledProcessError as exc:
        problem = exc.stderr.decode(errors="replace").strip().splitlines()
        hint = "REV:path names a file as git sees it, from the repository's top folder (e.g. main:lab/spec.yaml)"
        said = problem[-1] if problem else str(exc)
        raise CloudportsError([Diagnostic(None, f"git {' '.join(args)}: {said}", hint)]) from None


def _from_git(given: str, into: Path) -> Path:
    """The spec at a revision, with the folder it lies in (its includes), written out below `into`."""
    revision, _, inside = given.partition(":")
    top = Path(_git(["rev-parse", "--show-toplevel"], Path.cwd()).decode().strip())
    folder = str(PurePosixPath(inside).parent)
    archive = _git(["archive", "--format=tar", revision, "--", folder], top)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")  # the data filter refuses links and paths that leave `into`
    found = into / inside
    if not found.is_file():
        raise CloudportsError([Diagnostic(None, f"{given}: no such file at revision {revision}", "")])
    return found


def spec_path(given: str, scratch: ExitStack) -> Path:
    """A spec side as a file: the file itself, or REV:path read from git into a temporary folder."""
    path = Path(given)
    if path.exists() or ":" not in given:
        return path
    return _from_git(given, Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="cloudports-diff-"))))


def _view(policy: CompiledPolicy, judge: str, live: bool = False, given: TargetOptions | None = None) -> View:
    from cloudports.query.change import View

    if judge == "spec":
        return View.of_intent(policy.topology)
    target = for_target(policy, judge)
    if live:
        state = target.open_backend(policy, options_for(target, given or {}), adopt=True).read_state()
    else:
        state = target.build(policy)
    return View.of_state(policy.topology, target, state)


@with_reading_options
@gc_paused()  # as the compile commands (compile_commands.py)
def diff(
    old: SpecSideArg,
    new: Annotated[
        str | None,
        typer.Argument(help="The spec after (a file or REV:path); with --live: omitted", show_default=False),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", "-t", help="Judge by this target's rules (repeatable)", metavar=TARGET_METAVAR),
    ] = None,
    live: LiveOpt = False,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format")] = DiffFormat.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    *,
    target_options: TargetOptions,
) -> int:
    """The traffic that a change opens and closes: OLD and NEW specs, or with --live the live cloud against OLD.

    Judged by the spec's intent, or with --target by each target's rules. Exit 0 no traffic changes, 2 changes."""
    judges = list(dict.fromkeys(target or ["spec"]))
    for name in judges:
        if name != "spec":
            registry.get(name)
    if live and (new is not None or len(judges) != 1 or judges == ["spec"]):
        raise one_live_target("diff") if new is None else _live_and_new()
    if new is None and not live:
        raise CloudportsError([Diagnostic(None, "diff needs the spec after the change", "give NEW, or --live")])
    from cloudports.query.change import find_changes

    with ExitStack() as scratch:
        before = compile_policy(spec_path(old, scratch), var, phase)
        after = before if new is None else compile_policy(spec_path(new, scratch), var, phase)
        changes = [
            change
            for judge in judges
            for change in find_changes(judge, _view(before, judge), _view(after, judge, live, target_options))
        ]
        exposures = new_exposures(before, after)
    render(Outcome(changes, exposures, judges, old, "live" if live else str(new)), fmt)
    return CHANGED if changes else UNCHANGED


def new_exposures(before: CompiledPolicy, after: CompiledPolicy) -> list[Diagnostic]:
    """The exposure lint's findings on NEW that OLD did not have (the same risky ports, networks and roles)."""
    from cloudports.compile.lint import RISKY_PORT

    def what(d: Diagnostic) -> str:  # without the places of other flows, which differ between the two files
        return re.sub(r", together with the flow\(s\) at [^)]*", "", d.message)

    known = {what(d) for d in before.warnings if d.rule == RISKY_PORT}
    return [d for d in after.warnings if d.rule == RISKY_PORT and what(d) not in known]


def live_traffic(policy: CompiledPolicy, target: Target[Any, Any], backend: Backend, drift: bool) -> list[Change]:
    """--explain of plan (live now -> what apply leaves) and of drift (what the spec asks -> live now)."""
    from cloudports.query.change import View, find_changes

    live = backend.read_state()
    now, planned = (View.of_state(policy.topology, target, s) for s in (live, backend.planned_state(live)))
    before, after = (planned, now) if drift else (now, planned)
    return find_changes(target.name, before, after)


def _live_and_new() -> CloudportsError:
    return CloudportsError([Diagnostic(None, "diff --live compares the live cloud with one spec", "drop NEW")])


COMMANDS = (diff,)
