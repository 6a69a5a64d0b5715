"""The `cloudports` command line: one module per command group, options shared through cli/common.py.

Exit codes: 0 ok; 1 error (including usage errors); 2 "changes present" for `plan --detailed-exitcode` and
`drift`, as Terraform does, and "differences found" for `verify`; 3 "denied" for `query`; 141 when the reader of
stdout went away (`| head`), as for a tool killed by SIGPIPE. Bad input never prints a traceback.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

import typer

from cloudports.cli import console
from cloudports.cli.help import CONTEXT_SETTINGS, LazyGroup
from cloudports.errors import CloudportsError

# Every command, in the order `cloudports --help` lists them: the module of cloudports.cli that declares it, and
# its line in that list (the first paragraph of its help; tests/test_cli_conventions.py checks they agree). A
# command's module is imported when the command runs or shows its help, so that each command pays only for what it
# uses and `cloudports --help` imports none of them.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "compile_commands",
        "Check specs (names, CIDRs, ports, parameters, exposure lint, every target's quotas and limits).",
    ),
    "show": ("compile_commands", "Show the compiled rules for one target, each with the spec line(s) it came from."),
    "emit": ("compile_commands", "Write a self-contained Terraform root module, with TOPOLOGY.md (diagram and flows)."),
    "graph": (
        "graph_commands",
        "Draw roles, networks and flows; phase flows dashed, flows the exposure lint marks in red. html: one"
        " self-contained interactive page (click a role for its flows and rules, filter, pan and zoom).",
    ),
    "query": (
        "query_commands",
        "May FROM open a connection to TO? Says which flows (spec file:line) or cloud rules decide it.",
    ),
    "verify": (
        "verify_commands",
        "Prove, over every address and port, that each target allows exactly what the spec's flows allow.",
    ),
    "diff": (
        "diff_commands",
        "The traffic that a change opens and closes: OLD and NEW specs, or with --live the live cloud against OLD.",
    ),
    "catalog": ("info_commands", "List the built-in service catalogs, or the services of one."),
    "schema": ("info_commands", "Print the JSON Schema of the spec format (for editor completion and checking)."),
    "version": ("info_commands", "Print the cloudports version."),
    "plan": (
        "live_commands",
        "Show what `apply` would change in the live cloud (several specs: one row each).",
    ),
    "apply": ("live_commands", "Make the live cloud match the spec (shows the plan and asks first)."),
    "drift": (
        "live_commands",
        "Compare live rules with the spec (several specs or folders: one row each). Exit 0 in sync, 2 drift, 1 error.",
    ),
    "destroy": (
        "live_commands",
        "Remove what cloudports owns for this spec (never anything else); needs only the spec's name and targets.",
    ),
    "import": (
        "import_commands",
        "Write a topology spec from a live lab (roles, networks, catalog services, flows).",
    ),
}


class Cloudports(LazyGroup):
    commands_table = COMMANDS


app = typer.Typer(
    name="cloudports",
    help="Compile a topology spec into cloud firewall rules; emit Terraform, apply, detect drift.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # click's plain help: see cli/help.py
    cls=Cloudports,
    context_settings=CONTEXT_SETTINGS,
)


@app.callback()
def _root() -> None:
    """The group itself does nothing: typer makes a group of an app that has a callback and no commands yet."""


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
            console.say("interrupted; nothing was changed", stderr=True)
        return exc.exit_code
    except CloudportsError as exc:
        for d in exc.diagnostics:
            console.say((d.render(), "red"), stderr=True)
        return exc.exit_code
    except _ClickException as exc:
        exc.show()  # type: ignore[attr-defined]
        return 1
    except console.ReaderGone:
        # `| head` has what it wanted: exit as a tool killed by SIGPIPE does, with stdout on /dev/null so that
        # the interpreter's last flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (typer.Abort, KeyboardInterrupt):
        console.say("aborted", stderr=True)
        return 1
    except OSError as exc:
        console.say((f"error: {exc}", "red"), stderr=True)
        return 1


def run() -> NoReturn:
    """The `cloudports` command: main(), then an exit that skips tearing the interpreter down.

    Freeing every module and object one by one at exit takes 30-50 ms after a command that imported typer,
    pydantic and the targets (a third of `--help`); the operating system reclaims the memory at once. What an
    orderly exit does that matters is done first: atexit handlers (temporary folders, logging) and flushing the
    standard streams. With a thread still running (none should be), the ordinary exit waits for it as always.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader went away after the last write: as main() answers a reader gone
            code = 141
        except ValueError:  # closed by the command: nothing left to write
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
