"""The `cloudports` command line: one module per command group, options shared through cli/common.py.

Exit codes: 0 ok; 1 error (including usage errors); 2 "changes present" for `plan --detailed-exitcode` and
`drift`, as Terraform does, and "differences found" for `verify`; 3 "denied" for `query`; 141 when the reader of
stdout went away (`| head`), as for a tool killed by SIGPIPE. Bad input never prints a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from cloudports.cli import (
    common,
    compile_commands,
    diff_commands,
    graph_commands,
    import_commands,
    info_commands,
    live_commands,
    query_commands,
    verify_commands,
)
from cloudports.cli.help import CONTEXT_SETTINGS, Command, Group
from cloudports.errors import CloudportsError

app = typer.Typer(
    name="cloudports",
    help="Compile a topology spec into cloud firewall rules; emit Terraform, apply, detect drift.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # click's plain help: see cli/help.py
    cls=Group,
    context_settings=CONTEXT_SETTINGS,
)
for _command in (
    *compile_commands.COMMANDS,
    *graph_commands.COMMANDS,
    *query_commands.COMMANDS,
    *verify_commands.COMMANDS,
    *diff_commands.COMMANDS,
    *info_commands.COMMANDS,
    *live_commands.COMMANDS,
    *import_commands.COMMANDS,
):
    app.command(name=_command.__name__, cls=Command)(_command)

# typer's click exceptions (usage errors) share this base; reached through a public class, since typer vendors
# click under a private module name in recent versions.
_ClickException: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to exit 1 (usage errors too: 2 means 'changes present')."""
    try:
        result = app(args=argv, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        if exc.exit_code == 130:  # typer's answer to Ctrl-C outside cloudports' writes (which say more)
            common.err.print("interrupted; nothing was changed")
        return exc.exit_code
    except CloudportsError as exc:
        for d in exc.diagnostics:
            common.err.print(d.render(), style="red", markup=False, highlight=False)
        return exc.exit_code
    except _ClickException as exc:
        exc.show()  # type: ignore[attr-defined]
        return 1
    except common.ReaderGone:
        # `| head` has what it wanted: exit as a tool killed by SIGPIPE does, with stdout on /dev/null so that
        # the interpreter's last flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (typer.Abort, KeyboardInterrupt):
        common.err.print("aborted")
        return 1
    except OSError as exc:
        common.err.print(f"error: {exc}", style="red", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
