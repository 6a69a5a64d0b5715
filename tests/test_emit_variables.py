"""Spec parameters as Terraform variables of the emitted roots (cloudports/emit/params.py): which parameters
become variables, what the variables say, that rule keys do not depend on the value, and that Terraform plans
the value a module user gives (Azure with the stand-in; AWS against moto, including the refused duplicates)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import hcl2
import pytest
from python_terraform import IsFlagged

from cloudports.cli import main
from tests.support.azurerm_mirror import planned
from tests.support.terraform_env import TerraformCliConfig, TerraformRunner, terraform_env

SPEC = """\
name: params
egress: strict
parameters:
  web_port:
    default: 8080
    description: Port of the web site
  admin_port: 8443
  api_port: 9000
  twice_port: 7000
networks:
  corp: {ipv4: [10.0.0.0/16]}
roles:
  web: {}
  app: {}
flows:
  - {from: corp, to: web, services: [tcp/443, "tcp/${web_port}"], description: Users}
  - {from: corp, to: app, services: ["tcp/${admin_port}", tcp/8444], description: Admins}
  - {from: web, to: app, services: ["tcp/${api_port}", tcp/9443], description: API}
  - {from: web, to: app, services: ["tcp/${twice_port}", tcp/7000], description: Twice}
"""


def _emit(tmp_path: Path, target: str, *extra: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    spec = tmp_path / "topology.yaml"
    spec.write_text(SPEC)
    out = tmp_path / target
    assert main(["emit", str(spec), "--target", target, "--out", str(out), *extra]) == 0
    return out


def _unq(value):
    """python-hcl2 keeps the quotes of quoted strings and keys; compare without them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unq(k): _unq(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unq(v) for v in value]
    return value


def _variables(out: Path) -> dict[str, dict]:
    parsed = _unq(hcl2.load((out / "main.tf").open()))
    return {name: body for block in parsed.get("variable", []) for name, body in block.items()}


def _locals(out: Path) -> dict:
    return _unq(hcl2.load((out / "rules.tf").open())["locals"][0])


def test_a_parameter_alone_on_its_port_becomes_a_variable(tmp_path: Path) -> None:
    variables = _variables(_emit(tmp_path, "aws"))
    # admin_port merges with 8444 into 8443-8444; twice_port's 7000 is also a literal port of the same flow.
    assert {"web_port", "api_port"} <= set(variables) and not {"admin_port", "twice_port"} & set(variables)
    web = variables["web_port"]
    assert web["default"] == 8080 and web["type"] == "number"
    assert web["description"].startswith("Port of the web site")
    assert "var.web_port >= 1 && var.web_port <= 65535" in web["validation"][0]["condition"]
    text = (tmp_path / "aws" / "main.tf").read_text()
    assert "# admin_port, twice_port\n" in text  # the comment naming the parameters left as numbers


def test_aws_keys_name_the_variable_and_stay_whatever_the_value(tmp_path: Path) -> None:
    first = _locals(_emit(tmp_path / "a", "aws"))
    again = _locals(_emit(tmp_path / "b", "aws", "--var", "web_port=8081", "--var", "api_port=9100"))
    assert first["ingress_rules"].keys() == again["ingress_rules"].keys()
    rule = first["ingress_rules"]["web/in/tcp/var.web_port/net:corp@10.0.0.0"]
    assert rule["from_port"] == rule["to_port"] == "${var.web_port}"
    assert "app/in/tcp/8443/net:corp@10.0.0.0" in first["ingress_rules"]  # merged: a number, keyed by its first port
    assert "app/in/tcp/7000/sg:web" in first["ingress_rules"]
    refused = _variables(tmp_path / "a" / "aws")["api_port"]["validation"][1]
    assert refused["condition"] == "${!contains([7000, 9443], var.api_port)}"  # same group, peer and protocol


def test_azure_port_entries_follow_the_variable(tmp_path: Path) -> None:
    out = _emit(tmp_path, "azure")
    rules = _locals(out)["security_rules"]
    ports = {name: r["destination_port_ranges"] for name, r in rules.items()}
    assert ports["in-tcp-443_8080"] == ["443", "${tostring(var.web_port)}"]
    assert ports["in-tcp-8443-8444"] == ["8443-8444"]
    assert set(_variables(out)) >= {"web_port", "api_port"}


