"""The docs run: every ```bash / ```sh / ```console block of README.md and docs/*.md is executed, in order, one
shell per file, in a temporary copy of the examples, against the local emulators the blocks themselves start.

- bash/sh blocks run as written; any failing command fails the test (an ERR trap), except a command followed by
  `; echo "exit $?"`, whose exit code is printed instead and compared with the `exit N` its comment documents.
- console blocks are `$ command` lines and the output the docs show; each command runs and the documented output
  must appear in what it printed, loosely: every word of it, in any layout (tables wrap at other widths), with
  `...` standing for any text inside a word (a shortened path, an ID).
- A block that cannot run here (it installs packages, runs the whole suite, needs a real cloud account) is
  preceded by `<!-- not-run: reason -->`; those are counted, and the reason is required.

Ports the docs use (5000 for moto, 8443 for the ARM emulator) are replaced by free ones, so that files run in
parallel (one test per file, spread by pytest-xdist).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELLS = {"bash", "sh", "console"}
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->$")
EXPECTED_EXIT = re.compile(r'; echo "exit \$\?".*#.*\bexit (\d+)')
SERVER_PORTS = {"5000": "aws", "8443": "arm"}  # as the docs write them
TIMEOUT = 600


@dataclass
class Block:
    lang: str
    line: int  # of the opening fence
    text: str
    not_run: str | None = None  # the reason, when marked


@dataclass
class Command:
    """A console block's `$ command` and the output the docs show for it."""

    line: int
    command: str
    shown: list[str] = field(default_factory=list)


def blocks(markdown: str) -> list[Block]:
    found: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if match.group(1) in SHELLS:
            before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marked = NOT_RUN.match(before)
            found.append(Block(match.group(1), i + 1, "\n".join(lines[i + 1 : end]), marked and marked.group(1)))
        i = end + 1
    return found


def console_commands(block: Block) -> list[Command]:
    commands: list[Command] = []
    for offset, line in enumerate(block.text.splitlines(), start=1):
        if line.startswith("$ "):
            commands.append(Command(block.line + offset, line[2:]))
        elif commands:
            commands[-1].shown.append(line)
    return commands


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ports(text: str, ports: dict[str, int]) -> str:
    for documented, port in ports.items():
        text = re.sub(rf"(?<=[: ]){documented}\b", str(port), text)
    return text


def script(doc_blocks: list[Block], ports: dict[str, int]) -> tuple[str, list[Command], list[str | None]]:
    """One bash script for a file's blocks; the console commands and the documented exit codes, in order."""
    parts = ["set -E", """trap 'echo "docs: line $LINENO failed: $BASH_COMMAND" >&2; exit 97' ERR"""]
    commands: list[Command] = []
    exits: list[str | None] = []
    for block in doc_blocks:
        if block.not_run is not None:
            continue
        if block.lang != "console":
            for line in block.text.splitlines():
                if '; echo "exit $?"' in line:
                    documented = EXPECTED_EXIT.search(line)
                    exits.append(documented.group(1) if documented else None)
            # a documented exit code is printed, not trapped: `cmd && echo "exit 0" || echo "exit $?"`
            parts.append(block.text.replace('; echo "exit $?"', ' && echo "exit 0" || echo "exit $?"'))
            continue
        for command in console_commands(block):
            n = len(commands)
            commands.append(command)
            # markers on lines of their own, even after output without a final newline (curl's)
            parts.append(
                f'printf "\\n@@begin {n}\\n"\nif {{ {command.command}\n}} 2>&1; then printf "\\n@@end {n} 0\\n"; '
                f'else printf "\\n@@end {n} %s\\n" $?; fi'
            )
    return _ports("\n".join(parts), ports) + "\n", commands, exits


