"""The position tree: plain dicts and lists that also know where each key, value and item was written."""

from __future__ import annotations

from typing import Any

from cloudports.errors import Loc

# __slots__: no per-instance __dict__ next to the mapping's own storage; a large spec has one or two per flow.


class PosDict(dict):
    """A mapping that knows the position of itself, of each key and of each value."""

    __slots__ = ("loc", "key_locs", "value_locs")
    loc: Loc
    key_locs: dict[Any, Loc]
    value_locs: dict[Any, Loc]


class PosList(list):
    """A sequence that knows the position of itself and of each item."""

    __slots__ = ("loc", "item_locs")
    loc: Loc
    item_locs: list[Loc]
