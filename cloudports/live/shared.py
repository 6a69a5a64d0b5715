"""What the specs of one fleet command share: a cloud client, one read of a VPC or resource group.

`drift FOLDER` of a hundred labs in one VPC would otherwise list that VPC a hundred times. While sharing() is on
(live/fleet.py turns it on for one command), shared(key, make) makes each key's object once and hands every later
caller that same object; a backend keys it by where it reads (account, region, VPC; subscription, resource
group). Outside a fleet command nothing is shared: a single spec, and apply, always read the cloud afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

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
        return found[key]  # type: ignore[no-any-return]
