"""Descriptions AWS accepts on security groups and rules."""

from __future__ import annotations

import re

from cloudports.targets.text import truncate

# AWS security group and rule descriptions: a-z A-Z 0-9 space ._-:/()#,@[]+=&;{}!$*  (max 255)
_AWS_DESC_BAD = re.compile(r"[^a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]")


_SPACES = re.compile(r"\s+")


def aws_description(text: str, limit: int = 255) -> str:
    cleaned = _AWS_DESC_BAD.sub("", text.replace("'", "").replace('"', "").replace("->", "to"))
    return truncate(_SPACES.sub(" ", cleaned).strip(), limit)
