"""The imported spec as YAML people read: the usual section order, and a comment block at the top listing
everything that could not be expressed exactly (also printed on stderr)."""

from __future__ import annotations

import re
from typing import Any

import yaml

_NAME_BAD = re.compile(r"[^a-z0-9-]+")


def valid_name(text: str, fallback: str = "imported") -> str:
    """A spec name (role, network, topology) from anything: lower case, letters, digits and '-'."""
    name = _NAME_BAD.sub("-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:40].strip("-")
    return name or fallback


def spec_text(spec: dict[str, Any], notes: list[str], target: str, source: str) -> str:
    """The spec as YAML under a header saying where it came from and how to check it: for the target it came from
    (validate alone checks every target, and another cloud may refuse what this one can say)."""
    lines = [
        f"# Imported by `cloudports import` from {target} ({source}).",
        f"# Check it: `cloudports validate -t {target}`, `cloudports plan --adopt`, `cloudports verify --live`.",
    ]
    if notes:
        lines += ["#", "# Not expressed exactly (review before applying):"]
        lines += [f"#   - {' '.join(note.split())}" for note in notes]
    body = yaml.safe_dump(spec, sort_keys=False, width=118, allow_unicode=True, default_flow_style=None)
    return "\n".join(lines) + "\n\n" + body