def _show(tf: TerraformRunner, *variables: str) -> dict:
    args = [a for v in variables for a in ("-var", v)]
    code, out, err = tf.cmd("plan", *args, out="tfplan", no_color=IsFlagged, input=False)
    assert code == 0, out + err
    code, out, err = tf.cmd("show", "tfplan", json=IsFlagged, no_color=IsFlagged)
    assert code == 0, err
    return json.loads(out)


def test_azure_root_plans_the_value_a_user_gives(tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    out = _emit(tmp_path, "azure")
    tf = TerraformRunner(out, env=terraform_env(tf_mirror_cli_config), timeout=120)
    assert tf.init()[0] == 0
    default = _show(tf, "resource_group_name=rg")
    changed = _show(tf, "resource_group_name=rg", "web_port=5555")

    def web_ports(plan: dict) -> dict[str, object]:
        return {a: r["destination_port_ranges"] for a, r, _ in planned(plan, "azurerm_network_security_rule")}

    assert web_ports(default).keys() == web_ports(changed).keys()  # same rule names, whatever the value
    rule = 'module.nsg.azurerm_network_security_rule.this["in-tcp-443_8080"]'
    assert sorted(web_ports(default)[rule]) == ["443", "8080"] and sorted(web_ports(changed)[rule]) == ["443", "5555"]


def test_aws_root_plans_the_value_a_user_gives(
    tf_cli_config: TerraformCliConfig, moto_server: str, aws_env: dict[str, str], vpc: str, tmp_path: Path
) -> None:
    out = _emit(tmp_path, "aws")
    tf = TerraformRunner(out, env=terraform_env(tf_cli_config, aws_env), timeout=120)
    assert tf.init()[0] == 0
    plan = _show(tf, f"vpc_id={vpc}", "api_port=9100")
    rules = {a: r for a, r, _ in planned(plan, "aws_vpc_security_group_ingress_rule")}
    api = rules['module.security_groups.aws_vpc_security_group_ingress_rule.this["app/in/tcp/var.api_port/sg:web"]']
    assert api["from_port"] == api["to_port"] == 9100


def _variable_block(main_tf: str, name: str) -> str:
    start = main_tf.index(f'variable "{name}" {{\n')
    return main_tf[start : main_tf.index("\n}\n", start) + 3]


def test_aws_variable_refuses_a_value_that_would_duplicate_a_rule(terraform_available: str, tmp_path: Path) -> None:
    """The emitted variable block, planned alone (no provider needed): Terraform runs its validations."""
    block = _variable_block((_emit(tmp_path, "aws") / "main.tf").read_text(), "api_port")
    root = tmp_path / "alone"
    root.mkdir()
    (root / "main.tf").write_text(block)
    tf = TerraformRunner(root, env=terraform_env(None), timeout=60)
    assert tf.init()[0] == 0
    code, _, stderr = tf.cmd("plan", "-var", "api_port=9443", no_color=IsFlagged, input=False)
    message = " ".join(stderr.split())  # Terraform wraps long messages
    assert code == 1 and "api_port = 9443: another rule of the same group and peer has this port" in message
    assert "cloudports emit SPEC --var api_port=9443" in message
    assert tf.cmd("plan", "-var", "api_port=9444", no_color=IsFlagged, input=False)[0] == 0


@pytest.mark.parametrize(("value", "valid"), [("0", "false"), ("65536", "false"), ("80.5", "false"), ("1", "true")])
def test_out_of_range_values_are_refused(value: str, valid: str, terraform_available: str, tmp_path: Path) -> None:
    """The variable's validation condition, evaluated by Terraform itself (`terraform console`, no provider)."""
    condition = _variables(_emit(tmp_path, "aws"))["web_port"]["validation"][0]["condition"]
    root = tmp_path / "console"
    root.mkdir()
    (root / "main.tf").write_text('variable "web_port" {\n  type = number\n}\n')
    result = subprocess.run(
        [terraform_available, "console", "-var", f"web_port={value}"],
        input=condition.removeprefix("${").removesuffix("}"),
        cwd=root,
        env=terraform_env(None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == valid, result.stderr
