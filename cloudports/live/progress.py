"""Progress of a live command's writes, reported by whichever backend does them and shown by the CLI.

A backend calls `step(group)` after each write call it makes (the group, NSG or rule it touched); the CLI
installs a reporter around `apply`/`destroy` that advances its progress bar. Without a reporter (tests, the
library used directly, a pipe) a step costs one context-variable lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, int], None]

_reporter: ContextVar[Reporter | None] = ContextVar("cloudports_progress", default=None)


def step(what: str, changes: int = 1) -> None:
    """One write call done, on `what` (e.g. a security group's or NSG rule's name), carrying out `changes` of
    the plan's changes (a call may carry a batch of rules)."""
    report = _reporter.get()
    if report is not None:
        report(what, changes)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
