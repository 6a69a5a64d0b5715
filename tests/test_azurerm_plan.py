"""The Azure Terraform, validated and planned by Terraform against the azurerm schema.

No azurerm provider can be installed here; tools/azurerm_schema/standin.py serves azurerm's real schema
(extracted from the provider's published bindings) and plans, so `terraform validate` and `plan` check every
argument name, type and Required/Optional/Computed flag. The plan JSON is then checked against the provider-side
rules the schema does not carry (tests/support/azurerm_mirror.py). Skips only without the terraform CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from python_terraform import IsFlagged

from cloudports.cli import main
from cloudports.pipeline import compile_spec, desired_state
from tests.support.azurerm_mirror import plan_problems, planned, rule_problems
from tests.support.terraform_env import TerraformCliConfig, TerraformRunner, terraform_env

REPO = Path(__file__).resolve().parent.parent
AZURE_EXAMPLES = sorted(p.parent.parent.parent for p in (REPO / "examples").glob("*/terraform/azure/main.tf"))
MODULE = REPO / "modules" / "azure-nsg"
PROVIDER_BLOCK = 'provider "azurerm" {\n  features {}\n}\n'


def _ok(result: tuple[int, str, str], what: str) -> str:
    code, out, err = result
    assert code == 0, f"terraform {what} failed ({code}):\n{out}\n{err}"
    return out


def _runner(workdir: Path, cli: TerraformCliConfig) -> TerraformRunner:
    return TerraformRunner(workdir, env=terraform_env(cli), timeout=120)


def _plan_json(tf: TerraformRunner, variables: dict[str, Any]) -> dict[str, Any]:
    """validate, plan into a file, and the plan as `terraform show -json` gives it."""
    report = json.loads(tf.validate(json_output=True)[1])
    assert report["valid"], json.dumps(report["diagnostics"], indent=1)
    code, out, err = tf.plan(variables, out="tfplan", no_color=IsFlagged)
    assert code == 2, f"plan failed or planned nothing ({code}):\n{out}\n{err}"
    return json.loads(_ok(tf.cmd("show", "tfplan", json=IsFlagged, no_color=IsFlagged), "show -json"))


def _examples_plan(cli: TerraformCliConfig, wrapper: Path) -> dict[str, Any]:
    """The plan of every example's emitted Azure root, each called as a module of one wrapper root.

    One init, validate, plan and show instead of eleven (each costs seconds: Terraform and the stand-in start per
    command). The roots' provider block (the same fixed text in every root) moves to the wrapper: a provider block
    in each child would start one stand-in process per child.
    """
    calls = [PROVIDER_BLOCK]
    for example in AZURE_EXAMPLES:
        out = wrapper / example.name
        assert main(["emit", str(example / "topology.yaml"), "--target", "azure", "--out", str(out)]) == 0
        main_tf = (out / "main.tf").read_text()
        assert main_tf.count(PROVIDER_BLOCK) == 1
        (out / "main.tf").write_text(main_tf.replace(PROVIDER_BLOCK, ""))
        calls.append(
            f'module "{example.name}" {{\n  source              = "./{example.name}"\n'
            f'  resource_group_name = "rg-{example.name}"\n}}\n'
        )
    (wrapper / "main.tf").write_text("\n".join(calls))
    tf = _runner(wrapper, cli)
    _ok(tf.init(), "init")
    return _plan_json(tf, {})


def _of_module(plan: dict[str, Any], name: str) -> dict[str, Any]:
    prefix = f"module.{name}."
    return {"resource_changes": [c for c in plan["resource_changes"] if c["address"].startswith(prefix)]}


def _example_mismatches(example: Path, plan: dict[str, Any]) -> list[str]:
    """What the plan of one example's root gets wrong: Azure's rules, or a difference from the compiled model."""
    state = desired_state(compile_spec(example / "topology.yaml"), "azure")
    rules = {addr.split('"')[1]: after for addr, after, _ in planned(plan, "azurerm_network_security_rule")}
    asgs = sorted(after["name"] for _, after, _ in planned(plan, "azurerm_application_security_group"))
    nsgs = [(a["name"], a["resource_group_name"]) for _, a, _ in planned(plan, "azurerm_network_security_group")]
    checks = {
        "rule names": sorted(rules) == sorted(state.nsg.rules),
        "priorities": {n: r["priority"] for n, r in rules.items()}
        == {n: r.priority for n, r in state.nsg.rules.items()},
        "ASG names": asgs == sorted(a.name for a in state.asgs.values()),
        "NSG": nsgs == [(state.nsg.name, f"rg-{example.name}")],
    }
    return plan_problems(plan) + [f"{example.name}: {what} differ" for what, ok in checks.items() if not ok]


def test_every_emitted_azure_root_validates_and_plans(tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    """One test, not one per example: the shared plan would otherwise be made once per xdist worker."""
    plan = _examples_plan(tf_mirror_cli_config, tmp_path)
    assert len(AZURE_EXAMPLES) >= 11
    problems = [p for example in AZURE_EXAMPLES for p in _example_mismatches(example, _of_module(plan, example.name))]
    assert problems == []


def test_azure_module_example_validates_and_plans(tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    module = tmp_path / "azure-nsg"
    shutil.copytree(MODULE, module, ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    tf = _runner(module / "examples" / "basic", tf_mirror_cli_config)
    _ok(tf.init(), "init")
    subnet = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    plan = _plan_json(tf, {"resource_group_name": "rg-example", "subnet_id": subnet})

    assert plan_problems(plan) == []
    rules = {
        addr.split('"')[1]: (after, unknown) for addr, after, unknown in planned(plan, "azurerm_network_security_rule")
    }
    assert sorted(rules) == ["deny-vnet-inbound", "ping-from-admin", "sql-from-web", "web-https-from-internet"]
    https, _ = rules["web-https-from-internet"]
    assert https["source_address_prefix"] == "Internet" and https["destination_port_range"] == "443"
    ping, ping_unknown = rules["ping-from-admin"]
    assert sorted(ping["source_address_prefixes"]) == ["10.98.0.0/24", "10.99.0.0/24"]
    assert len(ping_unknown["destination_application_security_group_ids"]) == 2  # ASG IDs exist after apply
    assert [a["subnet_id"] for _, a, _ in planned(plan, "azurerm_subnet_network_security_group_association")] == [
        subnet
    ]


BAD_ROOT = """\
terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm" }
  }
}

