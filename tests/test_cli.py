"""Command-line behaviour that is the same for every target: interrupts, emit's output folder, destroy's
wording. A small registered target stands in for a cloud where the cloud does not matter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cloudports.cli import main
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
