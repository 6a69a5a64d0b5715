"""Terraform keys of AWS rules name what a rule is for (issue 21): the ordinary changes that keep a rule's flows keep
its key, so Terraform updates the rule in place; fast, without Terraform (tests/test_terraform_change.py applies)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets.aws.emit import rules_locals


def _keys(tmp_path: Path, corp: list[str], flows: list[dict]) -> dict[str, dict]:
    spec = {
        "name": "keys",
        "egress": "strict",
        "networks": {"corp": {"ipv4": corp}},
        "roles": {"web": {}, "app": {}, "db": {}},
        "flows": flows,
    }
    path = tmp_path / f"spec{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(spec))
    emitted = rules_locals(desired_state(compile_spec(path), "aws"))
    return emitted["ingress_rules"] | emitted["egress_rules"]


FLOWS = [
    {"from": "corp", "to": "web", "services": ["tcp/443"]},
    {"from": "web", "to": "app", "services": ["tcp/8080"]},
    {"from": "app", "to": "db", "services": ["tcp/5432"]},
]


def test_widening_a_network_growing_a_range_and_merging_a_port_keep_every_key(tmp_path: Path) -> None:
    before = _keys(tmp_path, ["10.20.0.0/24"], FLOWS)
    changed = [
        {"from": "corp", "to": "web", "services": ["tcp/443"]},
        {"from": "web", "to": "app", "services": ["tcp/8080-8081"]},
        {"from": "app", "to": "db", "services": ["tcp/5432", "tcp/5433"]},
    ]
    after = _keys(tmp_path, ["10.20.0.0/23"], changed)
    assert before.keys() == after.keys()
    assert "web/in/tcp/443/net:corp@10.20.0.0" in after and after["web/in/tcp/443/net:corp@10.20.0.0"]["cidr_ipv4"] == (
        "10.20.0.0/23"
    )
    assert after["db/in/tcp/5432/sg:app"]["to_port"] == 5433


def test_a_block_added_to_a_network_is_a_new_key_and_the_others_stay(tmp_path: Path) -> None:
    before = _keys(tmp_path, ["10.20.0.0/24"], FLOWS)
    after = _keys(tmp_path, ["10.20.0.0/24", "10.10.0.0/24"], FLOWS)
    assert before.keys() < after.keys()
    assert after.keys() - before.keys() == {"web/in/tcp/443/net:corp@10.10.0.0"}


def test_a_new_port_below_a_range_is_a_new_key_and_the_old_one_goes(tmp_path: Path) -> None:
    """The case the module's create-before-destroy ordering is for."""
    before = _keys(tmp_path, ["10.20.0.0/24"], FLOWS)
    after = _keys(tmp_path, ["10.20.0.0/24"], [*FLOWS, {"from": "app", "to": "db", "services": ["tcp/5431"]}])
    assert before.keys() - after.keys() == {"db/in/tcp/5432/sg:app", "app/out/tcp/5432/sg:db"}
    assert after.keys() - before.keys() == {"db/in/tcp/5431/sg:app", "app/out/tcp/5431/sg:db"}