provider "azurerm" {
  features {}
}

resource "azurerm_network_security_rule" "misspelt" {
  name                        = "a"
  resource_group_name         = "rg"
  network_security_group_name = "nsg"
  priority                    = 100
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  destination_port_rang       = "443"
}

resource "azurerm_network_security_rule" "no_priority" {
  name                        = "b"
  resource_group_name         = "rg"
  network_security_group_name = "nsg"
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
}

resource "azurerm_application_security_group" "wrong_type" {
  name                = "c"
  resource_group_name = "rg"
  location            = "westeurope"
  tags                = ["not", "a", "map"]
}
"""


def test_standin_refuses_what_the_azurerm_schema_refuses(
    tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path
) -> None:
    """The stand-in really carries azurerm's schema: unknown, missing and mistyped arguments are errors."""
    (tmp_path / "main.tf").write_text(BAD_ROOT)
    tf = _runner(tmp_path, tf_mirror_cli_config)
    _ok(tf.init(), "init")
    report = json.loads(tf.validate(json_output=True)[1])
    errors = {(d["summary"], d.get("range", {}).get("start", {}).get("line")) for d in report["diagnostics"]}
    assert not report["valid"]
    assert ("Unsupported argument", 19) in errors  # destination_port_rang
    assert ("Missing required argument", 22) in errors  # priority
    assert ("Incorrect attribute value type", 35) in errors  # tags


GOOD_RULE = {
    "priority": 100,
    "protocol": "Tcp",
    "description": "ok",
    "source_address_prefix": "10.0.0.0/8",
    "destination_port_range": "443",
}


@pytest.mark.parametrize(
    ("change", "unknown", "problem"),
    [
        ({"priority": 99}, {}, "priority 99 outside 100..4096"),
        ({"priority": 4097}, {}, "priority 4097 outside 100..4096"),
        ({"protocol": "TCP"}, {}, "protocol 'TCP'"),
        ({"description": "x" * 141}, {}, "description of 141 characters"),
        ({"source_address_prefixes": ["10.1.0.0/16"]}, {}, "source: exactly one of"),
        ({}, {"destination_application_security_group_ids": [True], "destination_address_prefix": True},
         "destination: exactly one of"),
        ({"source_address_prefix": None}, {"source_application_security_group_ids": [True] * 11},
         "source: 11 application security groups"),
        ({"destination_port_range": None}, {}, "exactly one of destination_port_range(s) expected, got none"),
    ],
)  # fmt: skip
def test_plan_checks_find_what_azure_refuses(change: dict, unknown: dict, problem: str) -> None:
    after = {**GOOD_RULE, "destination_address_prefix": "10.2.0.0/16", **change}
    good = rule_problems("r", {**GOOD_RULE, "destination_address_prefix": "10.2.0.0/16"}, {})
    assert good == []
    found = rule_problems("r", after, unknown)
    assert any(problem in p for p in found), found


def test_one_nsg_per_subnet_validates_and_plans(tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    """A spec whose subnets list their roles: the root creates the ASGs once and calls the module per NSG."""
    from tests.test_azure_split import spec_data, write

    spec, out = write(tmp_path, spec_data()), tmp_path / "root"
    assert main(["emit", str(spec), "-t", "azure", "--out", str(out)]) == 0
    tf = _runner(out, tf_mirror_cli_config)
    _ok(tf.init(), "init")
    plan = _plan_json(tf, {"resource_group_name": "rg-split"})
    assert plan_problems(plan) == []
    state = desired_state(compile_spec(spec), "azure")
    nsgs = sorted(a["name"] for _, a, _ in planned(plan, "azurerm_network_security_group"))
    assert nsgs == sorted(state.nsgs)
    rules: dict[str, dict[str, int]] = {}
    for _, after, _ in planned(plan, "azurerm_network_security_rule"):
        rules.setdefault(after["network_security_group_name"], {})[after["name"]] = after["priority"]
    assert rules == {n: {r.name: r.priority for r in nsg.rules.values()} for n, nsg in state.nsgs.items()}
    asgs = sorted(a["name"] for _, a, _ in planned(plan, "azurerm_application_security_group"))
    assert asgs == sorted(a.name for a in state.asgs.values())  # once, shared by both NSGs
    associations = [addr for addr, _, _ in planned(plan, "azurerm_subnet_network_security_group_association")]
    assert sorted(associations) == [
        f'module.nsg["{n}"].azurerm_subnet_network_security_group_association.this["vnet/{s}"]'
        for n, s in sorted((n, nsg.subnets[0].name) for n, nsg in state.nsgs.items())
    ]
