"""Machines in roles on AWS: `members.aws` attaches each role's security group to the selected network
interfaces, and only that; drift reports a member without its group and a non-member carrying one; destroy takes
cloudports' groups off every machine first. Everything runs against the local moto server (real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from cloudports.cli import main
from cloudports.errors import CloudportsError
from cloudports.pipeline import compile_spec
from cloudports.targets.aws import TARGET as AWS
from tests.support.aws_live import patch_moto_dependency_violation


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


class Lab:
    """A VPC with a subnet, a foreign group and machines launched with it."""

    def __init__(self, ec2: Any, vpc: str):
        self.ec2, self.vpc = ec2, vpc
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.foreign = ec2.create_security_group(GroupName="ops-foreign", Description="not ours", VpcId=vpc)["GroupId"]

    def launch(self, role_tag: str | None, groups: list[str] | None = None) -> str:
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": role_tag}]}] if role_tag else []
        instance = self.ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            SubnetId=self.subnet,
            SecurityGroupIds=groups or [self.foreign],
            TagSpecifications=tags,
        )["Instances"][0]
        return str(instance["InstanceId"])

    def eni(self, instance: str) -> dict[str, Any]:
        enis = self.ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])
        (eni,) = enis["NetworkInterfaces"]
        return dict(eni)

    def group_names(self, instance: str) -> set[str]:
        return {g["GroupName"] for g in self.eni(instance)["Groups"]}


@pytest.fixture
def lab(ec2: Any, vpc: str) -> Lab:
    return Lab(ec2, vpc)


def spec_file(tmp_path: Path, members: dict[str, Any], name: str = "spec.yaml", **aws: Any) -> Path:
    roles: dict[str, Any] = {"web": {}, "db": {}, "jump": {}}
    for role, selector in members.items():
        roles[role]["members"] = {"aws": selector}
    spec = {
        "name": "shop",
        "roles": roles,
        "flows": [
            {"from": "web", "to": "db", "services": ["tcp/5432"]},
            {"from": "jump", "to": ["web", "db"], "services": ["tcp/22"]},
        ],
        "targets": {"aws": aws} if aws else {},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def apply(spec: Path, vpc: str, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0, out + err


def drift(spec: Path, vpc: str, capsys: pytest.CaptureFixture) -> tuple[int, dict[str, Any]]:
    code, out, _ = cli(capsys, "drift", spec, "-t", "aws", "--vpc-id", vpc, "-f", "json")
    return code, json.loads(out)


def memberships(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["category"], c["name"]) for c in report["changes"] if c["kind"] == "membership"}


def test_apply_attaches_each_role_group_to_its_members_only(lab, vpc, tmp_path, capsys):
    web1, web2, db, other = lab.launch("web"), lab.launch("web"), lab.launch(None), lab.launch("mail")
    spec = spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}, "db": {"instance_ids": [db]}})

    code, out, _ = cli(capsys, "plan", spec, "-t", "aws", "--vpc-id", vpc)
    assert code == 0 and out.count("membership") == 3, out

    apply(spec, vpc, capsys)
    assert lab.group_names(web1) == lab.group_names(web2) == {"ops-foreign", "web"}
    assert lab.group_names(db) == {"ops-foreign", "db"}
    assert lab.group_names(other) == {"ops-foreign"}  # not selected: untouched
    assert drift(spec, vpc, capsys)[0] == 0


def test_a_machine_selected_by_two_roles_carries_both_and_keeps_foreign_groups_in_order(lab, vpc, tmp_path, capsys):
    both = lab.launch("web")
    spec = spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}, "jump": {"instance_ids": [both]}})
    apply(spec, vpc, capsys)
    groups = [g["GroupName"] for g in lab.eni(both)["Groups"]]
    assert groups[0] == "ops-foreign" and set(groups) == {"ops-foreign", "web", "jump"}


def test_drift_reports_a_hand_detach_and_a_hand_attach_and_apply_repairs_both(lab, vpc, tmp_path, capsys, ec2):
    web, stranger = lab.launch("web"), lab.launch(None)
    spec = spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}})
    apply(spec, vpc, capsys)
    web_eni, stranger_eni = lab.eni(web), lab.eni(stranger)
    web_group = next(g["GroupId"] for g in web_eni["Groups"] if g["GroupName"] == "web")

    ec2.modify_network_interface_attribute(NetworkInterfaceId=web_eni["NetworkInterfaceId"], Groups=[lab.foreign])
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=stranger_eni["NetworkInterfaceId"], Groups=[lab.foreign, web_group]
    )
    code, report = drift(spec, vpc, capsys)
    assert code == 2
    assert memberships(report) == {
        ("missing", f"{web_eni['NetworkInterfaceId']}/web"),
        ("extra", f"{stranger_eni['NetworkInterfaceId']}/web"),
    }
    apply(spec, vpc, capsys)
    assert lab.group_names(web) == {"ops-foreign", "web"} and lab.group_names(stranger) == {"ops-foreign"}
    assert drift(spec, vpc, capsys)[0] == 0


def test_a_machine_that_leaves_the_selector_loses_only_the_role_group(lab, vpc, tmp_path, capsys):
    web = lab.launch("web")
    apply(spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}, "db": {"instance_ids": [web]}}), vpc, capsys)
    assert lab.group_names(web) == {"ops-foreign", "web", "db"}
    apply(spec_file(tmp_path, {"web": {"tags": {"Role": "other"}}, "db": {"instance_ids": [web]}}), vpc, capsys)
    assert lab.group_names(web) == {"ops-foreign", "db"}


def test_a_role_without_members_leaves_attachments_alone(lab, vpc, tmp_path, capsys, ec2):
    spec = spec_file(tmp_path, {})
    apply(spec, vpc, capsys)
    machine = lab.launch(None)
    web_group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web"]}])["SecurityGroups"]
    eni = lab.eni(machine)["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[lab.foreign, web_group[0]["GroupId"]])
    assert drift(spec, vpc, capsys)[0] == 0
    assert lab.group_names(machine) == {"ops-foreign", "web"}


def test_destroy_takes_groups_off_machines_and_leaves_the_foreign_ones(lab, vpc, tmp_path, capsys, monkeypatch):
    patch_moto_dependency_violation(monkeypatch)  # as in EC2, a group still on a machine cannot be deleted
    web, only_ours = lab.launch("web"), lab.launch(None)
    spec = spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}, "db": {"instance_ids": [only_ours]}})
    apply(spec, vpc, capsys)
    # only_ours loses its foreign group by hand: after destroy it must still have a group (the VPC's default)
    eni = lab.eni(only_ours)["NetworkInterfaceId"]
    db_group = next(g["GroupId"] for g in lab.eni(only_ours)["Groups"] if g["GroupName"] == "db")
    lab.ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[db_group])

    code, out, err = cli(capsys, "destroy", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0, out + err
    assert lab.group_names(web) == {"ops-foreign"}
    assert lab.group_names(only_ours) == {"default"}
    names = {
        g["GroupName"]
        for g in lab.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    }
    assert names == {"default", "ops-foreign"}


def test_a_role_removed_from_the_spec_comes_off_its_machines_before_its_group_is_deleted(
    lab, vpc, tmp_path, capsys, monkeypatch
):
    patch_moto_dependency_violation(monkeypatch)
    web = lab.launch("web")
    apply(spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}, "jump": {"instance_ids": [web]}}), vpc, capsys)
    spec = tmp_path / "smaller.yaml"
    smaller = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    del smaller["roles"]["jump"]
    smaller["flows"] = smaller["flows"][:1]
    spec.write_text(yaml.safe_dump(smaller))
    apply(spec, vpc, capsys)
    assert lab.group_names(web) == {"ops-foreign", "web"}


def test_the_groups_per_interface_quota_is_checked_before_anything_is_written(lab, vpc, tmp_path, capsys, ec2):
    extra = [ec2.create_security_group(GroupName=f"x{i}", Description="x", VpcId=vpc)["GroupId"] for i in range(3)]
    machine = lab.launch("web", [lab.foreign, *extra])  # 4 groups already
    spec = spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}, "db": {"instance_ids": [machine]}})
    code, out, err = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 1
    assert "would carry 6 security groups" in err and "quota is 5" in err and "L-2AFB9258" in err
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web"]}])["SecurityGroups"]

    raised = spec_file(
        tmp_path, {"web": {"tags": {"Role": "web"}}, "db": {"instance_ids": [machine]}}, max_groups_per_interface=6
    )
    apply(raised, vpc, capsys)
    assert len(lab.eni(machine)["Groups"]) == 6


def test_members_named_by_id_that_do_not_exist_are_reported(lab, vpc, tmp_path, capsys):
    spec = spec_file(tmp_path, {"db": {"instance_ids": ["i-0123456789abcdef0"]}})
    code, out, _ = cli(capsys, "plan", spec, "-t", "aws", "--vpc-id", vpc)
    assert code == 0 and "i-0123456789abcdef0, not found" in out


def test_the_plan_approved_is_what_apply_does(lab, vpc, tmp_path, capsys):
    """A machine that joins the selector after the plan was made changes the plan: apply refuses."""
    lab.launch("web")
    spec = spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}})
    backend = AWS.open_backend(compile_spec(spec), {"vpc_id": vpc}, False)
    plan = backend.plan()
    lab.launch("web")
    with pytest.raises(CloudportsError, match="changed since the plan"):
        backend.apply(plan)


def query(capsys: pytest.CaptureFixture, spec: Path, vpc: str, src: str, dst: str, port: str) -> tuple[int, str]:
    code, out, err = cli(
        capsys, "query", spec, "-t", "aws", "--live", "--vpc-id", vpc, "--from", src, "--to", dst, "-p", port
    )
    assert code in (0, 3), out + err
    return code, out


def test_query_live_judges_machines_by_the_groups_they_really_carry(lab, vpc, tmp_path, capsys, ec2):
    ec2.authorize_security_group_ingress(
        GroupId=lab.foreign,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    web, db, jump, stranger = lab.launch("web"), lab.launch("db"), lab.launch("jump"), lab.launch(None)
    spec = spec_file(
        tmp_path,
        {"web": {"tags": {"Role": "web"}}, "db": {"tags": {"Role": "db"}}, "jump": {"instance_ids": [jump]}},
    )
    apply(spec, vpc, capsys)
    db_ip = lab.eni(db)["PrivateIpAddress"]

    code, out = query(capsys, spec, vpc, web, db_ip, "tcp/5432")
    assert code == 0 and f"machine {web}" in out and "ingress rule on db" in out
    assert query(capsys, spec, vpc, jump, web, "tcp/22")[0] == 0
    assert query(capsys, spec, vpc, stranger, db, "tcp/5432")[0] == 3  # carries no role: the spec gives it nothing
    assert query(capsys, spec, vpc, web, db, "tcp/22")[0] == 3
    # the foreign group on every machine opens RDP to the world: the spec does not, the machine does
    code, out = query(capsys, spec, vpc, "203.0.113.9", db, "tcp/3389")
    assert code == 0 and "ops-foreign" in out
    assert query(capsys, spec, vpc, "203.0.113.9", "db", "tcp/3389")[0] == 3  # the role alone does not


def test_every_write_is_reported_to_the_progress_bar(lab, vpc, tmp_path):
    from cloudports.live.progress import reporting

    web = lab.launch("web")
    backend = AWS.open_backend(
        compile_spec(spec_file(tmp_path, {"web": {"tags": {"Role": "web"}}})), {"vpc_id": vpc}, False
    )
    plan = backend.plan()
    seen: list[tuple[str, int]] = []
    with reporting(lambda what, changes: seen.append((what, changes))):
        backend.apply(plan)
    assert lab.eni(web)["NetworkInterfaceId"] in {what for what, _ in seen}
    assert {"web", "db", "jump"} <= {what for what, _ in seen}
    assert sum(n for _, n in seen) >= len(plan.changes)


def test_the_emulator_counts_the_rule_quota_per_address_family_as_ec2_does(ec2, vpc):
    """41 IPv4 + 21 IPv6 egress rules fit (60 each, separately); a 61st IPv4 rule does not."""
    group = ec2.create_security_group(GroupName="quota", Description="x", VpcId=vpc)["GroupId"]

    def egress(cidrs: list[str], v6: bool = False) -> None:
        key, field = ("Ipv6Ranges", "CidrIpv6") if v6 else ("IpRanges", "CidrIp")
        permission = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, key: [{field: c} for c in cidrs]}
        ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[permission])

    egress([f"10.{i}.0.0/16" for i in range(59)])  # with the default allow-all egress: 60 IPv4
    egress([f"2001:db8:{i:x}::/48" for i in range(59)], v6=True)  # with the default ::/0: 60 IPv6
    with pytest.raises(ClientError, match="RulesPerSecurityGroupLimitExceeded"):
        egress(["10.200.0.0/16"])
