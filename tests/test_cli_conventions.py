"""What users of any CLI expect: -h and --version on every command, help that says what to type (no Python type
names), shell completion, tables that keep every word at 80 columns."""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cloudports import __version__
from cloudports.catalogs import describe_catalog
from cloudports.cli import COMMANDS as COMMAND_TABLE
from cloudports.cli import main
from cloudports.live.plan import Change, Plan
from cloudports.live.report import render_plan
from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets import registry

REPO = Path(__file__).resolve().parent.parent
SPEC = "examples/three-tier-web/topology.yaml"
COMMANDS = sorted(COMMAND_TABLE)
# typer 0.29 shows <bool>, <str>, <path>, <list[str]>, <table|json> after options and {spec} in usage lines
TYPE_NAMES = re.compile(r"<[\w\[\]|.,]+>|\{\w+\}")


def test_every_command_is_checked() -> None:
    assert {"validate", "emit", "plan", "apply", "drift", "destroy", "import", "catalog"} <= set(COMMANDS)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_no_type_names(command: str, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for flag in ("--help", "-h"):
        assert main([*filter(None, [command]), flag]) == 0
        text = capsys.readouterr().out
        assert "Usage:" in text and "--version" in text
        assert TYPE_NAMES.findall(text) == [], text
    if command in ("apply", "emit", "show", "query", "validate"):
        assert re.search(r"Usage: .* SPEC\b", text) and "--var" in text and "NAME=VALUE" in text


def test_the_command_table_is_each_commands_own_help() -> None:
    """`cloudports --help` lists commands from a table, without importing them: it must say what their help says,
    and list every command the modules declare, each once."""
    declared = {}
    for module_name in sorted({module for module, _summary in COMMAND_TABLE.values()}):
        for function in importlib.import_module(f"cloudports.cli.{module_name}").COMMANDS:
            declared[function.__name__] = (module_name, " ".join(inspect.getdoc(function).split("\n\n")[0].split()))
    assert declared == COMMAND_TABLE


def test_listing_the_commands_imports_none_of_them() -> None:
    script = "import sys; from cloudports.cli import main; main(['--help']); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    modules = set(ast.literal_eval(loaded.stdout.splitlines()[-1]))
    assert "cloudports.cli.help" in modules and "Commands:" in loaded.stdout
    assert not {
        m for m in modules if m.endswith("_commands") or m.startswith(("pydantic", "rich", "importlib.metadata"))
    }


def test_version_loads_no_schema_and_no_rich() -> None:
    """A command with no values to coerce and one line to print: typer's completion options, absent, must not be
    coerced through pydantic, and a pipe needs no rich."""
    script = "import sys; from cloudports.cli import main; main(['version']); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.startswith(f"{__version__}\n")
    modules = set(ast.literal_eval(loaded.stdout.splitlines()[-1]))
    assert not {m for m in modules if m.startswith(("pydantic", "rich", "yaml"))}


def test_the_scan_finds_what_typer_prints_by_default() -> None:
    assert TYPE_NAMES.findall("--help  <bool>  Show | Usage: x [OPTIONS] {spec} | --var <list[str]> | <table|json>")


@pytest.mark.parametrize("argv", [["--version"], ["-V"], ["apply", "-V"], ["validate", "--version"]])
def test_version_everywhere_before_required_arguments(argv: list[str], capsys: Any) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"cloudports {__version__}"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cloudports.cli import main; sys.argv[0] = 'cloudports'; sys.exit(main())",
            *args,
        ],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def test_shell_completion_script_and_answers() -> None:
    # Typer finds the user's shell among the process's ancestors (shellingham); a test run started from no shell
    # (a detached job, an IDE) has none, so the shell is named, through Typer's switch for exactly this.
    script = _run(["--show-completion", "bash"], _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert script.returncode == 0 and "_CLOUDPORTS_COMPLETE=complete_bash" in script.stdout
    words = _run([], _CLOUDPORTS_COMPLETE="complete_bash", COMP_WORDS="cloudports apply x --target ", COMP_CWORD="4")
    assert words.stdout.split() == list(registry.names())
    words = _run([], _CLOUDPORTS_COMPLETE="complete_bash", COMP_WORDS="cloudports dr", COMP_CWORD="1")
    assert words.stdout.split() == ["drift"]


def columns(text: str) -> list[str]:
    """A box table's cells, column by column, all lines of a column joined without whitespace."""
    found: list[str] = []
    for line in text.splitlines():
        if "│" not in line:
            continue
        cells = line.split("│")[1:-1]
        found += [""] * (len(cells) - len(found))
        for i, cell in enumerate(cells):
            found[i] += "".join(cell.split())
    return found


def squeezed(values: list[str]) -> str:
    return "".join("".join(v.split()) for v in values)


def narrow(text: str) -> None:
    """No cell cut short, no table line wider than 80 (plain text lines are left to the terminal to wrap)."""
    assert "…" not in text
    widths = [len(line.rstrip()) for line in text.splitlines() if set(line) & set("│┃━─")]
    assert max(widths, default=0) <= 80


def test_catalog_tables_keep_every_word_at_80_columns() -> None:
    listing = _run(["catalog"], COLUMNS="80").stdout
    narrow(listing)
    assert "adfs" in columns(listing)[0] and "sql-server-ha" in columns(listing)[0]
    shown = _run(["catalog", "file-services"], COLUMNS="80").stdout
    narrow(shown)
    services = describe_catalog("file-services")["services"]
    got = columns(shown)
    assert got[0] == squeezed([s["name"] for s in services])
    composed = next(s for s in services if s["members"])
    # a composite service shows its members and the ports they expand to
    assert squeezed(["= " + " + ".join(composed["members"]), "(" + ", ".join(composed["ports"]) + ")"]) in got[1]


@pytest.mark.parametrize("target", registry.names())
def test_show_keeps_every_word_at_80_columns(target: str) -> None:
    result = _run(["show", SPEC, "-t", target], COLUMNS="80")
    assert result.returncode == 0
    narrow(result.stdout)
    rows = registry.get(target).rows(desired_state(compile_spec(REPO / SPEC), target))
    names = [c for c in rows[0] if c != "key"]
    expected = {c: [str(r[c]).replace(f"{REPO}{os.sep}", "") for r in rows] for c in names}
    if "┃" in result.stdout:  # a table: each column holds every value, in order
        assert columns(result.stdout) == [squeezed(expected[c]) for c in names]
    else:  # too many columns for 80: one block per rule, every value after its field name
        flat = "".join(result.stdout.split())
        for c in names:
            for value in expected[c]:
                assert c + "".join(value.split()) in flat


def test_plan_table_keeps_every_word_at_80_columns() -> None:
    long = "tcp 1433 from sg-0123456789abcdef0 (d365dist-web) description: Dynamics uses its databases"
    plan = Plan("aws", "d365", "vpc-0abc", [Change("add", "rule", "sql/in/tcp/1433/sg:web", long, reason="new")])
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    render_plan(plan, console, "plan")
    text = console.export_text()
    narrow(text)
    assert columns(text) == ["+", "create", "rule", "sql/in/tcp/1433/sg:web", squeezed([long + " (new)"])]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound and closed: nothing listens there, so a connection is refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["drift", SPEC, "-t", "aws", "--vpc-id", "vpc-0abc"], ["import", "-t", "aws"]])
