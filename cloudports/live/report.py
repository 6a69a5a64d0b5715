"""Rich tables for plans and drift reports."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from cloudports.live.fleet import Outcome
from cloudports.live.plan import DRIFT_WORDS, PLAN_WORDS, Plan

_STYLE = {"add": "green", "remove": "red", "change": "yellow"}
_SIGN = {"add": "+", "remove": "-", "change": "~"}


def headings_fit(names: Sequence[str], console: Console) -> bool:
    """Whether the headings fit side by side, each whole, in the console's width (with the table's borders)."""
    return sum(len(n) + 3 for n in names) + 1 <= console.width


def fits(table: Table, console: Console) -> bool:
    """Whether the table renders within the console's width: with more columns than fit side by side, rich
    renders it wider than asked, and the console would cut the right-hand columns off."""
    scratch = Console(file=io.StringIO(), width=console.width, color_system=None, legacy_windows=False, emoji=False)
    scratch.print(table, crop=False, soft_wrap=False)
    return all(cell_len(line) <= console.width for line in scratch.file.getvalue().splitlines())  # type: ignore[attr-defined]


def add_columns(table: Table, names: Sequence[str], console: Console) -> None:
    """Columns that wrap at words and fold only a word longer than the column: never cut a cell short. The
    headings stay whole when they fit side by side in the console's width (80 columns: most do)."""
    whole = headings_fit(names, console)
    for name in names:
        table.add_column(name, overflow="fold", min_width=len(name) if whole else None)


def keep_whole(table: Table, column: int, console: Console) -> None:
    """Widen a column of names to its longest cell (up to half the width), so that a name such as
    d365-fetch-reports is never folded over lines where a search for it would miss it."""
    cells = [str(c) for c in table.columns[column].cells]
    table.columns[column].min_width = min(max(map(cell_len, cells), default=0), console.width // 2)


_EMPTY = {
    "plan": "no changes: live state matches the spec",
    "drift": "in sync: live state matches the spec",
    "destroy": "nothing to destroy: cloudports owns nothing for this spec here",
}


def render_plan(plan: Plan, console: Console, mode: Literal["plan", "drift", "destroy"] = "plan") -> None:
    words = DRIFT_WORDS if mode == "drift" else PLAN_WORDS
    if plan.empty:
        console.print(f"[green]{plan.target} {plan.scope}: {_EMPTY[mode]}[/green]")
    else:
        title = f"{'Drift' if mode == 'drift' else 'Plan'}: {plan.target} {plan.scope} (topology {plan.topology})"
        table = Table(title=title, show_lines=False)
        add_columns(table, ("", "what", "kind", "name", "details"), console)
        order = {"remove": 2, "change": 1, "add": 0}
        for c in sorted(plan.changes, key=lambda c: (c.kind != "security group", order[c.action], c.name)):
            details = c.summary + (f" ({c.reason})" if c.reason else "")
            style = _STYLE[c.action]
            table.add_row(f"[{style}]{_SIGN[c.action]}[/{style}]", words[c.action], c.kind, c.name, details)
        console.print(table, soft_wrap=False)  # cells wrap, even on a soft-wrapping console
        counts = plan.counts()
        console.print(", ".join(f"{counts[a]} {words[a]}" for a in ("add", "change", "remove")))
    for kept in plan.kept:
        console.print(f"kept, not managed: {kept.kind} {kept.name}: {kept.summary}", markup=False, highlight=False)
    for note in plan.notes:
        console.print(f"[dim]note: {note}[/dim]")


def render_counts(plan: Plan, console: Console, mode: Literal["plan", "destroy"]) -> None:
    """What `apply`/`destroy --auto-approve` is about to do, in one line: nobody is asked about the table, and the
    `plan` just before usually showed it (each change: `cloudports plan`, or --format json)."""
    if plan.empty:
        render_plan(plan, console, mode)
        return
    counts = plan.counts()
    what = ", ".join(f"{counts[a]} {PLAN_WORDS[a]}" for a in ("add", "change", "remove"))
    console.print(
        f"{'Plan' if mode == 'plan' else 'Destroy'}: {plan.target} {plan.scope} (topology {plan.topology}): {what}",
        markup=False,
        highlight=False,
    )
    for note in plan.notes:
        console.print(f"[dim]note: {note}[/dim]")


def render_fleet(outcomes: Sequence[Outcome], console: Console, mode: Literal["plan", "drift"]) -> None:
    """One row per spec: where, and in sync / what differs / why it could not be read."""
    words = DRIFT_WORDS if mode == "drift" else PLAN_WORDS
    table = Table(title=f"{'Drift' if mode == 'drift' else 'Plan'} of {len(outcomes)} specs", show_lines=False)
    add_columns(table, ("spec", "topology", "where", "result"), console)
    for o in outcomes:
        if o.error is not None:
            table.add_row(str(o.spec), "", "", f"[red]error:[/red] {o.error.diagnostics[0].message}")
        elif o.plan is not None and o.plan.empty:
            table.add_row(str(o.spec), o.plan.topology, o.plan.scope, f"[green]{_EMPTY[mode].split(':')[0]}[/green]")
        elif o.plan is not None:
            counts = o.plan.counts()
            result = ", ".join(f"{counts[a]} {words[a]}" for a in ("add", "change", "remove") if counts[a])
            table.add_row(str(o.spec), o.plan.topology, o.plan.scope, f"[yellow]{result}[/yellow]")
    console.print(table, soft_wrap=False)
    failed = sum(o.error is not None for o in outcomes)
    differ = sum(o.plan is not None and not o.plan.empty for o in outcomes)
    console.print(
        f"{len(outcomes) - failed - differ} {_EMPTY[mode].split(':')[0]}, {differ} "
        f"{'drifted' if mode == 'drift' else 'with changes'}, {failed} failed"
    )
