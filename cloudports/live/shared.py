"""What the specs of one fleet command share: a cloud client, one read of a VPC or resource group.

`drift FOLDER` of a hundred labs in one VPC would otherwise list that VPC a hundred times. While sharing() is on
(live/fleet.py turns it on for one command), shared(key, make) makes each key's object once and hands every later
caller that same object; a backend keys it by where it reads (account, region, VPC; subscription, resource
group). Outside a fleet command nothing is shared: a single spec, and apply, always read the cloud afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from cloudports.errors import CloudportsError, Diagnostic

T = TypeVar("T")

# The worker threads of a fleet run in copies of the caller's context (copy_context), so they see the same dict.
_SHARED: ContextVar[dict[Hashable, Any] | None] = ContextVar("cloudports_shared", default=None)
_LOCK = threading.Lock()


@contextmanager
def sharing() -> Iterator[None]:
    """Share clients and reads between the specs read inside this block (one fleet command)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def shared(key: Hashable, make: Callable[[], T]) -> T | None:
    """key's object, made once by make() while sharing() is on; None outside sharing() (the caller reads alone).
    A make() that raises leaves nothing behind: the next caller tries again."""
    found = _SHARED.get()
    if found is None:
        return None
    with _LOCK:  # make() is cheap (a client, an empty snapshot): the reads themselves happen later, each once
        if key not in found:
            found[key] = make()
        return found[key]


class ReadOnce:
    """A snapshot's reads: each made once, by the first spec that asks while the others wait for it, and handed
    to every later caller; a failed read too (each spec is told the same failure, for one API call)."""

    def __init__(self) -> None:
        # re-entrant: one read may ask for another (all rules need all groups' IDs) while holding it
        self._lock = threading.RLock()
        self._read: dict[Hashable, tuple[float, Any]] = {}  # what -> (when the read started, what it returned)

    def __call__(self, what: Hashable, read: Callable[[], T], since: float | None = None) -> T:
        """What read() returns, read once; `since` (time.monotonic()): only a read started then or later will do
        (a spec that waits for a write to finish must see the cloud after the write)."""
        with self._lock:
            found = self._read.get(what)
            if found is None or (since is not None and found[0] < since):
                started = time.monotonic()
                try:
                    found = (started, read())
                except CloudportsError as exc:
                    # the diagnostics only: the exception's traceback would keep the failed read's frames alive
                    found = (started, _Failed(list(exc.diagnostics)))
                self._read[what] = found
        if isinstance(found[1], _Failed):
            raise CloudportsError(found[1].diagnostics)
        return found[1]


class _Failed:
    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
