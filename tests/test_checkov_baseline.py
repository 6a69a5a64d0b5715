"""emit writes `.checkov.baseline` beside the Terraform: exactly the rules an `allow_exposure` accepts, under the
addresses checkov reports on a plan, with the check ids that fail on them and the reason; nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import hcl2
import pytest

from cloudports.cli import main

SPEC = """\
name: exposed
networks:
  internet4: {ipv4: [0.0.0.0/0]}
  office: {ipv4: [198.51.100.0/24]}
roles:
  jump: {}
  web: {}
flows:
  - from: internet4
    to: jump
    services: [tcp/3389, tcp/22]
    allow_exposure: lab jump host, torn down nightly
  - from: internet4
    to: web
    services: [tcp/80, tcp/443]
  - from: office
    to: web
    services: [tcp/22]
"""
AWS_RULE = 'module.security_groups.aws_vpc_security_group_ingress_rule.this["{key}"]'
# target -> (the accepted rules' addresses, a rule checkov flags that nobody accepted, the checks on each)
EXPECTED = {
    "aws": (
        {
            AWS_RULE.format(key="jump/in/tcp/22/net:internet4@0.0.0.0"): ["CKV_AWS_24"],
            AWS_RULE.format(key="jump/in/tcp/3389/net:internet4@0.0.0.0"): ["CKV_AWS_25"],
        },
        "web/in/tcp/80/net:internet4@0.0.0.0",
    ),
    "azure": (
        {'module.nsg.azurerm_network_security_rule.this["in-tcp-22_3389"]': ["CKV_AZURE_10", "CKV_AZURE_9"]},
        "in-tcp-80_443",
    ),
}


def _emit(spec: Path, target: str, out: Path) -> dict:
    assert main(["emit", str(spec), "-t", target, "--out", str(out)]) == 0
    path = out / ".checkov.baseline"
    return json.loads(path.read_text()) if path.exists() else {}


def _keys(out: Path, target: str) -> set[str]:
    """The for_each keys of the emitted rules (what the addresses index)."""
    with open(out / "rules.tf") as f:
        data = hcl2.load(f)["locals"][0]
    table = data["ingress_rules"] if target == "aws" else data["security_rules"]
    return {k.strip('"') for k in table}


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_baseline_carries_each_allowance_to_its_rules(target: str, tmp_path: Path) -> None:
    spec = tmp_path / "topology.yaml"
    spec.write_text(SPEC)
    out = tmp_path / target
    document = _emit(spec, target, out)
    [entry] = document["failed_checks"]
    found = {f["resource"]: f["check_ids"] for f in entry["findings"]}
    accepted, unaccepted = EXPECTED[target]
    assert found == accepted
    assert all(f["reason"] == "lab jump host, torn down nightly" for f in entry["findings"])
    assert not any(unaccepted in address for address in found)  # HTTP from the internet stays reported
    keys = _keys(out, target)
    module = "security_groups" if target == "aws" else "nsg"
    assert f'module "{module}"' in (out / "main.tf").read_text()
    assert {address.split('["')[1].rstrip('"]') for address in found} <= keys
    # the allowance removed: the baseline goes too, so that it suppresses nothing nobody accepted
    spec.write_text(SPEC.replace("    allow_exposure: lab jump host, torn down nightly\n", ""))
    assert main(["emit", str(spec), "-t", target, "--out", str(out)]) == 1  # the lint refuses RDP to everyone
    spec.write_text(SPEC.replace("tcp/3389, tcp/22]\n    allow_exposure: lab jump host, torn down nightly", "tcp/443]"))
    assert _emit(spec, target, out) == {}
    assert not (out / ".checkov.baseline").exists()
