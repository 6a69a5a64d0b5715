"""The position tree: plain dicts and lists that also know where each key, value and item was written."""

from __future__ import annotations

from typing import Any

from cloudports.errors import Loc


class PosDict(dict):
    """A mapping that knows the position of itself, of each key and of each value."""

    loc: Loc
    key_locs: dict[Any, Loc]
    value_locs: dict[Any, Loc]


class PosList(list):
    """A sequence that knows the position of itself and of each item."""

    loc: Loc
    item_locs: list[Loc]
