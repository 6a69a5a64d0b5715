"""How every command's help and conventions look: -h, --version/-V, and help without Python type names.

typer 0.29 shows each parameter's Python type in help (`<bool>` on flags and on --help itself, `<list[str]>`,
`<path>`, `{spec}` around a required argument in the usage line). Users should see what to type: `SPEC`,
`NAME=VALUE`, `table|json`, nothing after a flag. The command classes below tidy every parameter once, when
click asks for them, so that no declaration has to remember it.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from cloudports import __version__

# typer vendors click under a private module name in recent versions: its usage error, reached through a public class
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

HELP_OPTION_NAMES = ["-h", "--help"]
# Help is click's plain formatter (the app sets rich_markup_mode=None): typer's rich one imports rich, markdown-it
# and pygments, about half of what `cloudports --help` took. Lines follow the terminal up to 120 columns (click's
# own cap is 80; rich used the whole width).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": HELP_OPTION_NAMES, "max_content_width": 120}


class _Argument(TyperArgument):
    """An argument shown by its metavar alone: `SPEC` in the usage line and the table, never `{spec}` or <path>."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"


def _show_version(ctx: Any, _param: Any, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        typer.echo(f"cloudports {__version__}")
        ctx.exit()


def _version_option() -> TyperOption:
    """--version/-V, eager like --help: it answers before any required argument is asked for."""
    from typer._coercion import bool_flag_type_descriptor  # the type typer gives its own --help flag

    return TyperOption(
        param_decls=["--version", "-V"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        help="Show the cloudports version and exit.",
        callback=_show_version,
        type_descriptor=bool_flag_type_descriptor(),
        metavar="",
    )


def _choices(param: TyperOption) -> list[str]:
    desc = param.type_descriptor
    return [str(getattr(c, "value", c)) for c in (desc.choices or ())] if desc.is_choice else []


def tidy(param: Any) -> None:
    """Give a parameter a metavar a user can read, unless its declaration chose one."""
    if isinstance(param, TyperOption) and param.is_flag and param.default is None and not param.expose_value:
        # typer's own --install-completion and --show-completion: absent, they are None, which typer coerces to a
        # bool through pydantic, imported for that alone (a third of `cloudports version`). Absent means False.
        param.default = False
    if isinstance(param, TyperArgument):
        param.__class__ = _Argument  # same fields, two display methods changed (typer offers no hook for these)
        param.metavar = param.metavar or (param.name or "").upper()
    elif isinstance(param, TyperOption) and param.metavar is None:
        if param.is_flag or param.count:
            param.metavar = ""  # a flag takes no value: nothing to show after it
        else:
            param.metavar = "|".join(_choices(param)) or (param.name or "value").upper()


class _Conventions:
    """-h and --version on every command, help without type names (mixed into typer's command classes)."""

    _tidied: list[Any] | None = None

    help: str | None
    short_help: str | None

    def get_short_help_str(self, limit: int = 45) -> str:
        """A command's line in its group's list: the whole first paragraph of its help (click cuts it to about
        45 characters and adds "..."; the list wraps long lines instead)."""
        if self.short_help or not self.help:
            return super().get_short_help_str(limit)  # type: ignore[misc]
        return " ".join(self.help.split("\n\n")[0].split())

    def get_params(self, ctx: Any) -> list[Any]:
        if self._tidied is None:
            # one list, kept: click orders eager callbacks by object identity, so the options must not be rebuilt
            params = [*super().get_params(ctx), _version_option()]  # type: ignore[misc]
            for param in params:
                tidy(param)
            self._tidied = params
        return self._tidied


class Command(_Conventions, TyperCommand):
    pass


class Group(_Conventions, TyperGroup):
    pass


class LazyGroup(Group):
    """A group whose commands are imported when used: `commands_table` names, per command, the module of
    cloudports.cli that declares it (in its COMMANDS) and the command's line in the group's help, so that listing
    the commands imports none of them."""

    commands_table: ClassVar[dict[str, tuple[str, str]]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands_table)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.commands_table:
            module = importlib.import_module(f"cloudports.cli.{self.commands_table[cmd_name][0]}")
            function = next(f for f in module.COMMANDS if f.__name__ == cmd_name)
            info = typer.models.CommandInfo(name=cmd_name, callback=function, cls=Command)
            self.commands[cmd_name] = typer.main.get_command_from_info(
                info, pretty_exceptions_short=True, rich_markup_mode=None
            )
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except _UsageError as exc:  # typer suggests only among the commands already loaded: suggest from all
            matches = difflib.get_close_matches(args[0], list(self.commands_table)) if args else []
            message: str = exc.message  # type: ignore[attr-defined]
            if matches and "Did you mean" not in message:
                exc.message = f"{message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"  # type: ignore[attr-defined]
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, summary) for name, (_module, summary) in self.commands_table.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
