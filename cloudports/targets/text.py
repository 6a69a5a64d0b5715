"""Names and descriptions that each cloud accepts (character sets and lengths differ)."""

from __future__ import annotations

import hashlib
import re

# AWS security group and rule descriptions: a-z A-Z 0-9 space ._-:/()#,@[]+=&;{}!$*  (max 255)
_AWS_DESC_BAD = re.compile(r"[^a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]")
_AZURE_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def aws_description(text: str, limit: int = 255) -> str:
    cleaned = _AWS_DESC_BAD.sub("", text.replace("'", "").replace('"', "").replace("->", "to"))
    return truncate(re.sub(r"\s+", " ", cleaned).strip(), limit)


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
