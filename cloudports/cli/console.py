"""The standard streams as the commands write them: rich consoles, made on first use, and plain writes.

This module imports neither typer nor rich nor any target, so that the entry point (cli/__init__.py) can answer
errors and a reader gone away without loading what a command would.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console


# The consoles are made on first use: rich.console takes about 40 ms to import, which `--help` and the commands
# that print nothing through rich should not pay.

Piece = str | tuple[str, str]  # text, or (text, style): what rich's Text.assemble takes

# What rich removes from text it prints (rich.control.STRIP_CONTROL_CODES: bell, backspace, vertical tab, form
# feed, carriage return), so that a line written without rich holds the same characters.
_STRIPPED = str.maketrans(dict.fromkeys((7, 8, 11, 12, 13)))


class ReaderGone(Exception):
    """The reader of stdout went away (`cloudports verify ... | head`): main() stops quietly (exit 141)."""


def write_out(text: str) -> None:
    """Plain text to stdout (a JSON document, a diagram), flushed here so that a reader gone is noticed here."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise ReaderGone from None


def say(*pieces: Piece, stderr: bool = False) -> None:
    """One line of text in pieces, some styled. Where rich would show no style (the stream is no terminal and
    no variable makes it one: rich.console.Console.is_terminal) the text is written as it is, without importing
    rich: a tenth of `validate` in a pre-commit hook or a CI job."""
    stream = sys.stderr if stderr else sys.stdout
    if _styled(stream):
        from rich.text import Text

        (err() if stderr else out()).print(Text.assemble(*pieces))
        return
    try:
        text = "".join(p if isinstance(p, str) else p[0] for p in pieces)
        stream.write(text.translate(_STRIPPED).expandtabs(8) + "\n")  # rich expands tabs to 8 columns too
    except BrokenPipeError:
        raise ReaderGone from None


def _styled(stream: TextIO) -> bool:
    """Whether rich prints styles to `stream`, as its Console.is_terminal decides."""
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "1"
    if "FORCE_COLOR" in os.environ:
        return os.environ["FORCE_COLOR"] != ""
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


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
