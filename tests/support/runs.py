"""Which run this is: the quick one a change needs (`python -m pytest`) or the full one CI makes (`--full`).

The property tests that run in both draw all their examples in the full run and a third of them in the quick run
(at least one): the quick run stays within its few minutes, and CI still searches as widely as before.
"""

from __future__ import annotations

FULL = False  # set by tests/conftest.py from --full before any test module is imported


def examples(full: int) -> int:
    """A property test's max_examples: `full` in the full run, a third of it in the quick run."""
    return full if FULL else max(1, full // 3)
