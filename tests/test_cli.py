"""Command-line behaviour that is the same for every target: interrupts, emit's output folder, destroy's
wording. A small registered target stands in for a cloud where the cloud does not matter."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cloudports.cli import common, main, progress
from cloudports.compile import CompiledPolicy
from cloudports.live.backend import Backend
from cloudports.live.plan import Change, Plan
from cloudports.targets import registry
from cloudports.targets.base import Capabilities, Row, Target, TargetSettings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dynamics365-distributed" / "topology.yaml"


class InterruptedBackend:
    """Plans one change; applying it is interrupted (Ctrl-C) part-way, as a user would."""

    def __init__(self, empty: bool = False):
        self.empty = empty

    def plan(self) -> Plan:
        changes = [] if self.empty else [Change("add", "rule", "r1", "tcp 443 from corp")]
        return Plan("stub", "t", "here", changes)

    def apply(self, plan: Plan) -> Plan:
        raise KeyboardInterrupt

    plan_destroy = plan
    destroy = apply


class StubTarget(Target[TargetSettings, list[str]]):
    name = "stub"
    title = "a stand-in cloud"
    settings_model = TargetSettings
    capabilities = Capabilities(live=True)
    empty = False

    def build(self, policy: CompiledPolicy) -> list[str]:
        return []

    def rows(self, state: list[str]) -> list[Row]:
        return []

    def open_backend(self, policy: CompiledPolicy, options: Mapping[str, str | None], adopt: bool) -> Backend:
        return InterruptedBackend(self.empty)


@pytest.fixture
def stub() -> Iterator[StubTarget]:
    target = StubTarget()
    registry.register(target)
    yield target
    registry.unregister("stub")


def test_ctrl_c_during_apply_says_what_happened_and_exits_130(stub: StubTarget, capsys: Any) -> None:
    assert main(["apply", str(EXAMPLE), "-t", "stub", "--auto-approve"]) == 130
    err = capsys.readouterr().err
    assert "interrupted: apply stopped part-way" in err and "cloudports apply` again" in err


def test_ctrl_c_during_destroy_exits_130(stub: StubTarget, capsys: Any) -> None:
    assert main(["destroy", str(EXAMPLE), "-t", "stub", "--auto-approve"]) == 130
    assert "interrupted: destroy stopped part-way" in capsys.readouterr().err


def test_destroy_with_nothing_deployed_says_so(stub: StubTarget, capsys: Any) -> None:
    stub.empty = True
    assert main(["destroy", str(EXAMPLE), "-t", "stub", "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "nothing to destroy" in out and "matches the spec" not in out


def test_prompt_goes_to_stderr_so_json_stays_clean(stub: StubTarget, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    assert main(["apply", str(EXAMPLE), "-t", "stub", "-f", "json"]) == 1
    captured = capsys.readouterr()
    assert "Apply these changes?" in captured.err and "Apply these changes?" not in captured.out
    __import__("json").loads(captured.out)


def test_emit_refuses_a_folder_with_another_targets_output(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "tf"
    assert main(["emit", str(EXAMPLE), "-t", "aws", "--out", str(out)]) == 0
    assert main(["emit", str(EXAMPLE), "-t", "aws", "--out", str(out)]) == 0  # its own earlier output: fine
    (out / "terraform.tfstate").write_text("{}")  # Terraform ran there: still fine
    assert main(["emit", str(EXAMPLE), "-t", "aws", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["emit", str(EXAMPLE), "-t", "azure", "--out", str(out)]) == 1
    assert "holds another target's output" in capsys.readouterr().err
    assert not (out / "cloudports-priorities.json").exists()
    assert main(["emit", str(EXAMPLE), "-t", "azure", "--out", str(out), "--force"]) == 0


@pytest.mark.parametrize(
    ("files", "words"),
    [({"main.tf": 'resource "x" "y" {}\n'}, "files cloudports did not write"), ({"terraform.tfstate": "{}"}, "state")],
)
def test_emit_refuses_a_folder_it_did_not_write(tmp_path: Path, capsys: Any, files: dict[str, str], words: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["emit", str(EXAMPLE), "-t", "aws", "--out", str(tmp_path)]) == 1
    assert words in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)  # nothing written


class ApplyingBackend(InterruptedBackend):
    """Plans two changes and carries them out, reporting each write as a real backend does."""

    def plan(self) -> Plan:
        return Plan("stub", "t", "here", [Change("add", "rule", "r1", "tcp 443"), Change("remove", "rule", "r2", "x")])

    def apply(self, plan: Plan) -> Plan:
        from cloudports.live.progress import step

        for change in plan.changes:
            time.sleep(0.15)  # long enough for the progress line to be drawn
            step(f"group-of-{change.name}")
        return plan

    plan_destroy = plan
    destroy = apply


@pytest.fixture
def applying(stub: StubTarget, monkeypatch: Any) -> StubTarget:
    monkeypatch.setattr(stub, "open_backend", lambda *a: ApplyingBackend())
    return stub


def test_plan_apply_drift_destroy_share_one_json_shape(applying: StubTarget, capsys: Any) -> None:
    documents = {}
    for command in ("plan", "drift", "apply", "destroy"):
        extra = ["--auto-approve"] if command in ("apply", "destroy") else []
        code = main([command, str(EXAMPLE), "-t", "stub", "-f", "json", *extra])
        assert code == (2 if command == "drift" else 0)
        documents[command] = json.loads(capsys.readouterr().out)  # one document, nothing else on stdout
    keys = {c: set(d) for c, d in documents.items()}
    assert all(k == keys["plan"] for k in keys.values()), keys
    assert {"version", "command", "target", "in_sync", "summary", "changes", "notes", "applied"} <= keys["plan"]
    assert all(d["version"] == 1 and d["command"] == c and d["in_sync"] is False for c, d in documents.items())
    assert documents["plan"]["applied"] is None and documents["drift"]["applied"] is None
    assert documents["apply"]["applied"] == {"create": 1, "update": 0, "delete": 1}
    assert documents["drift"]["summary"] == {"missing": 1, "changed": 0, "extra": 1}
    assert [c["category"] for c in documents["drift"]["changes"]] == ["missing", "extra"]


def test_progress_is_drawn_on_a_terminal_only(applying: StubTarget, capsys: Any, monkeypatch: Any) -> None:
    assert main(["apply", str(EXAMPLE), "-t", "stub", "--auto-approve"]) == 0
    captured = capsys.readouterr()
    assert "applying" not in captured.err and "applying" not in captured.out  # a pipe: unchanged output
    terminal = io.StringIO()
    monkeypatch.setattr(common, "err", Console(file=terminal, force_terminal=True, width=100))
    monkeypatch.setattr(progress, "DELAY", 0.0)
    assert main(["apply", str(EXAMPLE), "-t", "stub", "--auto-approve"]) == 0
    drawn = terminal.getvalue()
    assert "applying" in drawn and "group-of-r1" in drawn and re.search(r"[12]/2", drawn), drawn


@pytest.mark.parametrize(
    ("missing", "why"),
    [("find_terraform", "terraform is not installed"), ("find_provider_mirror", "local mirror of the hashicorp/aws")],
)
def test_emit_check_fails_when_it_cannot_check(
    tmp_path: Path, capsys: Any, monkeypatch: Any, missing: str, why: str
) -> None:
    from cloudports.emit import terraform_cli

    if missing == "find_provider_mirror" and not terraform_cli.find_terraform():
        pytest.skip("the mirror is only looked for once terraform is found")
    monkeypatch.setattr(terraform_cli, missing, lambda *a: None)
    assert main(["emit", str(EXAMPLE), "-t", "aws", "--out", str(tmp_path / "a"), "--check"]) == 1
    assert why in capsys.readouterr().err
    assert main(["emit", str(EXAMPLE), "-t", "aws", "--out", str(tmp_path / "b"), "--check", "--allow-unchecked"]) == 0
    assert "check skipped" in capsys.readouterr().err


def test_ipv6_blocks_are_printed_as_written_never_as_emoji(tmp_path, capsys, vpc, monkeypatch):
    """rich turns ':100:' into an emoji unless told not to: 2001:db8:100::/48 must reach the plan table intact."""
    from cloudports.cli.common import out as console

    monkeypatch.setattr(console, "width", 250)  # whatever COLUMNS says: the key on one line, to be found whole
    spec = tmp_path / "v6.yaml"
    spec.write_text(
        "name: v6\nnetworks:\n  lab: {ipv6: ['2001:db8:100::/48']}\nroles: {web: {}}\n"
        "flows: [{from: lab, to: web, services: [tcp/22]}]\n"
    )
    assert main(["plan", str(spec), "-t", "aws", "--vpc-id", vpc]) == 0
    out = capsys.readouterr().out
    assert "web/in/tcp/22/cidr:2001:db8:100::/48" in out and "\N{HUNDRED POINTS SYMBOL}" not in out


@pytest.mark.parametrize(
    "command",
    [
        ["query", str(EXAMPLE), "--from", "corp", "--to", "web"],
        ["verify", str(EXAMPLE)],
        ["show", str(EXAMPLE), "-t", "aws"],
    ],
)
def test_every_json_document_says_its_version_and_command(command: list[str], capsys: Any) -> None:
    """As plan/apply/drift/destroy do (docs/json-output.md): a reader tells documents apart by `command`."""
    assert main([*command, "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["version"], document["command"]) == (1, command[0])


def _no_internal_fields(document: dict[str, Any]) -> None:
    changes = [c for c in document["changes"] if c["kind"] == "rule"]
    assert changes and all(c["after"] for c in changes)
    for change in changes:
        assert "port_params" not in change["after"], change  # where a port came from: cloudports' own bookkeeping


def test_plan_json_shows_rules_as_aws_holds_them(vpc: str, capsys: Any) -> None:
    assert main(["plan", str(EXAMPLE), "-t", "aws", "--vpc-id", vpc, "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    _no_internal_fields(document)
    rule = next(c["after"] for c in document["changes"] if c["name"] == "web/in/tcp/5555/cidr:10.20.0.0/16")
    assert rule == {
        "group": "web",
        "direction": "ingress",
        "ip_protocol": "tcp",
        "from_port": 5555,
        "to_port": 5555,
        "cidr_ipv4": "10.20.0.0/16",
        "description": rule["description"],
    }


def test_plan_json_shows_rules_as_azure_holds_them(arm: Any, tmp_path: Path, capsys: Any) -> None:
    spec = tmp_path / "lab.yaml"
    text = EXAMPLE.read_text()
    spec.write_text(text[: text.index("    subnets:")])  # no subnet to find
    assert main(["plan", str(spec), "-t", "azure", "-f", "json"]) == 0
    _no_internal_fields(json.loads(capsys.readouterr().out))


def test_plan_warns_what_azure_widens_and_drift_does_not(arm: Any, tmp_path: Path, capsys: Any) -> None:
    spec = tmp_path / "lab.yaml"
    text = EXAMPLE.read_text()
    spec.write_text(text[: text.index("    subnets:")])  # no subnet to find
    widened = "cannot filter ICMP by type"
    assert main(["plan", str(spec), "-t", "azure"]) == 0
    assert capsys.readouterr().err.count(widened) == 1
    assert main(["drift", str(spec), "-t", "azure"]) == 2  # nothing applied: everything is missing
    assert widened not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["apply", "destroy"])
def test_auto_approve_says_what_it_will_do_in_one_line_not_the_plan_table_again(
    applying: StubTarget, capsys: Any, monkeypatch: Any, command: str
) -> None:
    """The walk-throughs run `plan` and then `apply --auto-approve`: the table once, from plan."""
    assert main(["plan", str(EXAMPLE), "-t", "stub"]) == 0
    shown = capsys.readouterr().out
    assert "r1" in shown and "r2" in shown and "│" in shown
    assert main([command, str(EXAMPLE), "-t", "stub", "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "│" not in out and "r1" not in out and "r2" not in out, out
    assert "(topology t): 1 create, 0 update, 1 delete" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main([command, str(EXAMPLE), "-t", "stub"]) == 0  # asked: the table the question is about
    asked = capsys.readouterr().out
    assert "r1" in asked and "r2" in asked and "│" in asked
