"""What every command shares: consoles, the options declared once, compiling with warnings shown."""

from __future__ import annotations

import os
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cloudports.cli import console
from cloudports.cli.console import ReaderGone as ReaderGone  # re-exported: the commands write through common
from cloudports.cli.console import write_out as write_out
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets import registry

if TYPE_CHECKING:
    from rich.console import Console

    from cloudports.compile import CompiledPolicy
    from cloudports.targets.base import Target


# The consoles are made on first use (cli/console.py). Other modules read them as `common.out` / `common.err` when a
# command runs (module __getattr__, PEP 562); `from cloudports.cli.common import out` at import would make one.


def __getattr__(name: str) -> Console:
    if name == "out":
        return console.out()
    if name == "err":
        return console.err()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Format(StrEnum):
    table = "table"
    json = "json"


def _known_target(name: str) -> str:
    registry.get(name)  # raises a CloudportsError naming the targets there are
    return name


TARGET_METAVAR = "|".join(registry.names())  # what help shows after --target: the names, not <str>
SpecArg = Annotated[Path, typer.Argument(help="Topology spec (YAML)", show_default=False)]
TargetOpt = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        help=f"Target cloud: {', '.join(registry.names())}",
        metavar=TARGET_METAVAR,
        callback=_known_target,
        autocompletion=registry.names,
        show_default=False,
    ),
]
VarOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--var", help="Override a parameter: name=value (repeatable)", show_default=False, metavar="NAME=VALUE"
    ),
]
PhaseOpt = Annotated[str | None, typer.Option("--phase", help="Also include flows of this phase (e.g. setup)")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format")]
LiveOpt = Annotated[
    bool, typer.Option("--live", help="Judge what the live cloud holds, read as drift reads it (needs one --target)")
]


def one_live_target(command: str) -> CloudportsError:
    hint = "add --target aws or --target azure"
    return CloudportsError([Diagnostic(None, f"{command} --live reads one cloud", hint)])


def warn(diagnostics: Iterable[Diagnostic]) -> None:
    for d in diagnostics:
        console.say((d.render(), "yellow"), stderr=True)


# The pipeline (spec loader, pydantic schema, compiler) is imported by the commands that run it, not when the
# CLI starts: `--help` and the commands without a spec need none of it.


def compile_policy(spec: Path, var: list[str] | None, phase: str | None) -> CompiledPolicy:
    from cloudports.pipeline import compile_spec
    from cloudports.spec.variables import parse_var_options

    policy = compile_spec(spec, parse_var_options(var), phase)
    warn(policy.warnings)
    return policy


def for_target(policy: CompiledPolicy, name: str, show_widening: bool = True) -> Target[Any, Any]:
    """The target, after refusing what it cannot express and showing what it widens (ICMP types on Azure, ...).
    show_widening=False where the answer itself says it (query's reasons, verify's known limitations) or where
    it is beside the point (drift): the warnings belong where rules are made (validate, show, emit, plan, apply)."""
    from cloudports.pipeline import prepare

    target, warnings = prepare(policy, name)
    if show_widening:
        warn(warnings)
    return target


def shorter(text: str) -> str:
    """Spec paths under the working directory, relative: a table cell in 80 columns has no room for /home/..."""
    return text.replace(f"{Path.cwd()}{os.sep}", "")


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from cloudports.live.report import add_columns, fits, headings_fit

    columns = [c for c in (rows[0].keys() if rows else ()) if c != "key"]
    table = Table(title=title)
    add_columns(table, columns, console.out())
    for row in rows:
        table.add_row(*(shorter(str(row[c])) for c in columns))
    if headings_fit(columns, console.out()) and fits(table, console.out()):
        console.out().print(table, soft_wrap=False)  # the console soft-wraps text; a table must wrap its cells
    else:  # too many columns for the terminal: one block per row, field by field
        _print_records(title, columns, rows)


def _print_records(title: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    console.out().print(title, markup=False, highlight=False)
    for row in rows:
        record = Table.grid(padding=(0, 2))
        record.add_column(style="bold", no_wrap=True)
        record.add_column(overflow="fold")
        for col in columns:
            record.add_row(col, shorter(str(row[col])))
        console.out().print()
        console.out().print(record)
