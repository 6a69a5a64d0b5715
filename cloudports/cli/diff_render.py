"""What `cloudports diff` prints: text for people, one JSON document, a Markdown pull-request comment, or SARIF
for the newly exposed risky ports (code scanning shows them at NEW's lines)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from cloudports.cli import common
from cloudports.errors import Diagnostic

if TYPE_CHECKING:
    from rich.console import Console

    from cloudports.query.change import Change


class DiffFormat(StrEnum):
    table = "table"  # text for people, one block per change
    json = "json"
    markdown = "markdown"  # a pull-request comment
    sarif = "sarif"  # the newly exposed risky ports, at NEW's lines, for code scanning


@dataclass
class Outcome:
    changes: list[Change]
    exposures: list[Diagnostic]  # exposure lint findings NEW has and OLD had not
    judges: list[str]  # "spec" and/or target names
    old: str  # the sides as the user named them
    new: str

    def of(self, judge: str) -> list[Change]:
        return [c for c in self.changes if c.judge == judge]


def render(outcome: Outcome, fmt: DiffFormat) -> None:
    {"table": _text, "json": _json, "markdown": _markdown, "sarif": _sarif}[fmt.value](outcome)


def _judged_by(judge: str) -> str:
    return "the spec's intent" if judge == "spec" else f"{judge} rules"


def _count(changes: list[Change]) -> str:
    opened = sum(1 for c in changes if c.opened)
    return f"{opened} opened, {len(changes) - opened} closed" if changes else "no traffic changes"


def _by_direction(changes: list[Change]) -> list[tuple[bool, list[Change]]]:
    """Opened first, then closed, each in the order found."""
    ordered = sorted(changes, key=lambda c: not c.opened)
    return [(opened, list(rows)) for opened, rows in groupby(ordered, key=lambda c: c.opened)]


# ------------------------------------------------------------------------------------------------ text


def _say(text: str, style: str | None = None) -> None:
    common.out.print(text, markup=False, highlight=False, style=style)


def _text(outcome: Outcome) -> None:
    for d in outcome.exposures:
        _say(f"newly exposed ({d.severity}): {d.message} [{d.loc}]", "red")
    for judge in outcome.judges:
        mine = outcome.of(judge)
        heading = f"{outcome.old} -> {outcome.new}, judged by {_judged_by(judge)}: {_count(mine)}"
        _say(heading, "red" if mine else "green")
        for opened, rows in _by_direction(mine):
            _say("")
            _say("opened (allowed now, denied before)" if opened else "closed (denied now, allowed before)")
            for change in rows:
                _say(f"  {change.source} -> {change.destination}: {change.traffic}")
                for label, reasons in (("before", change.before), ("after", change.after)):
                    for reason in reasons:
                        _say(f"      {label}: {reason}")


def render_traffic(changes: list[Change], heading: str, console: Console) -> None:
    """--explain of plan and drift: the rows, after the plan's table."""
    console.print("")
    console.print(f"{heading}: {_count(changes)}", markup=False, highlight=False, style="red" if changes else "green")
    for opened, rows in _by_direction(changes):
        console.print("opened" if opened else "closed", markup=False, highlight=False)
        for change in rows:
            reasons = change.after if opened else change.before
            console.print(f"  {change.source} -> {change.destination}: {change.traffic}", markup=False, highlight=False)
            for reason in reasons:
                console.print(f"      {reason}", markup=False, highlight=False)


# ------------------------------------------------------------------------------------------------ json


def _json(outcome: Outcome) -> None:
    from cloudports.live.plan import JSON_VERSION

    document = {
        "version": JSON_VERSION,
        "command": "diff",
        "old": outcome.old,
        "new": outcome.new,
        "judges": outcome.judges,
        "exposures": [
            {"severity": d.severity, "at": str(d.loc or ""), "message": d.message} for d in outcome.exposures
        ],
        "changes": [c.as_dict() for c in outcome.changes],
    }
    common.write_out(json.dumps(document, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------ markdown


def _cell(text: str) -> str:
    """Text for a Markdown table cell: pipes escaped, no line breaks."""
    return " ".join(text.replace("|", "\\|").split())


def _markdown(outcome: Outcome) -> None:
    total = _count(outcome.changes)
    lines = [f"### cloudports diff: {total}", "", f"`{outcome.old}` → `{outcome.new}`", ""]
    if outcome.exposures:
        lines += ["**Newly exposed risky ports**", ""]
        lines += [f"- **{d.severity}**: {_cell(d.message)} (`{d.loc}`)" for d in outcome.exposures]
        lines.append("")
    for judge in outcome.judges:
        for opened, rows in _by_direction(outcome.of(judge)):
            word, why = ("Opened", "after") if opened else ("Closed", "before")
            lines += [f"#### {word}, judged by {_judged_by(judge)}", "", f"| from | to | traffic | why ({why}) |"]
            lines.append("|---|---|---|---|")
            for c in rows:
                reasons = "<br>".join(_cell(r) for r in (c.after if opened else c.before))
                lines.append(f"| {_cell(c.source)} | {_cell(c.destination)} | {_cell(c.traffic)} | {reasons} |")
            lines.append("")
    if not outcome.changes:
        lines.append("No traffic is opened or closed.")
    common.write_out("\n".join(lines).rstrip("\n") + "\n")


# ------------------------------------------------------------------------------------------------ sarif


def _sarif(outcome: Outcome) -> None:
    from cloudports.findings import Findings, Rule
    from cloudports.sarif import to_sarif

    findings = Findings(Path(outcome.new))
    findings.add(outcome.exposures, Rule("", "", ""))  # each exposure carries its lint rule and its place
    common.write_out(json.dumps(to_sarif(findings), indent=2) + "\n")
