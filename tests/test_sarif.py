"""validate --format sarif: every finding (spec errors, exposure lint, each target's limits and capabilities) as
SARIF 2.1.0 that the official schema accepts, each result at its line and column in the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cloudports.cli import main

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "tests" / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text())

EXPOSED = """\
name: exposed
targets:
  aws: {max_rules_per_group: 2, max_groups_per_interface: 1}
networks:
  anywhere: {ipv4: [0.0.0.0/0]}
  partner: {ipv4: [20.0.0.0/7]}
roles:
  web: {}
  db: {}
flows:
  - from: anywhere
    to: web
    services: [tcp/3389]
  - from: partner
    to: web
    services: [tcp/22]
  - from: web
    to: db
    services: [tcp/1433, tcp/5432, tcp/3306]
"""


def sarif(args: list[str], capsys: Any) -> tuple[int, dict[str, Any]]:
    code = main(["validate", *args, "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(log, SCHEMA)  # draft-04, as the schema says
    return code, log


def results(log: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    found = []
    for r in log["runs"][0]["results"]:
        where = r["locations"][0]["physicalLocation"]
        region = where["region"]
        found.append(
            (r["ruleId"], r["level"], where["artifactLocation"]["uri"], region["startLine"], region["startColumn"])
        )
    return found


def test_findings_of_every_stage_at_their_lines(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    (tmp_path / "topology.yaml").write_text(EXPOSED)
    monkeypatch.chdir(tmp_path)
    code, log = sarif(["topology.yaml"], capsys)
    assert code == 1  # an exposure error
    found = results(log)
    assert ("exposure/risky-port", "error", "topology.yaml", 13, 15) in found  # RDP from anywhere: its services
    assert ("exposure/risky-port", "warning", "topology.yaml", 16, 15) in found  # SSH from a /7: a warning
    # the lint's error does not hide the targets' findings: db needs 3 inbound rules, 2 fit a group, 1 group a machine
    assert ("limits/aws", "error", "topology.yaml", 9, 3) in found
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {rule for rule, *_ in found} == set(rules)
    assert "allow_exposure" in rules["exposure/risky-port"]["help"]["text"]
    for r in log["runs"][0]["results"]:
        assert rules[r["ruleId"]] == log["runs"][0]["tool"]["driver"]["rules"][r["ruleIndex"]]


def test_target_option_checks_one_clouds_limits(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    (tmp_path / "topology.yaml").write_text(EXPOSED.replace("tcp/3389", "tcp/443"))
    monkeypatch.chdir(tmp_path)
    code, log = sarif(["topology.yaml", "--target", "azure"], capsys)
    assert code == 0 and not any(rule.startswith("limits/") for rule, *_ in results(log))
    code, log = sarif(["topology.yaml", "-t", "aws"], capsys)
    assert code == 1 and [r for r in results(log) if r[0] == "limits/aws"]
    # the text form agrees: only the chosen cloud is checked and summarised
    assert main(["validate", "topology.yaml", "-t", "azure"]) == 0
    out = capsys.readouterr().out
    assert "azure:" in out and "aws:" not in out
    assert main(["validate", "topology.yaml", "-t", "aws"]) == 1
    assert "more than the 1 a machine can carry" in capsys.readouterr().err


def test_a_broken_spec_is_one_result_at_the_mistake(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    (tmp_path / "topology.yaml").write_text(EXPOSED.replace("to: db", "to: dbb"))
    monkeypatch.chdir(tmp_path)
    code, log = sarif(["topology.yaml"], capsys)
    assert code == 1
    assert results(log) == [("spec/invalid", "error", "topology.yaml", 18, 9)]
    assert "did you mean 'db'?" in log["runs"][0]["results"][0]["message"]["text"]


@pytest.mark.parametrize("example", ["adfs-wap", "dynamics365-distributed"])
def test_examples_are_clean_of_errors(example: str, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(REPO)
    code, log = sarif([f"examples/{example}/topology.yaml"], capsys)
    assert code == 0
    assert all(level != "error" for _rule, level, *_ in results(log))
    assert all(uri == f"examples/{example}/topology.yaml" for _r, _l, uri, *_ in results(log))
