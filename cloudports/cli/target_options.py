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


def _declared() -> dict[str, tuple[Option, list[str]]]:
    """option name -> (the option, the targets that declare it)."""
    found: dict[str, tuple[Option, list[str]]] = {}
    for name in registry.names():
        for option in registry.options(name):
            found.setdefault(option.name, (option, []))[1].append(name)
    return found


def with_target_options(func: Callable[..., None]) -> Callable[..., None]:
    """Adds every target's options to a command; the command receives them as `target_options`."""
    declared = _declared()
    params = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "target_options"]
    for name, (option, owners) in declared.items():
        info = typer.Option(option.flag, help=f"{', '.join(owners)}: {option.help}", show_default=False)
        annotation = Annotated[bool, info] if option.is_flag else Annotated[str | None, info]
        default = False if option.is_flag else None
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))

    @functools.wraps(func)
    def command(**kwargs: Any) -> None:
        given = {name: _value(kwargs.pop(name)) for name in declared}
        func(**kwargs, target_options=given)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command


def _value(given: str | bool | None) -> str | None:
    """Flags arrive as True/False: given ("true") or not (None), like an option without a value."""
    if isinstance(given, bool):
        return "true" if given else None
    return given


def options_for(target: Target[Any, Any], given: Mapping[str, str | None]) -> TargetOptions:
    """The options of the chosen target; refuses options that belong only to other targets."""
    own = {o.name: o for o in target.options}
    declared = _declared()
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
