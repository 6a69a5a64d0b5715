"""The position tree: plain dicts and lists that also know where each key, value and item was written."""

from __future__ import annotations

from typing import Any

from cloudports.errors import Loc

# __slots__: no per-instance __dict__ next to the mapping's own storage; a large spec has one or two per flow.

# Where a key, value or item was written in its tree's file: (line, column), 1-based. A Loc is made of it only when
# a position is asked for (yamlpos.locate, key_loc), mostly for a message: a large spec has about ten positions
# per flow and a loader asks for two or three.
Pos = tuple[int, int]


class PosDict(dict):
    """A mapping that knows the position of itself, of each key and of each value."""

    __slots__ = ("loc", "key_locs", "value_locs")
    loc: Loc
    key_locs: dict[Any, Pos]
    value_locs: dict[Any, Pos]


class PosList(list):
    """A sequence that knows the position of itself and of each item."""

    __slots__ = ("loc", "item_locs")
    loc: Loc
    item_locs: list[Pos]
