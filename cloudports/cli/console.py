"""The standard streams as the commands write them: rich consoles, made on first use, and plain writes.

This module imports neither typer nor rich nor any target, so that the entry point (cli/__init__.py) can answer
errors and a reader gone away without loading what a command would.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


# The consoles are made on first use: rich.console takes about 40 ms to import, which `--help` and the commands
# that print nothing through rich should not pay.


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
def out() -> Console:
    Console = _console_class()

    # A pipe gets 200 columns (long lines stay whole for grep), unless COLUMNS says otherwise: then tables wrap
    # to it. emoji=False: rich would print the ":100:" of 2001:db8:100::/48 (or any ":name:" in a CIDR, key or
    # description) as an emoji.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    return Console(soft_wrap=True, width=width, emoji=False)


@cache
def err() -> Console:
    return _console_class()(stderr=True, soft_wrap=True, emoji=False)
