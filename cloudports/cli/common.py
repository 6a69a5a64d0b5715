"""What every command shares: consoles, the options declared once, compiling with warnings shown."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets import registry

if TYPE_CHECKING:
    from rich.console import Console

    from cloudports.compile import CompiledPolicy
    from cloudports.targets.base import Target


# The consoles are made on first use: rich.console takes about 40 ms to import, which `--help` and the commands
# that print nothing through rich should not pay. Other modules read them as `common.out` / `common.err` when a
# command runs (module __getattr__, PEP 562); `from cloudports.cli.common import out` at import would make one.


class ReaderGone(Exception):
    """The reader of stdout went away (`cloudports verify ... | head`): main() stops quietly (exit 141)."""


def write_out(text: str) -> None:
    """Plain text to stdout (a JSON document, a diagram), flushed here so that a reader gone is noticed here."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise ReaderGone from None


@cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class QuietWhenReaderGone(Console):
        def on_broken_pipe(self) -> None:  # rich's own answer is SystemExit(1): an error, which this is not
            self.quiet = True
            raise ReaderGone

    return QuietWhenReaderGone


@cache
def _out() -> Console:
    Console = _console_class()

    # A pipe gets 200 columns (long lines stay whole for grep), unless COLUMNS says otherwise: then tables wrap
    # to it. emoji=False: rich would print the ":100:" of 2001:db8:100::/48 (or any ":name:" in a CIDR, key or
    # description) as an emoji.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    return Console(soft_wrap=True, width=width, emoji=False)


@cache
def _err() -> Console:
    return _console_class()(stderr=True, soft_wrap=True, emoji=False)


def __getattr__(name: str) -> Console:
    if name == "out":
        return _out()
    if name == "err":
        return _err()
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
        _err().print(d.render(), style="yellow", markup=False, highlight=False)


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
    add_columns(table, columns, _out())
    for row in rows:
        table.add_row(*(shorter(str(row[c])) for c in columns))
    if headings_fit(columns, _out()) and fits(table, _out()):
        _out().print(table, soft_wrap=False)  # the console soft-wraps text; a table must wrap its cells
    else:  # too many columns for the terminal: one block per row, field by field
        _print_records(title, columns, rows)


def _print_records(title: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    _out().print(title, markup=False, highlight=False)
    for row in rows:
        record = Table.grid(padding=(0, 2))
        record.add_column(style="bold", no_wrap=True)
        record.add_column(overflow="fold")
        for col in columns:
            record.add_row(col, shorter(str(row[col])))
        _out().print()
        _out().print(record)
