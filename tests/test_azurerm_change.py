"""`terraform plan` of a change to an emitted Azure root, on the azurerm schema stand-in: the second emit (into the
same folder, reading the record the first left) keeps every rule whose pairs remain under its key, so Terraform
updates rules in place and creates only what is new; nothing is destroyed.

The stand-in only plans (tools/azurerm_schema), so the state "after applying" the first emit is written from that
emit's own plan: its planned values, with made-up IDs where Azure would assign them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
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


def _ordering_node(change: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """The module's terraform_data.rules_applied: the rule IDs (as _known makes them up), in the state's encoding
    of a dynamically typed attribute."""
    ids = sorted(
        _fake_id(c["address"]) for c in plan["resource_changes"] if c["type"] == "azurerm_network_security_rule"
    )
    value = {"value": ids, "type": ["list", "string"]}
    return {"id": _fake_id(change["address"]), "input": value, "output": value, "triggers_replace": None}


def _recorded(tf: TerraformRunner) -> dict[str, dict[str, Any]]:
    """Resource address -> what Terraform records with each of its instances on apply: the managed resources it
    depends on (transitively, from `terraform graph`: the configuration's references), and create_before_destroy
    (the rules', and that of what they depend on, which Terraform forces). Terraform orders a deletion by them."""
    code, graph, err = tf.cmd("graph")
    assert code == 0, err
    edges = _depends_on(graph.replace('"module.', '"[root] module.').replace('"data.', '"[root] data.'))
    managed = {node for node in {*edges, *(n for e in edges.values() for n in e)} if ".data." not in f".{node}"}
    recorded = {node: {"dependencies": sorted(_waits_for(edges, node) & managed)} for node in managed}
    rules = [node for node in managed if ".azurerm_network_security_rule." in node]
    forced = set(rules).union(*(recorded[node]["dependencies"] for node in rules))
    return {node: found | {"create_before_destroy": node in forced} for node, found in recorded.items()}


def _state(plan: dict[str, Any], spec: Path, recorded: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Terraform state (format 4) holding what the plan creates, as if it had been applied (recorded: from
    _recorded, for a test of the order of deletions)."""
    rules = desired_state(compile_spec(spec), "azure").nsg.rules
    asg = "module.nsg.azurerm_application_security_group.this"
    asg_ids = {role: _fake_id(f'{asg}["{role}"]') for role in desired_state(compile_spec(spec), "azure").asgs}
    resources: dict[tuple[str, str, str], dict[str, Any]] = {}
    for change in plan["resource_changes"]:
        if change["mode"] != "managed" or change["change"]["actions"] == ["delete"]:
            continue
        key = (change.get("module_address", ""), change["type"], change["name"])
        entry = resources.setdefault(
            key,
            {"mode": "managed", "type": key[1], "name": key[2], "provider": f'provider["{change["provider_name"]}"]'}
            | ({"module": key[0]} if key[0] else {})
            | {"instances": []},
        )
        values = _known(change, asg_ids, rules) if key[1] != "terraform_data" else _ordering_node(change, plan)
        instance = {"schema_version": 0, "attributes": values, "sensitive_attributes": []}
        instance |= (recorded or {}).get(".".join(filter(None, key)), {})
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


# ------------------------------------------------------------------------------------------ a pair that moves

MOVING = {
    "name": "moving",
    "roles": {"a": {}, "b": {}, "c": {}, "d": {}},
    "flows": [{"from": ["a", "b"], "to": ["c", "d"], "services": ["tcp/443"]}],
    "targets": {"azure": {"resource_group": "rg-moving"}},
}


def _without_a_to_d() -> dict:
    """a, b -> c, d with a -> d removed: one rule can no longer hold the rest, b -> d moves to a rule of its own."""
    spec = json.loads(json.dumps(MOVING))
    spec["flows"] = [
        {"from": ["a", "b"], "to": "c", "services": ["tcp/443"]},
        {"from": "b", "to": "d", "services": ["tcp/443"]},
    ]
    return spec


def _security_rules(out: Path) -> dict[str, Any]:
    """The module's security_rules as emitted in rules.tf (HCL read back)."""
    return hcl2.loads((out / "rules.tf").read_text())["locals"][0]["security_rules"]


def test_a_rule_taking_over_a_pair_is_written_first(tmp_path: Path) -> None:
    out = tmp_path / "root"
    _emit(MOVING, out, tmp_path)
    assert not [name for name, r in _security_rules(out).items() if r.get("written_first")]
    _emit(_without_a_to_d(), out, tmp_path)
    # in-tcp-443 gives b -> d up (a -> c, b -> c stay), in-tcp-443-slot2 takes it over and is written first
    first = {name for name, r in _security_rules(out).items() if r.get("written_first")}
    assert first == {"in-tcp-443-slot2"}
    _emit(_without_a_to_d(), out, tmp_path)  # nothing changes: written like any other rule, and moved back
    assert not [name for name, r in _security_rules(out).items() if r.get("written_first")]
    moved = (out / "moved.tf").read_text()
    assert 'from = module.nsg.azurerm_network_security_rule.first["in-tcp-443-slot2"]' in moved
    assert 'to   = module.nsg.azurerm_network_security_rule.this["in-tcp-443-slot2"]' in moved
    _emit(_without_a_to_d(), out, tmp_path)
    assert not (out / "moved.tf").exists()


def test_with_one_nsg_per_subnet_the_moved_blocks_name_the_nsg(tmp_path: Path) -> None:
    out = tmp_path / "root"
    subnets = [
        {"virtual_network": "vnet", "name": "front", "roles": ["a", "b"]},
        {"virtual_network": "vnet", "name": "back", "roles": ["c", "d"]},
    ]
    split = json.loads(json.dumps(MOVING))
    split["targets"]["azure"]["subnets"] = subnets
    _emit(split, out, tmp_path)
    _emit(_without_a_to_d() | {"targets": split["targets"]}, out, tmp_path)
    record = json.loads((out / "cloudports-priorities.json").read_text())
    assert record["written_first"] == ["moving-nsg-back/Inbound/in-tcp-443-slot2"]  # c and d sit in back
    _emit(_without_a_to_d() | {"targets": split["targets"]}, out, tmp_path)
    moved = (out / "moved.tf").read_text()
    assert 'from = module.nsg["moving-nsg-back"].azurerm_network_security_rule.first["in-tcp-443-slot2"]' in moved
    assert 'to   = module.nsg["moving-nsg-back"].azurerm_network_security_rule.this["in-tcp-443-slot2"]' in moved


def _depends_on(graph: str) -> dict[str, set[str]]:
    """`terraform graph -type=apply` -> each node and the nodes it waits for (directly)."""
    edges: dict[str, set[str]] = {}
    for later, earlier in re.findall(r'^\s*"\[root\] (.+?)" -> "\[root\] (.+?)";?$', graph, re.M):
        edges.setdefault(later.replace('\\"', '"'), set()).add(earlier.replace('\\"', '"'))
    return edges


def _waits_for(edges: dict[str, set[str]], node: str) -> set[str]:
    seen: set[str] = set()
    todo = [node]
    while todo:
        for earlier in edges.get(todo.pop(), ()):
            if earlier not in seen:
                seen.add(earlier)
                todo.append(earlier)
    return seen


def _applied(tf: TerraformRunner, spec: Path) -> dict[str, Any]:
    """Plans, and writes the state as if the plan had been applied; returns the plan."""
    plan = _plan(tf)
    (Path(tf.working_dir) / "terraform.tfstate").write_text(json.dumps(_state(plan, spec, _recorded(tf))))
    return plan


def _rule_changes(plan: dict[str, Any]) -> dict[str, tuple[list[str], str]]:
    """Rule name -> (what the plan does to it, its address), for the rules it changes."""
    return {
        c["index"]: (c["change"]["actions"], c["address"])
        for c in plan["resource_changes"]
        if c["type"] == "azurerm_network_security_rule" and c["change"]["actions"] != ["no-op"]
    }


def _graph(tf: TerraformRunner) -> dict[str, set[str]]:
    code, graph, err = tf.cmd("graph", type="apply", plan="tfplan")
    assert code == 0, err
    return _depends_on(graph)


def _first_applied(spec: dict, tmp_path: Path, config: TerraformCliConfig) -> tuple[Path, TerraformRunner]:
    """The spec emitted into a root, initialised, and its plan written to the state as if applied."""
    out = tmp_path / "root"
    first = _emit(spec, out, tmp_path)
    tf = TerraformRunner(out, env=terraform_env(config), timeout=120)
    code, _out, err = tf.init()
    assert code == 0, err
    _applied(tf, first)
    return out, tf


@pytest.mark.slow
def test_a_moving_pair_is_allowed_throughout(tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    """Regression (issue 21): a, b -> c, d, then a -> d removed. b -> d moves from in-tcp-443 to a new rule;
    Terraform must create that rule before it updates in-tcp-443, and delete nothing whose pairs remain."""
    out, tf = _first_applied(MOVING, tmp_path, tf_mirror_cli_config)
    second = _emit(_without_a_to_d(), out, tmp_path)
    changes = _rule_changes(_applied(tf, second))
    # nothing destroyed, nothing replaced: b -> d's new rule is created, in-tcp-443 updated (a, b -> c)
    assert {name: did for name, (did, _a) in changes.items()} == {
        "in-tcp-443-slot2": ["create"],
        "in-tcp-443": ["update"],
    }
    # the rule gaining b -> d is written before the rule losing it
    assert changes["in-tcp-443-slot2"][1] in _waits_for(_graph(tf), changes["in-tcp-443"][1])

    _emit(_without_a_to_d(), out, tmp_path)  # unchanged: in-tcp-443-slot2 moves back among the others (moved.tf)
    code, _out, err = tf.plan(out="tfplan", no_color=IsFlagged)
    assert code in (0, 2), err
    code, shown, err = tf.cmd("show", "tfplan", json=IsFlagged, no_color=IsFlagged)
    rules = [c for c in json.loads(shown)["resource_changes"] if c["type"] == "azurerm_network_security_rule"]
    assert {c["change"]["actions"][0] for c in rules} == {"no-op"}  # moved in the state, not re-created
    moved = {c["previous_address"]: c["address"] for c in rules if "previous_address" in c}
    assert moved == {
        'module.nsg.azurerm_network_security_rule.first["in-tcp-443-slot2"]':
        'module.nsg.azurerm_network_security_rule.this["in-tcp-443-slot2"]'
    }  # fmt: skip


PORTS = {
    "name": "ports",
    "roles": {"web": {}, "app": {}, "db": {}},
    "flows": [{"from": ["web", "db"], "to": "app", "services": ["tcp/8080"]}],
    "targets": {"azure": {"resource_group": "rg-ports"}},
}
WEB_TO_APP = {"from": "web", "to": "app", "services": ["tcp/8080-8081"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flows", "losing"),
    [
        ([WEB_TO_APP, {"from": "db", "to": "app", "services": ["tcp/8080"]}], ["update"]),  # db -> app stays
        ([WEB_TO_APP], ["delete"]),  # the old rule is left with nothing
    ],
    ids=["updated", "deleted"],
)
def test_a_rule_giving_a_pair_up_waits_for_the_rule_taking_it(
    tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path, flows: list[dict], losing: list[str]
) -> None:
    """web, db -> app on tcp/8080, then web's grows to 8080-8081: its flow on 8080 moves to a new rule, written
    before the old rule is updated or deleted."""
    out, tf = _first_applied(PORTS, tmp_path, tf_mirror_cli_config)
    changes = _rule_changes(_applied(tf, _emit(PORTS | {"flows": flows}, out, tmp_path)))
    assert {name: did for name, (did, _a) in changes.items()} == {"in-tcp-8080-8081": ["create"], "in-tcp-8080": losing}
    old = changes["in-tcp-8080"][1] + (" (destroy)" if losing == ["delete"] else "")
    assert changes["in-tcp-8080-8081"][1] in _waits_for(_graph(tf), old)
