"""A small HCL writer for data (locals and module arguments) whose output `terraform fmt` leaves unchanged.

fmt aligns '=' across runs of consecutive single-line attributes; a line that opens a multi-line value ends a
run and is not aligned itself. The writer follows exactly that rule, so generated files pass `fmt -check`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from cloudports.gcpause import gc_paused

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
INDENT = "  "


@dataclass(frozen=True)
class Raw:
    """An HCL expression written as-is (a reference such as var.vpc_id)."""

    expr: str


def string(value: str) -> str:
    # JSON escaping is valid HCL escaping; template sequences must be escaped so text stays literal.
    # encode_basestring is what json.dumps(value, ensure_ascii=False) runs for a str, without building an encoder
    # per call (a third of the writer's time on 10,000 rules).
    text = encode_basestring(value)
    return text.replace("${", "$${").replace("%{", "%%{") if "{" in text else text


def key(name: str) -> str:
    return name if _IDENT.match(name) else string(name)


def _scalar(value: Any) -> str | None:
    if type(value) is str:  # most values are strings: tested first
        return string(value)
    if isinstance(value, Raw):
        return value.expr
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return string(value)
    return None


def _inline(value: Any) -> str | None:
    """Single-line form for scalars, empty collections and short lists of scalars."""
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, (list, tuple)):
        items = [_scalar(v) for v in value]
        if all(i is not None for i in items):
            text = "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
            if len(text) <= 100:
                return text
    return None


def _inline_values(items: dict[str, Any]) -> list[str] | None:
    """Every value of a mapping in its single-line form, or None when one needs several lines."""
    values = []
    for value in items.values():  # once per attribute of every rule: kept lean
        kind = type(value)
        inline = string(value) if kind is str else str(value) if kind is int else _inline(value)
        if inline is None:
            return None
        values.append(inline)
    return values


def _template(items: dict[str, Any], level: int) -> str:
    """A str.format template for a mapping of single-line values: its keys aligned, a field for each value."""
    pad = INDENT * level
    keys = [key(name) for name in items]
    width = max(map(len, keys), default=0)
    return "\n".join(f"{pad}{k.ljust(width)} = ".replace("{", "{{").replace("}", "}}") + "{}" for k in keys)


# Layouts of the mappings whose values all fit on one line (every rule, every tag map), by indentation level and
# keys: a large root has thousands of such mappings but only a few layouts, each worked out (keys quoted or not,
# aligned) once per block.
_Layouts = dict[tuple[Any, ...], str]


def _body(items: dict[str, Any], level: int, layouts: _Layouts) -> str:
    """The lines of `name = value` attributes at an indentation level, aligned the way fmt aligns them."""
    values = _inline_values(items)
    if values is not None:  # one run of single-line attributes
        shape = (level, *items)
        template = layouts.get(shape)
        if template is None:
            template = layouts[shape] = _template(items, level)
        return template.format(*values)
    lines: list[str] = []
    run: list[tuple[str, str]] = []  # the current run of single-line attributes, aligned together
    pad = INDENT * level
    for name, value in items.items():
        k = key(name)
        inline = _inline(value)
        if inline is not None:
            run.append((k, inline))
            continue
        _flush(lines, pad, run)
        lines.append(f"{pad}{k} = {_multiline(value, level, layouts)}")
    _flush(lines, pad, run)
    return "\n".join(lines)


def _flush(lines: list[str], pad: str, run: list[tuple[str, str]]) -> None:
    if run:
        width = max(len(k) for k, _ in run)
        lines.extend(f"{pad}{k.ljust(width)} = {v}" for k, v in run)
        run.clear()


def _multiline(value: Any, level: int, layouts: _Layouts) -> str:
    pad = INDENT * level
    if isinstance(value, dict):
        return "{\n" + _body(value, level + 1, layouts) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)):
        inner = INDENT * (level + 1)
        parts = []
        for item in value:
            inline = _inline(item)
            parts.append(f"{inner}{inline if inline is not None else _multiline(item, level + 1, layouts)},")
        return "[\n" + "\n".join(parts) + f"\n{pad}]"
    raise TypeError(f"cannot render {type(value).__name__} as HCL")


@gc_paused()  # builds a large acyclic structure: see gcpause
def block(header: str, items: dict[str, Any], level: int = 0) -> str:
    pad = INDENT * level
    return f"{pad}{header} {{\n" + _body(items, level + 1, {}) + f"\n{pad}}}\n"
