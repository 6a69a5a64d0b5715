"""Command-line parameter overrides (`--var name=value`)."""

from __future__ import annotations

from cloudports.errors import SpecError


def parse_var_options(items: list[str]) -> dict[str, str]:
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"--var {item!r}: expected name=value, e.g. --var d365_web_port=5555")
        result[name.strip()] = value.strip()
    return result
