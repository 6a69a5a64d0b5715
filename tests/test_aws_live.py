"""plan / apply / drift / destroy on AWS through boto3, against a moto HTTP server on 127.0.0.1.

Every test gets a fresh moto (the `moto_server` fixture resets it and points AWS_ENDPOINT_URL at it); cloudports
finds it through boto3's standard environment only. Results are read back with plain boto3
(tests/support/aws_live.py), not with cloudports' own reader.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from cloudports.cli import main
from cloudports.emulators.aws import boto3_client, drop_answers, dropped_answers
from cloudports.errors import CloudportsError
from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets.aws import TARGET as AWS
from cloudports.targets.aws import backend as aws_backend
from cloudports.targets.aws.api import translate
from cloudports.targets.aws.build import DESCRIPTION_TAG
from cloudports.targets.aws.read import normalise_rule
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, TOPOLOGY_TAG
from tests.support.aws_live import (
    ApiCalls,
    allows,
    flows,
    groups_in_vpc,
    inject_error,
    patch_moto_dependency_violation,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*/topology.yaml"))
DISTRIBUTED = REPO / "examples/dynamics365-distributed/topology.yaml"
THREE_TIER = REPO / "examples/three-tier-web/topology.yaml"

WRITES = ("Authorize", "Revoke", "Create", "Delete", "Modify", "Update")


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def client_hooks(monkeypatch: pytest.MonkeyPatch) -> list:
    """Functions applied to every EC2 client cloudports creates (also inside CLI commands)."""
    hooks: list = []
    original = aws_backend.ec2_client

    def patched(*args: Any, **kwargs: Any) -> Any:
        client = original(*args, **kwargs)
        for hook in hooks:
            hook(client)
        return client

    monkeypatch.setattr(aws_backend, "ec2_client", patched)
    return hooks


@pytest.fixture
def api_calls(client_hooks: list) -> ApiCalls:
    calls = ApiCalls()
    client_hooks.append(calls.attach)
    return calls


@pytest.fixture
def dependency_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_moto_dependency_violation(monkeypatch)


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def backend(spec: Path, vpc_id: str, phase: str | None = None, adopt: bool = False):
    return AWS.open_backend(compile_spec(spec, phase=phase), {"vpc_id": vpc_id}, adopt)


def desired(spec: Path, phase: str | None = None):
    return desired_state(compile_spec(spec, phase=phase), "aws")


def drift_json(capsys, spec: Path, vpc_id: str, *extra: str) -> tuple[int, dict]:
    code, out, _ = cli(capsys, "drift", spec, "-t", "aws", "--vpc-id", vpc_id, "-f", "json", *extra)
    return code, json.loads(out)


def categories(report: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for change in report["changes"]:
        found.setdefault(f"{change['kind']}:{change['category']}", set()).add(change["name"])
    return found


def expected_flows(spec: Path, phase: str | None = None) -> Counter:
    """The compiled rules as (group name, direction, protocol, from, to, peer) - what boto3 should read back."""
    state = desired(spec, phase)
    out: Counter = Counter()
    for r in state.rules.values():
        ports = (-1, -1) if r.ip_protocol == "-1" else (r.from_port, r.to_port)
        peer = state.groups[r.referenced_group].name if r.referenced_group else r.cidr_ipv4 or r.cidr_ipv6
        out[(state.groups[r.group].name, r.direction, r.ip_protocol, *ports, peer)] += 1
    return out


def live_flows(ec2: Any, vpc_id: str) -> Counter:
    return Counter((f.group, f.direction, f.protocol, f.from_port, f.to_port, f.peer) for f in flows(ec2, vpc_id))


def owned_flows(ec2: Any, vpc_id: str, prefix: str) -> Counter:
    return Counter({k: v for k, v in live_flows(ec2, vpc_id).items() if k[0].startswith(prefix)})


# ------------------------------------------------------------------------------------- apply every example


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_apply_example_reads_back_exactly_the_compiled_rules(spec, vpc, ec2, capsys, api_calls):
    code, out, _ = cli(capsys, "plan", spec, "-t", "aws", "--vpc-id", vpc, "--detailed-exitcode")
    assert code == 2 and "create" in out
    assert api_calls.writes == {}, "plan must not write"

    code, out, _ = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0, out

    state = desired(spec)
    prefix = state.name_prefix
    assert owned_flows(ec2, vpc, prefix) == expected_flows(spec), "every compiled rule exactly once, nothing else"
    groups = groups_in_vpc(ec2, vpc)
    for role, group in state.groups.items():
        tags = {t["Key"]: t["Value"] for t in groups[group.name]["Tags"]}
        assert tags[TOPOLOGY_TAG] == state.topology and tags[ROLE_TAG] == role
        assert tags.items() >= state.common_tags.items()
    owned_ids = [groups[g.name]["GroupId"] for g in state.groups.values()]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": owned_ids}])
    for rule in rules["SecurityGroupRules"]:
        assert {"Key": TOPOLOGY_TAG, "Value": state.topology} in rule["Tags"], "rules are tagged at creation"

    api_calls.clear()
    code, out, _ = cli(capsys, "plan", spec, "-t", "aws", "--vpc-id", vpc, "--detailed-exitcode")
    assert code == 0 and "no changes" in out
    api_calls.clear()
    code, out, _ = cli(capsys, "drift", spec, "-t", "aws", "--vpc-id", vpc)
    assert code == 0 and "in sync" in out
    # the API-call limit: one page of the VPC's groups, one page of their rules (no DescribeVpcs: nothing to create)
    assert api_calls.counts == {"DescribeSecurityGroups": 1, "DescribeSecurityGroupRules": 1}
    code, out, _ = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0
    assert api_calls.writes == {}, "a second apply makes no write call"


def test_distributed_flows_allowed_and_forbidden(vpc, ec2):
    b = backend(DISTRIBUTED, vpc)
    b.apply(b.plan())
    live_rules = flows(ec2, vpc)
    name = "d365dist-{}".format
    # SQL accepts 1433 from the web group, not from the corporate network.
    assert allows(live_rules, name("sql"), "ingress", "tcp", 1433, sg=name("web"))
    assert not allows(live_rules, name("sql"), "ingress", "tcp", 1433, cidr="10.20.0.0/16")
    assert allows(live_rules, name("web"), "egress", "tcp", 1433, sg=name("sql"))
    assert allows(live_rules, name("web"), "ingress", "tcp", 5555, cidr="10.20.1.0/24")
    # TCP 808 in exactly the seed's directions.
    inbound_808 = {
        (f.group, f.peer) for f in live_rules if f.direction == "ingress" and f.from_port <= 808 <= f.to_port
    }
    assert inbound_808 == {
        (name("sandbox"), name("async")),
        (name("sandbox"), name("web")),
        (name("web"), name("sandbox")),
        (name("web"), name("sql")),
    }
    outbound_808 = {
        (f.group, f.peer) for f in live_rules if f.direction == "egress" and f.from_port <= 808 <= f.to_port
    }
    assert outbound_808 == {(s, d) for d, s in inbound_808}
    # Strict egress: AWS's default allow-all egress rule is gone from every new group.
    assert not [f for f in live_rules if f.group != "default" and f.peer in ("0.0.0.0/0", "::/0")]
    # Setup-only flows are absent without --phase setup.
    assert not allows(live_rules, name("sql"), "ingress", "udp", 1434, sg=name("web"))


def test_three_tier_ipv6_and_icmp(vpc, ec2):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    live_rules = flows(ec2, vpc)
    assert allows(live_rules, "tier3-lb", "ingress", "tcp", 443, cidr="2001:db8:1::/48")
    assert allows(live_rules, "tier3-bastion", "ingress", "icmpv6", 128, cidr="2001:db8:100::/64")
    assert allows(live_rules, "tier3-db", "ingress", "tcp", 5432, sg="tier3-app")
    assert not allows(live_rules, "tier3-db", "ingress", "tcp", 5432, sg="tier3-lb")
    assert not allows(live_rules, "tier3-db", "ingress", "tcp", 5432, cidr="0.0.0.0/0")
    assert backend(THREE_TIER, vpc).plan().empty


# --------------------------------------------------------------------------------- batching and API calls


def test_apply_batches_one_authorize_per_group_and_direction(vpc):
    b = backend(DISTRIBUTED, vpc)
    calls = ApiCalls()
    calls.attach(b.ec2)
    state = b.desired
    with_ingress = {r.group for r in state.rules.values() if r.direction == "ingress"}
    with_egress = {r.group for r in state.rules.values() if r.direction == "egress"}

    b.apply(b.plan())
    writes = calls.writes
    assert writes["CreateSecurityGroup"] == len(state.groups)
    assert writes["AuthorizeSecurityGroupIngress"] == len(with_ingress)
    assert writes["AuthorizeSecurityGroupEgress"] == len(with_egress)
    # AWS's default egress (0.0.0.0/0 and, in an IPv6 VPC, ::/0) removed with one call per new group, right
    # after its creation.
    assert writes["RevokeSecurityGroupEgress"] == len(state.groups)
    for params in calls.params("RevokeSecurityGroupEgress"):
        (perm,) = params["IpPermissions"]
        assert perm["IpProtocol"] == "-1" and perm["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
        assert perm["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]
    assert set(writes) == {
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupEgress",
    }
    # Each Authorize carries every rule of its group and direction, with descriptions and rule tags.
    sent = 0
    for op in ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"):
        for params in calls.params(op):
            assert params["TagSpecifications"][0]["ResourceType"] == "security-group-rule"
            for perm in params["IpPermissions"]:
                peers = [*perm.get("IpRanges", []), *perm.get("Ipv6Ranges", []), *perm.get("UserIdGroupPairs", [])]
                assert all(p["Description"] for p in peers)
                sent += len(peers)
    assert sent == len(state.rules)
    # Reads are filtered and paginated: one DescribeSecurityGroupRules per read, never per group.
    for params in calls.params("DescribeSecurityGroupRules"):
        assert params["Filters"][0]["Name"] == "group-id" and params["MaxResults"] == 1000
    assert calls.counts["DescribeSecurityGroupRules"] <= 3

    calls.clear()
    assert b.plan().empty
    assert calls.writes == {}, "drift makes no write call"
    assert calls.counts["DescribeSecurityGroupRules"] == 1


def test_open_egress_keeps_awss_default_rule_and_describes_it(tmp_path, vpc, ec2):
    spec = write_spec(
        tmp_path,
        {
            "name": "open-lab",
            "egress": "open",
            "roles": {"a": {"description": "A"}, "b": {"description": "B"}},
            "flows": [{"from": "a", "to": "b", "services": ["tcp/443"], "description": "a calls b"}],
            "targets": {"aws": {"name_prefix": "open-"}},
        },
    )
    b = backend(spec, vpc)
    calls = ApiCalls()
    calls.attach(b.ec2)
    b.apply(b.plan())
    # The default egress rules match the spec's open egress: only their descriptions are set, in place.
    assert calls.writes["ModifySecurityGroupRules"] == 2
    assert "AuthorizeSecurityGroupEgress" not in calls.writes and "RevokeSecurityGroupEgress" not in calls.writes
    assert owned_flows(ec2, vpc, "open-") == expected_flows(spec)
    egress = [f for f in flows(ec2, vpc) if f.direction == "egress" and f.group != "default"]
    assert {f.description for f in egress} == {"open egress policy: all outbound traffic"}
    assert backend(spec, vpc).plan().empty


# ------------------------------------------------------------------------------------ out-of-band changes


def test_out_of_band_rule_changes_are_drift_and_apply_repairs_them(vpc, ec2, capsys):
    b = backend(DISTRIBUTED, vpc)
    b.apply(b.plan())
    groups = groups_in_vpc(ec2, vpc)
    web, sql = groups["d365dist-web"]["GroupId"], groups["d365dist-sql"]["GroupId"]
    # 1. someone opens RDP on web to the world
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    sql_rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sql]}])["SecurityGroupRules"]
    by_port = {(r["IsEgress"], r["IpProtocol"], r["FromPort"], r.get("CidrIpv4")): r for r in sql_rules}
    # 2. someone removes SQL's inbound RDP from the admin network
    gone = by_port[(False, "tcp", 3389, "10.99.0.0/24")]
    ec2.revoke_security_group_ingress(GroupId=sql, SecurityGroupRuleIds=[gone["SecurityGroupRuleId"]])
    # 3. someone rewrites a description
    edited = by_port[(False, "tcp", 5985, "10.99.0.0/24")]
    ec2.modify_security_group_rules(
        GroupId=sql,
        SecurityGroupRules=[
            {
                "SecurityGroupRuleId": edited["SecurityGroupRuleId"],
                "SecurityGroupRule": {
                    "IpProtocol": "tcp",
                    "FromPort": 5985,
                    "ToPort": 5986,
                    "CidrIpv4": "10.99.0.0/24",
                    "Description": "temporary",
                },
            }
        ],
    )

    code, report = drift_json(capsys, DISTRIBUTED, vpc)
    assert code == 2 and report["in_sync"] is False
    assert categories(report) == {
        "rule:extra": {"web/in/tcp/3389/cidr:0.0.0.0/0"},
        "rule:missing": {"sql/in/tcp/3389/cidr:10.99.0.0/24"},
        "rule:changed": {"sql/in/tcp/5985-5986/cidr:10.99.0.0/24"},
    }
    assert report["summary"] == {"missing": 1, "changed": 1, "extra": 1}
    code, out, _ = cli(capsys, "drift", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc)
    assert code == 2 and "extra" in out and "missing" in out and "changed" in out and "'temporary'" in out

    code, out, _ = cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0 and "1 created, 1 updated, 1 deleted" in out
    assert drift_json(capsys, DISTRIBUTED, vpc)[0] == 0
    assert owned_flows(ec2, vpc, "d365dist-") == expected_flows(DISTRIBUTED)


def test_deleted_group_is_missing_and_recreated(vpc, ec2, capsys):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    groups = groups_in_vpc(ec2, vpc)
    lb = groups["tier3-lb"]["GroupId"]
    # As on AWS, a group can only be deleted once no other group references it.
    for name in ("tier3-app",):
        gid = groups[name]["GroupId"]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
        refs = [r for r in rules if r.get("ReferencedGroupInfo", {}).get("GroupId") == lb]
        for r in refs:
            call = ec2.revoke_security_group_egress if r["IsEgress"] else ec2.revoke_security_group_ingress
            call(GroupId=gid, SecurityGroupRuleIds=[r["SecurityGroupRuleId"]])
    ec2.delete_security_group(GroupId=lb)

    code, report = drift_json(capsys, THREE_TIER, vpc)
    assert code == 2
    found = categories(report)
    assert found["security group:missing"] == {"tier3-lb"}
    assert "app/in/tcp/8080/sg:lb" in found["rule:missing"] and "lb/in/tcp/443/cidr:::/0" in found["rule:missing"]
    assert set(found) == {"security group:missing", "rule:missing"}

    assert cli(capsys, "apply", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    assert drift_json(capsys, THREE_TIER, vpc)[0] == 0
    assert owned_flows(ec2, vpc, "tier3-") == expected_flows(THREE_TIER)


def test_extra_group_tagged_for_the_topology_is_reported_and_deleted(vpc, ec2, capsys):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    tags = [{"Key": TOPOLOGY_TAG, "Value": "three-tier-web"}, {"Key": ROLE_TAG, "Value": "cache"}]
    extra = ec2.create_security_group(
        GroupName="tier3-cache",
        Description="left over",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )["GroupId"]
    code, report = drift_json(capsys, THREE_TIER, vpc)
    assert code == 2 and categories(report)["security group:extra"] == {"tier3-cache"}
    assert cli(capsys, "apply", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    with pytest.raises(ClientError):
        ec2.describe_security_groups(GroupIds=[extra])
    assert drift_json(capsys, THREE_TIER, vpc)[0] == 0


# ------------------------------------------------------------------------------------------- terraform


def test_terraform_apply_of_emitted_hcl_shows_no_drift(tmp_path, vpc, ec2, capsys, tf_cli_config, aws_env):
    from tests.support.terraform_env import TerraformRunner, terraform_env

    root = tmp_path / "tf"
    assert cli(capsys, "emit", DISTRIBUTED, "-t", "aws", "-o", root)[0] == 0
    tf = TerraformRunner(root, terraform_env(tf_cli_config, aws_env))
    code, out, err = tf.init()
    assert code == 0, err
    code, out, err = tf.apply({"vpc_id": vpc})
    assert code == 0, err

    # Terraform tags rules with the spec's tags too, but drift is about rules, not about who made them.
    assert owned_flows(ec2, vpc, "d365dist-") == expected_flows(DISTRIBUTED)
    code, report = drift_json(capsys, DISTRIBUTED, vpc)
    assert code == 0 and report["in_sync"] is True, report["changes"][:5]
    code, _, _ = cli(capsys, "plan", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--detailed-exitcode")
    assert code == 0


# --------------------------------------------------------------------------------- ownership and destroy


def test_untagged_same_name_group_is_refused_then_adopted(vpc, ec2, capsys):
    squatter = ec2.create_security_group(GroupName="tier3-db", Description="hand made", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=squatter,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 9999, "ToPort": 9999, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    before = live_flows(ec2, vpc)

    code, out, err = cli(capsys, "apply", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 1 and "tier3-db" in err and "--adopt" in err and "not tagged" in err
    assert live_flows(ec2, vpc) == before, "nothing was changed"

    code, out, _ = cli(capsys, "plan", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--adopt", "-f", "json")
    assert code == 0
    changes = json.loads(out)["changes"]
    assert {c["name"] for c in changes if c["kind"] == "security group" and c["action"] == "change"} == {"tier3-db"}
    assert "db/in/tcp/9999/cidr:10.0.0.0/8" in {c["name"] for c in changes if c["action"] == "remove"}

    code, out, _ = cli(capsys, "apply", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve", "--adopt")
    assert code == 0
    db = groups_in_vpc(ec2, vpc)["tier3-db"]
    assert db["GroupId"] == squatter
    assert {"Key": TOPOLOGY_TAG, "Value": "three-tier-web"} in db["Tags"]
    assert drift_json(capsys, THREE_TIER, vpc)[0] == 0, "once adopted it is simply owned"


def test_destroy_removes_only_what_it_owns(vpc, ec2, capsys, dependency_violation):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    db = groups_in_vpc(ec2, vpc)["tier3-db"]["GroupId"]
    # A foreign group with its own rule and a reference to one of ours; and an untagged bystander group.
    foreign = ec2.create_security_group(GroupName="monitoring", Description="not ours", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_egress(
        GroupId=foreign,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db}]}],
    )
    ec2.authorize_security_group_ingress(
        GroupId=foreign,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    ec2.create_security_group(GroupName="bystander", Description="not ours either", VpcId=vpc)
    foreign_before = Counter({k: v for k, v in live_flows(ec2, vpc).items() if k[0] in ("monitoring", "bystander")})

    code, out, _ = cli(capsys, "destroy", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0
    assert "left security group tier3-db" in out, "the group another group references is left, and said so"
    remaining = groups_in_vpc(ec2, vpc)
    assert {n for n in remaining if n.startswith("tier3-")} == {"tier3-db"}
    assert {"monitoring", "bystander", "default"} <= set(remaining)
    after = Counter({k: v for k, v in live_flows(ec2, vpc).items() if k[0] in ("monitoring", "bystander")})
    assert after == foreign_before, "rules of groups cloudports does not own are never touched"

    # Once the reference is gone, destroy finishes the job.
    rule = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [foreign]}])["SecurityGroupRules"]
    ec2.revoke_security_group_egress(
        GroupId=foreign, SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in rule if r.get("ReferencedGroupInfo")]
    )
    assert cli(capsys, "destroy", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    assert not [n for n in groups_in_vpc(ec2, vpc) if n.startswith("tier3-")]
    code, out, _ = cli(capsys, "destroy", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0 and "nothing to destroy" in out and "matches the spec" not in out


def test_phase_setup_flows_added_then_removed(vpc, ec2, capsys):
    assert cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    code, out, _ = cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve", "--phase", "setup")
    assert code == 0 and "4 created, 0 updated, 0 deleted" in out
    live_rules = flows(ec2, vpc)
    assert allows(live_rules, "d365dist-sql", "ingress", "udp", 1434, sg="d365dist-web")
    assert allows(live_rules, "d365dist-sql", "ingress", "tcp", 445, sg="d365dist-web")
    assert allows(live_rules, "d365dist-web", "egress", "udp", 1434, sg="d365dist-sql")

    code, report = drift_json(capsys, DISTRIBUTED, vpc)
    assert code == 2 and categories(report) == {
        "rule:extra": {
            "sql/in/tcp/445/sg:web",
            "sql/in/udp/1434/sg:web",
            "web/out/tcp/445/sg:sql",
            "web/out/udp/1434/sg:sql",
        }
    }
    assert drift_json(capsys, DISTRIBUTED, vpc, "--phase", "setup")[0] == 0

    code, out, _ = cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0 and "0 created, 0 updated, 4 deleted" in out
    assert not allows(flows(ec2, vpc), "d365dist-sql", "ingress", "udp", 1434, sg="d365dist-web")
    assert drift_json(capsys, DISTRIBUTED, vpc)[0] == 0


# ------------------------------------------------------------------------------- failures and convergence


class Interrupted(Exception):
    pass


def test_interrupted_apply_converges_without_duplicates(vpc, ec2):
    b = backend(DISTRIBUTED, vpc)
    seen = []

    def stop_after_second_authorize(**_: Any) -> None:
        seen.append(1)
        if len(seen) == 2:
            raise Interrupted

    b.ec2.meta.events.register("after-call.ec2.AuthorizeSecurityGroupIngress", stop_after_second_authorize)
    with pytest.raises(Interrupted):
        b.apply(b.plan())

    again = backend(DISTRIBUTED, vpc)
    plan = again.plan()
    assert not plan.empty and all(c.kind == "rule" for c in plan.changes), "groups exist; rules remain"
    again.apply(plan)
    assert backend(DISTRIBUTED, vpc).plan().empty
    assert owned_flows(ec2, vpc, "d365dist-") == expected_flows(DISTRIBUTED), "no duplicate, no lost rule"


def test_rule_already_present_at_authorize_time_is_taken_as_done(vpc, ec2, moto_server):
    b = backend(THREE_TIER, vpc)
    other = boto3_client(moto_server)
    raced = []

    def someone_adds_it_first(params: dict, **_: Any) -> None:
        if raced:
            return
        perm = params["IpPermissions"][-1]
        first = {k: v[:1] for k, v in perm.items() if isinstance(v, list)}
        other.authorize_security_group_ingress(GroupId=params["GroupId"], IpPermissions=[{**perm, **first}])
        raced.append(params["GroupId"])

    b.ec2.meta.events.register("before-parameter-build.ec2.AuthorizeSecurityGroupIngress", someone_adds_it_first)
    b.apply(b.plan())
    assert raced
    assert backend(THREE_TIER, vpc).plan().empty
    assert owned_flows(ec2, vpc, "tier3-") == expected_flows(THREE_TIER)


def test_plan_made_stale_by_an_outside_change_is_not_applied(vpc, ec2):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    db = groups_in_vpc(ec2, vpc)["tier3-db"]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    plan = b.plan()
    ec2.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 2, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    with pytest.raises(CloudportsError, match="changed since the plan"):
        b.apply(plan)


def test_rule_limit_is_one_clear_error(tmp_path, vpc, capsys):
    networks = {f"n{i}": {"ipv4": [f"10.{i}.0.0/24"]} for i in range(70)}
    spec = write_spec(
        tmp_path,
        {
            "name": "limits",
            "egress": "strict",
            "networks": networks,
            "roles": {"big": {"description": "many sources"}},
            "flows": [{"from": sorted(networks), "to": "big", "services": ["tcp/443"]}],
            "targets": {"aws": {"name_prefix": "limits-", "max_rules_per_group": 100}},
        },
    )
    code, _, err = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 1
    assert err.count("error:") == 1
    assert "RulesPerSecurityGroupLimitExceeded" in err and "limits-big" in err and "big/in/tcp/443/cidr:" in err
    assert "L-0EA8095F" in err


def test_full_group_replaces_a_rule_in_place(tmp_path, vpc, ec2):
    def spec(last_cidr: str) -> Path:
        networks = {f"n{i}": {"ipv4": [f"10.{i}.0.0/24"]} for i in range(59)} | {"last": {"ipv4": [last_cidr]}}
        return write_spec(
            tmp_path,
            {
                "name": "full",
                "egress": "strict",
                "networks": networks,
                "roles": {"big": {"description": "60 sources"}},
                "flows": [{"from": sorted(networks), "to": "big", "services": ["tcp/443"]}],
                "targets": {"aws": {"name_prefix": "full-"}},
            },
        )

    b = backend(spec("10.200.0.0/24"), vpc)
    b.apply(b.plan())
    b = backend(spec("10.201.0.0/24"), vpc)  # one source replaced: 60 + 1 does not fit
    calls = ApiCalls()
    calls.attach(b.ec2)
    done = b.apply(b.plan())
    assert done.counts() == {"add": 1, "change": 0, "remove": 1}
    order = [name for name, _ in calls.calls if not name.startswith("Describe")]
    assert order == ["ModifySecurityGroupRules"], "60 + 1 does not fit: the replaced rule is changed in place"
    assert backend(spec("10.201.0.0/24"), vpc).plan().empty


def test_unknown_vpc_missing_vpc_and_unknown_profile_are_clear_errors(capsys, moto_server):
    code, _, err = cli(capsys, "drift", THREE_TIER, "-t", "aws", "--vpc-id", "vpc-0123456789abcdef0")
    assert code == 1 and "InvalidVpcID.NotFound" in err and "vpc-0123456789abcdef0" in err and "--vpc-id" in err
    code, _, err = cli(capsys, "plan", THREE_TIER, "-t", "aws")
    assert code == 1 and "no VPC given" in err
    code, _, err = cli(capsys, "plan", THREE_TIER, "-t", "aws", "--vpc-id", "vpc-0123", "--profile", "no-such-profile")
    assert code == 1 and "no-such-profile" in err


@pytest.mark.parametrize(
    ("operation", "code", "expect"),
    [
        ("CreateSecurityGroup", "UnauthorizedOperation", "creating security group (tier3-app in"),
        ("AuthorizeSecurityGroupIngress", "RequestLimitExceeded", "adding ingress rules (security group tier3-"),
        ("DescribeSecurityGroupRules", "UnauthorizedOperation", "reading security group rules"),
    ],
)
def test_aws_errors_become_one_clear_message(vpc, capsys, client_hooks, operation, code, expect):
    client_hooks.append(lambda c: inject_error(c, operation, code, "no", times=5))
    rc, _, err = cli(capsys, "apply", THREE_TIER, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert rc == 1 and err.count("error:") == 1
    assert code in err and expect in err


def test_group_deleted_during_apply_is_a_clear_error(vpc):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    b = backend(THREE_TIER, vpc)
    b.desired.rules = {k: replace(r, description="new") for k, r in b.desired.rules.items()}
    inject_error(b.ec2, "ModifySecurityGroupRules", "InvalidGroup.NotFound", "gone")
    with pytest.raises(CloudportsError, match=r"updating rule descriptions \(security group tier3-\w+ sg-") as exc:
        b.apply(b.plan())
    assert len(exc.value.diagnostics) == 1 and "plan" in exc.value.diagnostics[0].hint


def test_dependency_violation_during_apply_names_the_group(vpc, ec2, dependency_violation):
    b = backend(THREE_TIER, vpc)
    b.apply(b.plan())
    tags = [{"Key": TOPOLOGY_TAG, "Value": "three-tier-web"}, {"Key": ROLE_TAG, "Value": "old"}]
    old = ec2.create_security_group(
        GroupName="tier3-old",
        Description="x",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )["GroupId"]
    foreign = ec2.create_security_group(GroupName="foreign", Description="x", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=foreign,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "UserIdGroupPairs": [{"GroupId": old}]}],
    )
    with pytest.raises(CloudportsError, match="left security group tier3-old") as exc:
        b.apply(b.plan())
    assert len(exc.value.diagnostics) == 1


@pytest.mark.parametrize(
    "code",
    [
        "RulesPerSecurityGroupLimitExceeded",
        "InvalidPermission.Duplicate",
        "DependencyViolation",
        "RequestLimitExceeded",
        "UnauthorizedOperation",
        "InvalidVpcID.NotFound",
        "InvalidGroup.NotFound",
    ],
)
def test_translate_gives_one_diagnostic_with_a_hint(code):
    exc = ClientError({"Error": {"Code": code, "Message": "m"}}, "AuthorizeSecurityGroupIngress")
    error = translate(exc, "adding ingress rules", "security group x sg-1, 1 ingress rules: x/in/tcp/1/cidr:10.0.0.0/8")
    assert len(error.diagnostics) == 1
    (d,) = error.diagnostics
    assert code in d.message and "sg-1" in d.message and "x/in/tcp/1" in d.message and d.hint


# ------------------------------------------------------------------------------------------ normalisation


def test_normalise_rule_matches_the_compilers_spelling():
    keys = {"sg-own": "web", "sg-db": "db"}

    def rule(**raw):
        return normalise_rule({"GroupId": "sg-own", "IsEgress": False, "FromPort": 22, "ToPort": 22, **raw}, keys)

    assert rule(IpProtocol="6", CidrIpv4="10.1.2.3/16").key == "web/in/tcp/22/cidr:10.1.0.0/16"
    assert rule(IpProtocol="17", CidrIpv6="2001:0db8:0000::/32").key == "web/in/udp/22/cidr:2001:db8::/32"
    assert rule(IpProtocol="58", FromPort=128, ToPort=-1, CidrIpv6="::/0").key == "web/in/icmpv6/128:-1/cidr:::/0"
    assert rule(IpProtocol="1", FromPort=-1, ToPort=-1, CidrIpv4="0.0.0.0/0").key == "web/in/icmp/any/cidr:0.0.0.0/0"
    assert rule(IpProtocol="-1", FromPort=-1, ToPort=-1, CidrIpv4="0.0.0.0/0").key == "web/in/all/all/cidr:0.0.0.0/0"
    assert rule(IpProtocol="tcp", ReferencedGroupInfo={"GroupId": "sg-db"}).key == "web/in/tcp/22/sg:db"
    foreign = rule(IpProtocol="tcp", ReferencedGroupInfo={"GroupId": "sg-else"}, Description="d")
    assert foreign.referenced_group_id == "sg-else" and foreign.key == "web/in/tcp/22/sgid:sg-else"
    assert foreign.description == "d"


# ------------------------------------------------------------------------- changes that never block a flow


def _full_group_spec(tmp_path: Path, widen: bool) -> Path:
    """60 sources into one group (the quota): 40 that become /23 when widened, 20 that stay."""
    wide = {f"w{i:02d}": {"ipv4": [f"10.{2 * i}.0.0/{23 if widen else 24}"]} for i in range(40)}
    fixed = {f"f{i:02d}": {"ipv4": [f"10.{100 + i}.0.0/24"]} for i in range(20)}
    networks = wide | fixed
    return write_spec(
        tmp_path,
        {
            "name": "quota",
            "egress": "strict",
            "networks": networks,
            "roles": {"big": {"description": "60 sources"}},
            "flows": [{"from": sorted(networks), "to": "big", "services": ["tcp/443"]}],
            "targets": {"aws": {"name_prefix": "quota-"}},
        },
    )


def blocked_after_each_write(client: Any, ec2: Any, vpc_id: str, probes: list[tuple[str, str, int]]) -> list[str]:
    """After every write call of `client`, reads the live rules back (plain boto3) and records each probe
    (group, source CIDR, tcp port) that no ingress rule allows any more."""
    blocked: list[str] = []

    def check(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if not operation.startswith(WRITES):
            return
        live = flows(ec2, vpc_id)
        blocked.extend(
            f"after {operation}: {cidr} -> {group} tcp/{port}"
            for group, cidr, port in probes
            if not allows(live, group, "ingress", "tcp", port, cidr=cidr)
        )

    client.meta.events.register("after-call.ec2", check)
    return blocked


def test_widening_sources_of_a_full_group_never_blocks_a_declared_flow(tmp_path, vpc, ec2):
    first = backend(_full_group_spec(tmp_path, widen=False), vpc)
    first.apply(first.plan())
    probes = [("quota-big", f"10.{2 * i}.0.0/24", 443) for i in range(40)]
    probes += [("quota-big", f"10.{100 + i}.0.0/24", 443) for i in range(20)]
    b = backend(_full_group_spec(tmp_path, widen=True), vpc)
    calls = ApiCalls()
    calls.attach(b.ec2)
    blocked = blocked_after_each_write(b.ec2, ec2, vpc, probes)
    done = b.apply(b.plan())
    assert done.counts() == {"add": 40, "change": 0, "remove": 40}
    assert blocked == [], f"{len(blocked)} declared flows blocked between calls, e.g. {blocked[:3]}"
    assert calls.writes == {"ModifySecurityGroupRules": 1}, "the 40 rules are changed in place, keeping their IDs"
    assert backend(_full_group_spec(tmp_path, widen=True), vpc).plan().empty


def _front_spec(tmp_path: Path, from_anywhere: bool) -> Path:
    fixed = {f"f{i:02d}": {"ipv4": [f"10.{100 + i}.0.0/24"]} for i in range(59)}
    networks = fixed | ({"anywhere": {"ipv4": ["0.0.0.0/0"]}} if from_anywhere else {})
    return write_spec(
        tmp_path,
        {
            "name": "gap",
            "egress": "strict",
            "networks": networks,
            "roles": {"big": {"description": "full"}, "front": {"description": "front end"}},
            "flows": [
                {"from": sorted(fixed), "to": "big", "services": ["tcp/443"]},
                {"from": "anywhere" if from_anywhere else "front", "to": "big", "services": ["tcp/443"]},
            ],
            "targets": {"aws": {"name_prefix": "gap-"}},
        },
    )


def test_a_gap_no_order_can_avoid_is_planned_and_needs_allow_gap(tmp_path, vpc, ec2, capsys):
    first = backend(_front_spec(tmp_path, from_anywhere=False), vpc)
    first.apply(first.plan())
    # A group reference cannot become a CIDR in place and the group is full: front -> big would be blocked
    # between the revoke and the authorize.
    spec = _front_spec(tmp_path, from_anywhere=True)
    b = backend(spec, vpc)
    calls = ApiCalls()
    calls.attach(b.ec2)
    plan = b.plan()
    assert any("--allow-gap" in note and "gap-big" in note for note in plan.notes), plan.notes
    with pytest.raises(CloudportsError) as exc:
        b.apply(plan)
    assert "--allow-gap" in exc.value.diagnostics[0].hint
    assert calls.writes == {}, "refused before any change"

    code, _out, err = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 1 and "--allow-gap" in err
    code, _out, err = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve", "--allow-gap")
    assert code == 0, err
    assert backend(spec, vpc).plan().empty


# -------------------------------------------------------------------------------------- interrupted runs


def test_new_groups_lose_the_default_egress_before_anything_else(vpc, ec2):
    b = backend(DISTRIBUTED, vpc)
    calls = ApiCalls()
    calls.attach(b.ec2)
    creates: list[int] = []

    def stop_at_second_create(**_: Any) -> None:
        creates.append(1)
        if len(creates) == 2:
            raise Interrupted

    b.ec2.meta.events.register("before-call.ec2.CreateSecurityGroup", stop_at_second_create)
    with pytest.raises(Interrupted):
        b.apply(b.plan())
    made = [n for n in groups_in_vpc(ec2, vpc) if n.startswith("d365dist-")]
    assert len(made) == 1
    assert not [f for f in flows(ec2, vpc) if f.group in made and f.direction == "egress"], "no allow-all left"
    writes = [name for name, _ in calls.calls if name.startswith(WRITES)]
    assert writes[:2] == ["CreateSecurityGroup", "RevokeSecurityGroupEgress"]

    again = backend(DISTRIBUTED, vpc)
    again.apply(again.plan())
    assert owned_flows(ec2, vpc, "d365dist-") == expected_flows(DISTRIBUTED)


# ------------------------------------------------------------------------------------------------ day 2


def _described_spec(tmp_path: Path, description: str, extra: dict | None = None) -> Path:
    return write_spec(
        tmp_path,
        {
            "name": "desc-lab",
            "egress": "strict",
            "roles": {"a": {"description": description}, "b": {"description": "B"}},
            "flows": [{"from": "a", "to": "b", "services": ["tcp/443"]}],
            "targets": {"aws": {"name_prefix": "desc-"}},
            **(extra or {}),
        },
    )


def test_role_description_is_a_tag_and_editing_it_never_replaces_the_group(tmp_path, vpc, ec2):
    first = backend(_described_spec(tmp_path, "first words"), vpc)
    first.apply(first.plan())
    group = groups_in_vpc(ec2, vpc)["desc-a"]
    assert group["Description"] == "cloudports desc-lab role a"
    assert {"Key": DESCRIPTION_TAG, "Value": "first words"} in group["Tags"]
    assert desired(_described_spec(tmp_path, "x")).groups["a"].description == "cloudports desc-lab role a"

    b = backend(_described_spec(tmp_path, "other words, (edited)"), vpc)
    calls = ApiCalls()
    calls.attach(b.ec2)
    plan = b.plan()
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [("change", "security group", "desc-a")]
    assert not [n for n in plan.notes if "cannot" in n]
    b.apply(plan)
    assert calls.writes == {"CreateTags": 1}
    after = groups_in_vpc(ec2, vpc)["desc-a"]
    assert after["GroupId"] == group["GroupId"]
    assert {"Key": DESCRIPTION_TAG, "Value": "other words, (edited)"} in after["Tags"]
    assert backend(_described_spec(tmp_path, "other words, (edited)"), vpc).plan().empty


def test_destroy_needs_only_the_topology_identity(tmp_path, vpc, ec2, capsys):
    b = backend(DISTRIBUTED, vpc)
    b.apply(b.plan())
    data = yaml.safe_load(DISTRIBUTED.read_text())
    data["flows"].append({"from": "ghost", "to": "web", "services": ["tcp/1"]})  # no longer compiles
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    assert cli(capsys, "validate", broken)[0] == 1
    code, out, _ = cli(capsys, "destroy", broken, "-t", "aws", "--vpc-id", vpc, "--auto-approve", "-f", "json")
    assert code == 0, out
    plan = json.loads(out)
    assert {c["name"] for c in plan["changes"] if c["kind"] == "security group"} == {
        f"d365dist-{r}" for r in ("web", "async", "sandbox", "sql", "dc")
    }
    assert not [c for c in plan["changes"] if "no such role" in c["reason"]]
    assert not [n for n in groups_in_vpc(ec2, vpc) if n.startswith("d365dist-")]
    code, out, _ = cli(capsys, "destroy", broken, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0 and "nothing to destroy" in out and "matches the spec" not in out


# -------------------------------------------------------------------------------- two specs, one name


def _team_b(tmp_path: Path) -> Path:
    data = yaml.safe_load(DISTRIBUTED.read_text())
    data["targets"]["aws"]["name_prefix"] = "teamb-"
    return write_spec(tmp_path, data)


def _group_state(ec2: Any, vpc_id: str, prefix: str) -> dict[str, Any]:
    groups = {n: g for n, g in groups_in_vpc(ec2, vpc_id).items() if n.startswith(prefix)}
    ids = [g["GroupId"] for g in groups.values()]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": ids}])["SecurityGroupRules"]
    return {
        "groups": {n: (g["GroupId"], sorted((t["Key"], t["Value"]) for t in g["Tags"])) for n, g in groups.items()},
        "rules": sorted(
            (r["SecurityGroupRuleId"], str(sorted((t["Key"], t["Value"]) for t in r["Tags"]))) for r in rules
        ),
    }


def test_two_specs_with_one_name_never_touch_each_others_groups(tmp_path, vpc, ec2, capsys):
    team_b = _team_b(tmp_path)
    assert cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    lab_a = _group_state(ec2, vpc, "d365dist-")
    flows_a = owned_flows(ec2, vpc, "d365dist-")
    for _, tags in lab_a["groups"].values():
        assert (SPEC_TAG, "d365-distributed;name_prefix=d365dist-") in tags

    code, out, err = cli(capsys, "apply", team_b, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0, err
    assert len([n for n in groups_in_vpc(ec2, vpc) if n.startswith("teamb-")]) == 5
    assert _group_state(ec2, vpc, "d365dist-") == lab_a and owned_flows(ec2, vpc, "d365dist-") == flows_a
    assert backend(DISTRIBUTED, vpc).plan().empty and backend(team_b, vpc).plan().empty

    assert cli(capsys, "destroy", team_b, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    assert not [n for n in groups_in_vpc(ec2, vpc) if n.startswith("teamb-")]
    assert _group_state(ec2, vpc, "d365dist-") == lab_a and owned_flows(ec2, vpc, "d365dist-") == flows_a


def test_groups_of_an_older_version_are_claimed_by_their_own_spec_only(tmp_path, vpc, ec2):
    a = backend(DISTRIBUTED, vpc)
    a.apply(a.plan())
    ids = [g["GroupId"] for n, g in groups_in_vpc(ec2, vpc).items() if n.startswith("d365dist-")]
    ec2.delete_tags(Resources=ids, Tags=[{"Key": SPEC_TAG}])  # as an older cloudports left them

    b = backend(_team_b(tmp_path), vpc)
    plan = b.plan()
    assert {c.name for c in plan.changes if c.kind == "security group"} == {
        f"teamb-{r}" for r in ("web", "async", "sandbox", "sql", "dc")
    }
    assert all(c.action == "add" for c in plan.changes)
    plan = backend(DISTRIBUTED, vpc).plan()
    assert {(c.action, c.name) for c in plan.changes} == {
        ("change", f"d365dist-{r}") for r in ("web", "async", "sandbox", "sql", "dc")
    }


def test_a_group_of_another_spec_with_a_declared_name_is_refused(tmp_path, vpc, ec2, capsys):
    other = "d365-distributed;name_prefix=zzz-"
    tags = [{"Key": TOPOLOGY_TAG, "Value": "d365-distributed"}, {"Key": SPEC_TAG, "Value": other}]
    ec2.create_security_group(
        GroupName="teamb-web",
        Description="x",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )
    code, _, err = cli(capsys, "plan", _team_b(tmp_path), "-t", "aws", "--vpc-id", vpc)
    assert code == 1 and "teamb-web" in err and other in err and "name_prefix=teamb-" in err


# ------------------------------------------------------------------------------ lost answers, throttling


def test_lost_answers_are_recognised_and_every_run_converges(vpc, ec2, moto_server, capsys):
    drop_answers(moto_server, 0.3, seed=11)
    assert cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    args = ("-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert cli(capsys, "apply", DISTRIBUTED, *args, "--phase", "setup")[0] == 0
    assert cli(capsys, "apply", DISTRIBUTED, *args)[0] == 0
    dropped = set(dropped_answers(moto_server))
    assert {"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupEgress"} <= dropped, dropped
    drop_answers(moto_server, 0)
    assert owned_flows(ec2, vpc, "d365dist-") == expected_flows(DISTRIBUTED)
    assert backend(DISTRIBUTED, vpc).plan().empty
    drop_answers(moto_server, 0.3, seed=5)
    code, _, err = cli(capsys, "destroy", DISTRIBUTED, *args)
    assert code == 0, err
    assert not [n for n in groups_in_vpc(ec2, vpc) if n.startswith("d365dist-")]


@pytest.mark.parametrize(
    "operation",
    [
        "CreateSecurityGroup",
        "RevokeSecurityGroupEgress",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "ModifySecurityGroupRules",
        "CreateTags",
    ],
)
def test_each_lost_write_answer_is_taken_as_done(tmp_path, vpc, ec2, moto_server, operation):
    spec = _described_spec(tmp_path, "first", {"egress": "open"} if operation == "ModifySecurityGroupRules" else {})
    if operation == "CreateTags":
        b = backend(spec, vpc)
        b.apply(b.plan())
        spec = _described_spec(tmp_path, "second")
    drop_answers(moto_server, 1.0, operations=[operation], limit=1)
    b = backend(spec, vpc)
    b.apply(b.plan())
    assert dropped_answers(moto_server) == [operation]
    assert owned_flows(ec2, vpc, "desc-") == expected_flows(spec)
    assert backend(spec, vpc).plan().empty


def test_the_retry_budget_comes_from_the_standard_aws_settings(vpc, moto_server, monkeypatch):
    default = backend(THREE_TIER, vpc).ec2.meta.config.retries
    assert default == {"mode": "standard", "total_max_attempts": 6}
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    b = backend(THREE_TIER, vpc)
    assert b.ec2.meta.config.retries.get("mode") != "standard"
    drop_answers(moto_server, 1.0, operations=["CreateSecurityGroup"], limit=1)
    with pytest.raises(CloudportsError, match="InternalError"):
        b.apply(b.plan())  # one attempt: the lost answer is not retried


# ------------------------------------------------------------------------------------------------ helpers


def write_spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ------------------------------------------------------------------------------- verify and query, live


def test_verify_and_query_live_judge_effective_reachability(vpc, ec2, capsys):
    live = ("-t", "aws", "--live", "--vpc-id", vpc)
    b = backend(DISTRIBUTED, vpc)
    b.apply(b.plan())
    code, out, _ = cli(capsys, "verify", DISTRIBUTED, *live)
    assert code == 0 and "aws live rules: equivalent to the spec" in out
    code, out, _ = cli(capsys, "query", DISTRIBUTED, "--from", "web", "--to", "sql", "-p", "tcp/1433", *live)
    assert code == 0 and "ALLOWED by aws (AWS security groups, live)" in out
    groups = groups_in_vpc(ec2, vpc)
    web, sql = groups["d365dist-web"]["GroupId"], groups["d365dist-sql"]["GroupId"]

    def rdp_from(group: str, cidr: str) -> None:
        permission = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": cidr}]}
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])

    # 1. a rule that differs textually but allows nothing new (the admin network already reaches sql on RDP)
    rdp_from(sql, "10.99.0.5/32")
    assert drift_json(capsys, DISTRIBUTED, vpc)[0] == 2
    assert cli(capsys, "verify", DISTRIBUTED, *live)[0] == 0
    # 2. a rule that opens more: RDP on web from anywhere
    rdp_from(web, "0.0.0.0/0")
    code, out, _ = cli(capsys, "verify", DISTRIBUTED, *live, "-f", "json")
    found = json.loads(out)["differences"]
    assert code == 2 and found
    assert {(d["allowed_by"], d["destination"], d["traffic"]) for d in found} == {("aws", "web", "tcp/3389")}
    code, out, _ = cli(capsys, "query", DISTRIBUTED, "--from", "203.0.113.9", "--to", "web", "-p", "tcp/3389", *live)
    assert code == 0 and "web/in/tcp/3389/cidr:0.0.0.0/0" in out
    assert (
        cli(capsys, "query", DISTRIBUTED, "--from", "203.0.113.9", "--to", "web", "-p", "tcp/3389", "-t", "aws")[0] == 3
    )
    # 3. after apply repairs it, verify is clean again
    assert cli(capsys, "apply", DISTRIBUTED, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    assert cli(capsys, "verify", DISTRIBUTED, *live)[0] == 0
