"""`terraform plan` of a change to an emitted Azure root, on the azurerm schema stand-in: the second emit (into the
same folder, reading the record the first left) keeps every rule whose pairs remain under its key, so Terraform
updates rules in place and creates only what is new; nothing is destroyed.

The stand-in only plans (tools/azurerm_schema), so the state "after applying" the first emit is written from that
emit's own plan: its planned values, with made-up IDs where Azure would assign them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from python_terraform import IsFlagged

from cloudports.cli import main
from cloudports.pipeline import compile_spec, desired_state
from tests.support.terraform_env import TerraformCliConfig, TerraformRunner, terraform_env

SPEC = {
    "name": "change",
    "egress": "strict",
    "roles": {"web": {}, "app": {}, "db": {}, "sql": {}},
    "networks": {"corp": {"ipv4": ["10.20.0.0/24"]}, "ops": {"ipv4": ["10.30.0.0/24"]}},
    "flows": [
        {"from": ["corp", "ops"], "to": "web", "services": ["tcp/443"]},
        {"from": "web", "to": "app", "services": ["tcp/8080"]},
        {"from": "app", "to": "db", "services": ["tcp/5432"]},
        {"from": ["web", "app"], "to": "sql", "services": ["tcp/1433"]},
    ],
    "targets": {"azure": {"resource_group": "rg-change"}},
}


def _changed() -> dict:
    """corp /24 -> /23, web -> app gains tcp/8443, app -> db gains tcp/5440, and a new flow db -> sql."""
    spec = json.loads(json.dumps(SPEC))
    spec["networks"]["corp"]["ipv4"] = ["10.20.0.0/23"]
    spec["flows"][1]["services"].append("tcp/8443")
    spec["flows"][2]["services"].append("tcp/5440")
    spec["flows"].append({"from": "db", "to": "sql", "services": ["tcp/1433"]})
    return spec


def _plan(tf: TerraformRunner) -> dict[str, Any]:
    code, out, err = tf.plan(out="tfplan", no_color=IsFlagged)
    assert code == 2, f"plan failed or planned nothing ({code}):\n{out}\n{err}"
    code, out, err = tf.cmd("show", "tfplan", json=IsFlagged, no_color=IsFlagged)
    assert code == 0, err
    return json.loads(out)


def _emit(spec: dict, out: Path, tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["emit", str(path), "--target", "azure", "--out", str(out)]) == 0
    return path


def _fake_id(address: str) -> str:
    return f"/fake/{address}"


def _known(change: dict[str, Any], asg_ids: dict[str, str], rules: dict[str, Any]) -> dict[str, Any]:
    """The planned values of one resource with what Azure would assign (IDs) filled in."""
    values = dict(change["change"]["after"])
    for key, unknown in (change["change"].get("after_unknown") or {}).items():
        if not unknown:
            continue
        if key.endswith("application_security_group_ids"):
            side = "source_asgs" if key.startswith("source") else "destination_asgs"
            values[key] = sorted(asg_ids[role] for role in getattr(rules[change["index"]], side))
        elif key == "network_security_group_id":
            values[key] = _fake_id("module.nsg.azurerm_network_security_group.this")
        elif key == "id" or key.endswith("_id"):
            values[key] = _fake_id(change["address"])
        else:
            values[key] = []  # a computed collection (the NSG's security_rule list): empty until read
    return values


def _state(plan: dict[str, Any], spec: Path) -> dict[str, Any]:
    """A Terraform state (format 4) holding what the plan creates, as if it had been applied."""
    rules = desired_state(compile_spec(spec), "azure").nsg.rules
    asg = "module.nsg.azurerm_application_security_group.this"
    asg_ids = {role: _fake_id(f'{asg}["{role}"]') for role in desired_state(compile_spec(spec), "azure").asgs}
    resources: dict[tuple[str, str, str], dict[str, Any]] = {}
    for change in plan["resource_changes"]:
        if change["mode"] != "managed":
            continue
        key = (change.get("module_address", ""), change["type"], change["name"])
        entry = resources.setdefault(
            key,
            {"mode": "managed", "type": key[1], "name": key[2], "provider": f'provider["{change["provider_name"]}"]'}
            | ({"module": key[0]} if key[0] else {})
            | {"instances": []},
        )
        instance = {"schema_version": 0, "attributes": _known(change, asg_ids, rules), "sensitive_attributes": []}
        entry["instances"].append(instance | ({"index_key": change["index"]} if "index" in change else {}))
    version = plan["terraform_version"]
    return {"version": 4, "terraform_version": version, "serial": 1, "lineage": "cloudports-test", "outputs": {},
            "resources": list(resources.values())}  # fmt: skip


def test_a_changed_spec_updates_rules_in_place(tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    out = tmp_path / "root"
    first = _emit(SPEC, out, tmp_path)
    tf = TerraformRunner(out, env=terraform_env(tf_mirror_cli_config), timeout=120)
    code, _out, err = tf.init()
    assert code == 0, err
    (out / "terraform.tfstate").write_text(json.dumps(_state(_plan(tf), first)))
    before = desired_state(compile_spec(first), "azure").nsg.rules
    second = _emit(_changed(), out, tmp_path)
    after = json.loads((out / "cloudports-priorities.json").read_text())["rules"]
    actions = {
        change["index"]: change["change"]["actions"]
        for change in _plan(tf)["resource_changes"]
        if change["type"] == "azurerm_network_security_rule"
    }
    assert not [name for name, did in actions.items() if "delete" in did]  # no rule destroyed, none replaced
    updated = {name for name, did in actions.items() if did == ["update"]}
    created = {name for name, did in actions.items() if did == ["create"]}
    assert updated == {"in-tcp-443", "in-tcp-1433", "out-tcp-1433"}  # corp widened; db joins web and app
    assert created == {"in-tcp-8443", "out-tcp-8443", "in-tcp-5440", "out-tcp-5440"}
    kept = {name.split("/", 1)[1] for name in after}
    assert {n for n, r in before.items() if r.access == "Allow"} | created == kept
    # built afresh (no record) the new spec packs differently: web -> app in one rule, in-tcp-8080_8443
    assert "in-tcp-8080_8443" in desired_state(compile_spec(second), "azure").nsg.rules
