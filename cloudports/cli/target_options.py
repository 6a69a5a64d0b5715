"""Each target's live options (e.g. --vpc-id), declared once by the target and offered by every live command.

An option given for another target than the one chosen is an error, not silently ignored.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets import registry
from cloudports.targets.declarations import Option

if TYPE_CHECKING:
    from cloudports.targets.base import Target

TargetOptions = dict[str, str | None]


def _own(name: str, reading: bool = False, importing: bool = False) -> list[Option]:
    """A target's options offered by one kind of command (read without loading the target)."""
    found = [o for o in registry.options(name) if not (reading and o.writes_only)]
    return found + list(registry.import_options(name) if importing else ())


def _declared(reading: bool = False, importing: bool = False) -> dict[str, tuple[Option, list[str]]]:
    """option name -> (the option, the targets that declare it); reading: without the options for writes;
    importing: with the options of `import`."""
    found: dict[str, tuple[Option, list[str]]] = {}
    for name in registry.names():
        for option in _own(name, reading, importing):
            found.setdefault(option.name, (option, []))[1].append(name)
    return found


def _annotation(option: Option, owners: list[str]) -> Any:
    info = typer.Option(
        option.flag, help=f"{', '.join(owners)}: {option.help}", show_default=False, metavar=option.metavar
    )
    if option.is_flag:
        return Annotated[bool, info]
    return Annotated[list[str] | None, info] if option.repeatable else Annotated[str | None, info]


def with_target_options(func: Callable[..., Any], reading: bool = False, importing: bool = False) -> Callable[..., Any]:
    """Adds every target's options to a command; the command receives them as `target_options`.
    reading: a command that never writes, offered no option that only matters to writes."""
    declared = _declared(reading, importing)
    params = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "target_options"]
    for name, (option, owners) in declared.items():
        annotation = _annotation(option, owners)
        default = False if option.is_flag else None
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        given = {name: _value(kwargs.pop(name)) for name in declared}
        return func(**kwargs, target_options=given)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command


def _value(given: str | bool | list[str] | None) -> str | None:
    """Flags arrive as True/False: given ("true") or not (None), like an option without a value; repeated
    options as lists, passed on joined by ","."""
    if isinstance(given, bool):
        return "true" if given else None
    if isinstance(given, list):
        return ",".join(given) or None
    return given


def options_for(target: Target[Any, Any], given: Mapping[str, str | None], importing: bool = False) -> TargetOptions:
    """The options of the chosen target; refuses options that belong only to other targets."""
    own = {o.name: o for o in _own(target.name, importing=importing)}
    declared = _declared(importing=True)
    problems = [
        Diagnostic(
            None,
            f"{declared[name][0].flag} is an option of {' and '.join(declared[name][1])}; "
            f"it means nothing with --target {target.name}",
            "drop it, or choose that --target",
        )
        for name, value in given.items()
        if value is not None and name not in own
    ]
    if problems:
        raise CloudportsError(problems)
    return {name: given.get(name) for name in own}


def with_reading_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """with_target_options for commands that only read the cloud (query, verify)."""
    return with_target_options(func, reading=True)


def with_import_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """with_target_options for `import`: the reading options and what each target lets one choose to import."""
    return with_target_options(func, reading=True, importing=True)
