"""Names and descriptions Azure accepts on NSG rules and ASGs."""

from __future__ import annotations

import re

from cloudports.targets.text import short_hash, truncate

_AZURE_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def azure_description(text: str, limit: int = 140) -> str:
    return truncate(re.sub(r"\s+", " ", text).strip(), limit)


def azure_name(text: str, limit: int = 80) -> str:
    """Azure resource names: start with a word char, end with a word char or '_', at most 80 chars.

    Over-long names keep a readable head plus a hash of the whole, so they stay unique and stable.
    """
    name = _AZURE_NAME_BAD.sub("-", text).strip(".-") or "x"
    if len(name) > limit:
        name = name[: limit - 9].rstrip(".-") + "-" + short_hash(text)
    return name
