"""Pausing Python's cyclic garbage collector while a stage builds large, acyclic structures.

Loading and compiling a spec allocate hundreds of thousands of small objects (values with positions, flows,
rules) that all stay alive until the stage ends. Each collector pass walks every tracked object of its
generations, so passes over a growing heap cost more and more: with the collector paused, loading and compiling
10,000 flows took about 40 % less time. The objects have no reference cycles (reference counting frees them),
so nothing is lost by not looking for cycles meanwhile; the previous state is restored afterwards, and a pause
inside a pause leaves it to the outer one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Usable as `with gc_paused():` or as a decorator."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
