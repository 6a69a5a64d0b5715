"""Make before break on the Terraform path (issue 21): an ordinary change of the spec, planned and applied with the
real Terraform CLI and AWS provider against the moto server, never blocks a flow the spec declares both before and
after, checked after every single write Terraform makes, with the independent evaluator of tests/semantics.py.

Skips only where Terraform or the provider mirror is absent (the tf_cli_config fixture says which).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from cloudports.cli import main
from cloudports.emulators.aws import create_vpc
from tests.semantics import AwsModel
from tests.support.terraform_env import TerraformRunner, terraform_env
from tests.support.tf_change import change_spec, declared_both, live_state, watch_writes

RULES = ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")


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
    writes, blocked = watch_writes(server, ec2, tf.vpc_id, declared_both(before, after))
    _emit_and_apply(tf, after, parallelism=1)  # one write at a time: "after every write" is well defined
    server.after_write().clear()
    assert AwsModel(live_state(ec2, tf.vpc_id)).allows("app", "db", "tcp", 5433)
    return actions, writes, blocked


def test_the_issues_change_is_updates_in_place_and_blocks_nothing(
    tmp_path, terraform, moto_server, _moto_server_session
):
    before = change_spec(tmp_path, "before", "10.20.0.0/24", "tcp/8080", ["tcp/5432"])
    after = change_spec(tmp_path, "after", "10.20.0.0/23", "tcp/8080-8081", ["tcp/5432", "tcp/5433"])
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
    before = change_spec(tmp_path, "before", "10.20.0.0/24", "tcp/8080", ["tcp/5432-5433"])
    after = change_spec(tmp_path, "after", "10.20.0.0/24", "tcp/8080", ["tcp/5431", "tcp/5432-5433"])
    actions, writes, blocked = _change(terraform, _moto_server_session, moto_server, before, after)
    replaced = sorted(address for address, act in actions.items() if act == ["delete"])
    assert replaced and all("5432" in address for address in replaced), actions
    assert blocked == [], f"{len(blocked)} declared flows blocked, e.g. {blocked[:3]}"
    revokes = [i for i, w in enumerate(writes) if w.startswith("Revoke")]
    authorizes = [i for i, w in enumerate(writes) if w.startswith("Authorize")]
    assert revokes and authorizes and max(authorizes) < min(revokes), writes
