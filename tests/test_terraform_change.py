"""Make before break on the Terraform path (issue 21): an ordinary change of the spec, planned and applied with the
real Terraform CLI and AWS provider against the moto server, never blocks a flow the spec declares both before and
after, checked after every single write Terraform makes, with the independent evaluator of tests/semantics.py.

Skips only where Terraform or the provider mirror is absent (the tf_cli_config fixture says which).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from cloudports.cli import main
from cloudports.emulators.aws import create_vpc
from cloudports.pipeline import compile_spec
from cloudports.targets.aws.model import AwsState, SecurityGroup, SgRule
from tests.semantics import AwsModel, Probe, SpecModel, probe_points
from tests.support.terraform_env import TerraformRunner, terraform_env

RULES = ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")


def _spec(tmp_path: Path, name: str, corp: str, web_app: str, app_db: list[str]) -> Path:
    """The issue's lab: four flows; the change widens corp, grows web->app's range and adds app->db ports."""
    flows = [
        {"from": "corp", "to": "web", "services": ["tcp/443"]},
        {"from": "web", "to": "app", "services": [web_app]},
        {"from": "corp", "to": "db", "services": ["tcp/22"]},
    ]
    flows += [{"from": "app", "to": "db", "services": [port]} for port in app_db]
    spec = {
        "name": "change",
        "egress": "strict",
        "networks": {"corp": {"ipv4": [corp]}},
        "roles": {"web": {}, "app": {}, "db": {}},
        "flows": flows,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _live_state(ec2: Any, vpc_id: str) -> AwsState:
    """The live groups and rules, read with plain boto3 (no cloudports reader), as an AwsState for AwsModel."""
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    role_of = {g["GroupId"]: t["Value"] for g in found for t in g.get("Tags", []) if t["Key"] == "cloudports:role"}
    rules = {}
    raw = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(role_of)}])
    for r in raw["SecurityGroupRules"]:
        ref = r.get("ReferencedGroupInfo", {}).get("GroupId")
        cidr4 = r.get("CidrIpv4") and str(ipaddress.ip_network(r["CidrIpv4"], strict=False))
        rule = SgRule(
            role_of[r["GroupId"]],
            "egress" if r["IsEgress"] else "ingress",
            r["IpProtocol"],
            r.get("FromPort"),
            r.get("ToPort"),
            cidr_ipv4=cidr4 or None,
            cidr_ipv6=r.get("CidrIpv6"),
            referenced_group=role_of.get(ref) if ref else None,
        )
        rules[r["SecurityGroupRuleId"]] = rule
    groups = {role: SecurityGroup(role, role, "", ()) for role in role_of.values()}
    return AwsState("change", "us-east-1", vpc_id, "", {}, groups, rules, egress="strict")


def _declared_both(before: Path, after: Path) -> list[Probe]:
    """Every probe the spec allows before the change and still allows after it."""
    old, new = SpecModel(compile_spec(before).topology), SpecModel(compile_spec(after).topology)
    probes = dict.fromkeys(probe_points(old.topology) + probe_points(new.topology))
    return [p for p in probes if old.allows(*p) and new.allows(*p)]


def _watch(server: Any, ec2: Any, vpc_id: str, probes: list[Probe]) -> tuple[list[str], list[str]]:
    """After every write the server carries out: which of `probes` the live rules block. (writes, blocked)"""
    writes: list[str] = []
    blocked: list[str] = []

    def check(action: str) -> None:
        writes.append(action)
        live = AwsModel(_live_state(ec2, vpc_id))
        blocked.extend(f"after write {len(writes)} ({action}): {p}" for p in probes if not live.allows(*p))

    server.after_write().append(check)
    return writes, blocked


def _rule_actions(tf: TerraformRunner) -> dict[str, list[str]]:
    code, _out, err = tf.cmd("plan", "-out=change.plan", "-var", f"vpc_id={tf.vpc_id}")  # type: ignore[attr-defined]
    assert code in (0, 2), err
    code, out, err = tf.cmd("show", "-json", "change.plan")
    assert code == 0, err
    changes = json.loads(out)["resource_changes"]
    return {c["address"]: c["change"]["actions"] for c in changes if c["type"] in RULES}


@pytest.fixture
def terraform(tmp_path, tf_cli_config, moto_server, aws_env, _moto_server_session):
    """A Terraform root in tmp_path/aws on a fresh VPC; the write watcher is removed afterwards."""
    tf = TerraformRunner(tmp_path / "aws", terraform_env(tf_cli_config, aws_env))
    tf.vpc_id = create_vpc(moto_server)  # type: ignore[attr-defined]
    yield tf
    _moto_server_session.after_write().clear()


def _emit_and_apply(tf: TerraformRunner, spec: Path, parallelism: int = 2) -> None:
    assert main(["emit", str(spec), "--target", "aws", "--out", tf.working_dir]) == 0
    if not (Path(tf.working_dir) / ".terraform").exists():
        code, _out, err = tf.init()
        assert code == 0, err
    code, out, err = tf.apply({"vpc_id": tf.vpc_id}, parallelism=parallelism)  # type: ignore[attr-defined]
    assert code == 0, out + err


def _change(tf, server, moto_server, before: Path, after: Path) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Apply `before`, plan `after` (the rules' actions), apply it watching every write: (actions, writes, blocked)."""
    _emit_and_apply(tf, before)
    assert main(["emit", str(after), "--target", "aws", "--out", tf.working_dir]) == 0
    actions = _rule_actions(tf)
    ec2 = boto3.client("ec2", endpoint_url=moto_server)
    writes, blocked = _watch(server, ec2, tf.vpc_id, _declared_both(before, after))
    _emit_and_apply(tf, after, parallelism=1)  # one write at a time: "after every write" is well defined
    server.after_write().clear()
    assert AwsModel(_live_state(ec2, tf.vpc_id)).allows("app", "db", "tcp", 5433)
    return actions, writes, blocked