def _environment(workdir: Path) -> dict[str, str]:
    """This tree's cloudports and this Python's environment first on PATH; nothing of a developer's cloud settings.

    `python` is a script that execs this interpreter by its own path, never a symlink to it: started through a
    link in another folder, a virtualenv's Python no longer finds its pyvenv.cfg and loses the venv's packages.
    The interpreter's own bin/ (a venv's scripts) comes next, so the docs see what the test run sees.
    """
    bin_dir = workdir / ".bin"
    bin_dir.mkdir()
    shims = {"python": "", "python3": "", "cloudports": " -m cloudports"}
    for name, args in shims.items():
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}"{args} "$@"\n')
        shim.chmod(0o755)
    scrubbed = ("AWS_", "ARM_", "AZURE_", "CLOUDPORTS_", "TF_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    interpreter_bin = Path(sys.executable).parent
    return env | {
        "PATH": os.pathsep.join([str(bin_dir), str(interpreter_bin), env["PATH"]]),
        "PYTHONPATH": str(REPO),
        "HOME": str(workdir),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def words(lines: list[str]) -> list[str]:
    text = re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐━─┳┻╇╈┼┬┴═]", " ", "\n".join(lines))
    return text.split()


def _matches(documented: str, actual: str) -> bool:
    if "..." not in documented:
        return documented == actual
    return re.fullmatch(".*".join(re.escape(p) for p in documented.split("...")), actual) is not None


def missing_words(shown: list[str], printed: list[str]) -> list[str]:
    """The documented words that are not in the output (each printed word is used once)."""
    left = list(printed)
    missing = []
    for word in words(shown):
        if word == "...":
            continue
        hit = next((i for i, w in enumerate(left) if _matches(word, w)), None)
        if hit is None:
            missing.append(word)
        else:
            del left[hit]
    return missing


def _outputs(stdout: str) -> dict[int, tuple[int, list[str]]]:
    found: dict[int, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        begin, end = re.match(r"@@begin (\d+)$", line), re.match(r"@@end (\d+) (\d+)$", line)
        if begin:
            current = []
        elif end and current is not None:
            found[int(end.group(1))] = (int(end.group(2)), current)
            current = None
        elif current is not None:
            current.append(line)
    return found


def run_doc(doc: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[Command], list[str | None]]:
    ports = {documented: _free_port() for documented in SERVER_PORTS}
    text, commands, exits = script(blocks(doc.read_text()), ports)
    workdir = tmp_path / "repo"
    workdir.mkdir()
    shutil.copytree(REPO / "examples", workdir / "examples")
    shutil.copytree(REPO / "docs" / "machines", workdir / "docs" / "machines")  # the lab docs/machines.md builds
    (workdir / "docs-script.sh").write_text(text)
    # output to files, not pipes: a server a failed block left running would hold a pipe open until the timeout
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(
            ["bash", "docs-script.sh"],
            cwd=workdir,
            env=_environment(workdir),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # the servers the docs start in the background die with the group
        )
        try:
            process.wait(timeout=TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    stdout_text, stderr_text = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout_text, stderr_text), commands, exits


@pytest.mark.slow  # a whole walk-through against the emulators: seconds to half a minute per file
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_doc_runs(doc: Path, tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    found = blocks(doc.read_text())
    skipped = [b for b in found if b.not_run is not None]
    record_property("shell_blocks", len(found))
    record_property("not_run", len(skipped))
    assert all(b.not_run for b in skipped), f"{doc.name}: a not-run mark needs a reason"
    if len(skipped) == len(found):
        return
    result, commands, exits = run_doc(doc, tmp_path)
    tail = f"\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"{doc.name}: a command failed{tail}"
    outside = re.sub(r"(?ms)^@@begin \d+$.*?^@@end \d+ \d+$", "", result.stdout)  # console output compared below
    printed_exits = re.findall(r"^exit (\d+)$", outside, re.MULTILINE)
    assert len(printed_exits) == len(exits), f"{doc.name}: exits {printed_exits}, documented {exits}\n{outside[-3000:]}"
    for documented, printed in zip(exits, printed_exits, strict=True):
        assert documented in (None, printed), f"{doc.name}: documented exit {documented}, got {printed}{tail}"
    outputs = _outputs(result.stdout)
    for n, command in enumerate(commands):
        status, printed = outputs[n]
        missing = missing_words(command.shown, words(printed))
        assert not missing, f"{doc.name}:{command.line}: `{command.command}` printed no {missing[:8]}:\n" + "\n".join(
            printed
        )


def test_blocks_that_do_not_run_are_counted() -> None:
    """A new not-run mark is a decision: it changes this count (README: install, the suite, re-locking, a live-lab
    output; azure-live: real Azure; scanners: checkov)."""
    marked = {doc.name: sum(1 for b in blocks(doc.read_text()) if b.not_run) for doc in DOCS}
    assert sum(marked.values()) == 6, marked
    assert sum(len(blocks(doc.read_text())) for doc in DOCS) - 6 >= 15  # the rest run


# ------------------------------------------------------------------ the harness itself can find what is wrong


def test_blocks_are_found_with_their_marks() -> None:
    text = "x\n```bash\necho a\n```\n<!-- not-run: needs a real account -->\n\n```sh\naz login\n```\n```text\nno\n```\n"
    found = blocks(text)
    assert [(b.lang, b.text, b.not_run) for b in found] == [
        ("bash", "echo a", None),
        ("sh", "az login", "needs a real account"),
    ]


def test_loose_output_comparison() -> None:
    shown = ["┃ what ┃ name ┃", "│ extra │ web/in/tcp/3389/cidr:0.0.0.0/0 │", "[.../examples/x.yaml:36]"]
    printed = words(["what name", "extra web/in/tcp/3389/", "cidr:0.0.0.0/0", "[/tmp/p/examples/x.yaml:36]"])
    assert missing_words(shown, printed) == ["web/in/tcp/3389/cidr:0.0.0.0/0"]  # wrapped mid-word: not the same
    printed = words(["what name extra web/in/tcp/3389/cidr:0.0.0.0/0 [/tmp/p/examples/x.yaml:36]"])
    assert missing_words(shown, printed) == []
    assert missing_words(["exit 2"], ["exit", "0"]) == ["2"]


def test_documented_exit_codes_are_read_from_comments() -> None:
    block = Block("bash", 1, 'cloudports drift $S; echo "exit $?"    # 1 extra rule, exit 2\nx; echo "exit $?"')
    text, _commands, exits = script([block], {"5000": 5001, "8443": 8444})
    assert exits == ["2", None]
    assert '&& echo "exit 0" || echo "exit $?"' in text
