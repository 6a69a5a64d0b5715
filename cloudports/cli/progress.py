"""A progress line on stderr while a live command waits for the cloud: only on a terminal, only when slow.

Pipes, files and tests see nothing (stderr is not a terminal), so output that scripts read is unchanged; a
terminal sees the line only after DELAY seconds, so that quick commands do not flicker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cloudports.live.progress import reporting

DELAY = 0.5  # seconds before the line appears


def _progress(console: Console, counted: bool) -> Progress:
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if counted:
        columns += [BarColumn(), MofNCompleteColumn()]
    return Progress(*columns, TimeElapsedColumn(), console=console, transient=True)


@contextmanager
def _shown_late(progress: Progress) -> Iterator[None]:
    lock = threading.Lock()
    state = {"stopped": False}

    def start() -> None:
        with lock:
            if not state["stopped"]:
                progress.start()

    timer = threading.Timer(DELAY, start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["stopped"] = True
            progress.stop()


@contextmanager
def waiting(console: Console, what: str) -> Iterator[None]:
    """A spinner with `what` (e.g. "reading live state") while the block runs."""
    if not console.is_terminal:
        yield
        return
    progress = _progress(console, counted=False)
    progress.add_task(what, total=None)
    with _shown_late(progress):
        yield


@contextmanager
def writing_progress(console: Console, what: str, total: int) -> Iterator[None]:
    """A bar of the write calls done out of `total` (the plan's changes), naming the group written last.

    The total is the plan's number of changes; a backend may make more or fewer calls than that (batches, a
    group and its rules), so the count is capped at the total and the bar completes when the block ends."""
    if not console.is_terminal:
        yield
        return
    progress = _progress(console, counted=True)
    task = progress.add_task(what, total=total)

    def advance(group: str, changes: int) -> None:
        done = min(progress.tasks[0].completed + changes, total)
        progress.update(task, completed=done, description=f"{what}: {group}")

    with _shown_late(progress), reporting(advance):
        yield
        progress.update(task, completed=total)
