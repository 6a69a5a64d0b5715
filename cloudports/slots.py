"""Making many small frozen objects fast: the slots' own setters, for a frozen slotted dataclass's __init__.

The __init__ that dataclasses generates for a frozen class sets each field through object.__setattr__ by name,
about 1.5 us for a 9-field rule; a large spec makes hundreds of thousands of positions, ports, flows and rules.
A slotted class's member descriptors set a field directly (about 0.9 us for the same rule), and its instances
keep the fast attribute reads and the small size of slots (a class's own __dict__ written at init made every
later read of the object several times slower).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of the named slots of a (frozen, slotted) dataclass, in the order given."""
    return tuple(cls.__dict__[name].__set__ for name in names)
