"""Which targets exist: the built-in clouds plus any a package registers under the entry-point group
``cloudports.targets``. Adding a built-in cloud is one line in BUILTIN.

Targets are imported on first use, so a command that needs one cloud never loads another cloud's SDK. This
module imports nothing of cloudports at module level, so any layer (the spec loader included) may ask it.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from cloudports.errors import CloudportsError, Diagnostic, did_you_mean

if TYPE_CHECKING:
    from cloudports.targets.base import Target
    from cloudports.targets.declarations import Option

ENTRY_POINT_GROUP = "cloudports.targets"

# name -> module whose TARGET attribute is the Target instance
BUILTIN = {
    "aws": "cloudports.targets.aws",
    "azure": "cloudports.targets.azure",
}

_loaded: dict[str, Target] = {}
_registered: dict[str, Target] = {}  # added at run time (plugins under test, throw-away targets)


@cache  # scanning the installed packages' entry points costs about 10 ms; the CLI asks several times
def _sources() -> dict[str, str]:
    # imported here: importlib.metadata (and the email package it parses metadata with) is a fifth of what
    # `cloudports --help` would cost, and only commands that name or list targets need it
    from importlib.metadata import entry_points

    found = dict(BUILTIN)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, point.value)
    return found


def names() -> tuple[str, ...]:
    return tuple(sorted({*_sources(), *_registered}))


def get(name: str) -> Target:
    if name in _registered:
        return _registered[name]
    if name not in _loaded:
        sources = _sources()
        if name not in sources:
            raise CloudportsError([Diagnostic(None, f"unknown target '{name}'", did_you_mean(name, names()))])
        module_name, _, attr = sources[name].partition(":")
        _loaded[name] = getattr(importlib.import_module(module_name), attr or "TARGET")
    return _loaded[name]


def options(name: str) -> tuple[Option, ...]:
    """A target's live-command options. A built-in target declares them in its options.py, read without loading
    the target (and pydantic with it), so that every command, `--help` included, can offer them cheaply."""
    if name in _registered or name in _loaded or name not in BUILTIN:
        return get(name).options
    found: tuple[Option, ...] = importlib.import_module(f"{BUILTIN[name]}.options").OPTIONS
    return found


def import_options(name: str) -> tuple[Option, ...]:
    """A target's further options of `cloudports import` (what to import), read like options()."""
    if name in _registered or name in _loaded or name not in BUILTIN:
        return get(name).import_options
    found: tuple[Option, ...] = getattr(importlib.import_module(f"{BUILTIN[name]}.options"), "IMPORT_OPTIONS", ())
    return found


def all_targets() -> list[Target]:
    return [get(name) for name in names()]


def register(target: Target) -> None:
    """Make a target available under target.name (for plugins that are not installed as a package, and tests)."""
    _registered[target.name] = target


def unregister(name: str) -> None:
    _registered.pop(name, None)
