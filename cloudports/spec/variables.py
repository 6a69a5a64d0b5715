"""`--var name=value` options: parsed here so that every problem names the option and says what would be right.

Parameters are only ever used as numbers in ports (`tcp/${name}`, `icmp/${type}`), so a value is checked to be
a whole number within the widest range a port field takes; the narrower ICMP range is checked where it is used.
"""

from __future__ import annotations

import difflib
import re

from cloudports.errors import Diagnostic, SpecError, did_you_mean
from cloudports.spec.schema import PARAM_PATTERN

_NAME = re.compile(PARAM_PATTERN)
PORT_MIN, PORT_MAX = 0, 65535


def option_label(item: str) -> str:
    """How an option is quoted in messages: --var 'name=value' (long values shortened)."""
    return f"--var {item[:60] + '...' if len(item) > 63 else item!r}"


def var_label(name: str, value: str) -> str:
    return option_label(f"{name}={value}")


def parse_var_options(items: list[str] | None) -> dict[str, str]:
    """`--var` options (name=value, repeatable) to a dict; raises SpecError naming every bad option."""
    result: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for item in items or []:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        shown = option_label(item)
        if not sep or not name:
            problems.append(Diagnostic(None, f"{shown}: expected name=value", "e.g. --var d365_web_port=5555"))
        elif not _NAME.match(name):
            problems.append(
                Diagnostic(
                    None,
                    f"{shown}: '{name[:40]}' is not a parameter name",
                    "names are letters, digits and '_' (not starting with a digit), e.g. --var app_port=8080",
                )
            )
        elif name in result and result[name] != value:
            problems.append(
                Diagnostic(None, f"{shown}: '{name}' is given twice", f"keep one of them (first: {result[name]!r})")
            )
        else:
            result[name] = value
    if problems:
        raise SpecError(problems)
    return result


def check_var_value(name: str, value: str) -> Diagnostic | None:
    """A problem with a --var value (not a whole number in the port range), or None when it can be used."""
    label = var_label(name, value)
    hint = f"parameters are port numbers or ICMP types/codes: give a whole number {PORT_MIN}-{PORT_MAX}"
    try:
        number = int(value)
    except ValueError:
        return Diagnostic(None, f"{label}: '{value[:40]}' is not a number", f"{hint}, e.g. --var {name}=8080")
    if not PORT_MIN <= number <= PORT_MAX:
        return Diagnostic(
            None, f"{label}: {number} is outside {PORT_MIN}-{PORT_MAX}", f"{hint}, e.g. --var {name}=8080"
        )
    return None


def unknown_var(name: str, value: str, known: list[str]) -> Diagnostic:
    """--var for a parameter nobody declares: did-you-mean, and the parameters that exist."""
    listing = did_you_mean("", known).removeprefix("known names: ") if known else "none are declared"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"the spec's parameters: {listing}"
    if close:
        hint = did_you_mean(name, close) + " " + hint
    return Diagnostic(None, f"{var_label(name, value)}: no such parameter '{name}'", hint)