def test_an_unreachable_aws_endpoint_is_one_error_with_the_endpoint_hint(command: list[str], tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    if command[0] == "import":
        command = [*command, "--vpc-id", "vpc-0abc", "--out", str(tmp_path / "lab.yaml")]
    result = _run(
        command,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and "cannot reach EC2" in errors[0] and endpoint in errors[0], result.stderr
    assert "check the network, or AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EC2" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["verify", SPEC],  # rich tables and lines
        ["query", SPEC, "--from", "lb", "--to", "app", "-f", "json"],  # rich's JSON
        ["schema"],  # a plain write
        ["graph", SPEC],  # a diagram
        ["validate", SPEC, "-f", "sarif"],
    ],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(command: list[str]) -> None:
    """`cloudports verify ... | head`: the reader closes the pipe; the command stops as a tool killed by SIGPIPE
    does (141), with nothing on stderr but the spec's warnings."""
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudports", *command],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # before the first write: every write finds the reader gone
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141, stderr
    assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr


DIST = "examples/dynamics365-distributed/topology.yaml"  # icmp/8 flows: Azure widens them to all ICMP
WIDENED = "azure: Azure network security groups cannot filter ICMP by type"


@pytest.mark.parametrize(
    ("command", "times"),
    [
        (["validate", DIST], 1),
        (["show", DIST, "-t", "azure"], 1),
        (["query", DIST, "--from", "web", "--to", "dc", "-p", "icmp/0", "-t", "azure"], 0),  # said in the answer
        (["query", DIST, "--from", "corp", "--to", "web", "-t", "azure"], 0),
        (["verify", DIST], 0),  # listed as a known limitation
    ],
)
def test_what_azure_widens_is_warned_where_rules_are_made(command: list[str], times: int) -> None:
    result = _run(command)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(WIDENED) == times, result.stderr
    if command[0] == "query" and "-p" in command:
        assert "this target cannot filter ICMP by type or code" in result.stdout
    if command[0] == "verify":
        assert "known limitation: Azure network security groups cannot filter ICMP by type" in result.stdout


@pytest.mark.parametrize(
    "text", ["ok", "a\x07b\rc\x0bd\x0ce\x08f", "[green]not markup[/green] :100: 2001:db8:100::/48", "é ✓ \t|"]
)
def test_a_line_to_a_pipe_is_what_rich_would_write(text: str, capsys: Any) -> None:
    from rich.text import Text

    from cloudports.cli import console

    console.say((text, "green"), " and more")
    rich_wrote = io.StringIO()
    Console(file=rich_wrote, soft_wrap=True, emoji=False, width=200).print(Text.assemble((text, "green"), " and more"))
    assert capsys.readouterr().out == rich_wrote.getvalue()


def test_validate_in_a_pipe_loads_no_rich_and_a_terminal_gets_colour() -> None:
    script = f"import sys; from cloudports.cli import main; main(['validate', '{SPEC}']); print(sorted(sys.modules))"
    piped = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert piped.stdout.startswith("ok examples/three-tier-web/topology.yaml: topology")
    assert not any(m.startswith("rich") for m in ast.literal_eval(piped.stdout.splitlines()[-1]))
    env = {**os.environ, "FORCE_COLOR": "1"}
    coloured = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, env=env)
    assert coloured.stdout.startswith("\x1b[32mok\x1b[0m examples/three-tier-web/topology.yaml")
