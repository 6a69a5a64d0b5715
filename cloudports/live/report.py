"""Rich tables for plans and drift reports."""

from __future__ import annotations

from typing import Literal

from rich.console import Console
from rich.table import Table

from cloudports.live.plan import DRIFT_WORDS, PLAN_WORDS, Plan

_STYLE = {"add": "green", "remove": "red", "change": "yellow"}
_SIGN = {"add": "+", "remove": "-", "change": "~"}


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
        for col in ("", "what", "kind", "name", "details"):
            table.add_column(col, overflow="fold")
        order = {"remove": 2, "change": 1, "add": 0}
        for c in sorted(plan.changes, key=lambda c: (c.kind != "security group", order[c.action], c.name)):
            details = c.summary + (f" ({c.reason})" if c.reason else "")
            style = _STYLE[c.action]
            table.add_row(f"[{style}]{_SIGN[c.action]}[/{style}]", words[c.action], c.kind, c.name, details)
        console.print(table)
        counts = plan.counts()
        console.print(", ".join(f"{counts[a]} {words[a]}" for a in ("add", "change", "remove")))
    for note in plan.notes:
        console.print(f"[dim]note: {note}[/dim]")