def test_the_issues_change_is_updates_in_place_and_blocks_nothing(
    tmp_path, terraform, moto_server, _moto_server_session
):
    before = _spec(tmp_path, "before", "10.20.0.0/24", "tcp/8080", ["tcp/5432"])
    after = _spec(tmp_path, "after", "10.20.0.0/23", "tcp/8080-8081", ["tcp/5432", "tcp/5433"])
    actions, writes, blocked = _change(terraform, _moto_server_session, moto_server, before, after)
    changed = {address: act for address, act in actions.items() if act != ["no-op"]}
    assert changed and all(act == ["update"] for act in changed.values()), changed
    assert blocked == [], f"{len(blocked)} declared flows blocked, e.g. {blocked[:3]}"
    assert writes.count("ModifySecurityGroupRules") == len(changed), writes
    assert not [w for w in writes if w.startswith("Revoke")], writes


def test_a_rule_that_must_be_replaced_is_created_before_the_old_one_goes(
    tmp_path, terraform, moto_server, _moto_server_session
):
    """tcp/5431 joins tcp/5432-5433 below: the rule's first port, so its key, changes: a create and a delete,
    in that order."""
    before = _spec(tmp_path, "before", "10.20.0.0/24", "tcp/8080", ["tcp/5432-5433"])
    after = _spec(tmp_path, "after", "10.20.0.0/24", "tcp/8080", ["tcp/5431", "tcp/5432-5433"])
    actions, writes, blocked = _change(terraform, _moto_server_session, moto_server, before, after)
    replaced = sorted(address for address, act in actions.items() if act == ["delete"])
    assert replaced and all("5432" in address for address in replaced), actions
    assert blocked == [], f"{len(blocked)} declared flows blocked, e.g. {blocked[:3]}"
    revokes = [i for i, w in enumerate(writes) if w.startswith("Revoke")]
    authorizes = [i for i, w in enumerate(writes) if w.startswith("Authorize")]
    assert revokes and authorizes and max(authorizes) < min(revokes), writes
