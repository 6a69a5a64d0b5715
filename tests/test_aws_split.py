"""A role whose rules outgrow one security group (targets.aws.max_rules_per_group) spreads over web, web-2, ...:
applied to the local moto server, every member carries all of the role's groups, the live rules allow exactly the
spec (verify --live), and adding a rule that moves others to the next group goes through with nothing blocked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudports.cli import main
from cloudports.pipeline import compile_spec, desired_state
from tests.test_aws_live import client_hooks  # noqa: F401  (fixture: hooks on the EC2 clients cloudports makes)
from tests.test_members_aws import Lab, apply, cli


@pytest.fixture
def lab(ec2: Any, vpc: str) -> Lab:
    return Lab(ec2, vpc)


def spec_file(tmp_path: Path, ports: list[str], name: str = "spec.yaml") -> Path:
    spec = {
        "name": "split",
        "egress": "strict",
        "networks": {"office": {"ipv4": ["198.51.100.0/24"]}},
        "roles": {"web": {"members": {"aws": {"tags": {"Role": "web"}}}}, "db": {}},
        "flows": [
            {"from": "office", "to": "web", "services": ports},
            {"from": "web", "to": "db", "services": ["tcp/5432"]},
        ],
        "targets": {"aws": {"max_rules_per_group": 2}},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def groups_of_web(lab: Lab) -> dict[str, dict[str, Any]]:
    found = lab.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [lab.vpc]}])["SecurityGroups"]
    return {g["GroupName"]: g for g in found if g["GroupName"].startswith("web")}


def verify_live(capsys: pytest.CaptureFixture, spec: Path, vpc: str) -> int:
    code, out, err = cli(capsys, "verify", spec, "-t", "aws", "--live", "--vpc-id", vpc)
    assert code in (0, 2), out + err
    return code


def test_a_split_role_is_applied_attached_whole_and_allows_exactly_the_spec(lab, vpc, tmp_path, capsys):
    web = lab.launch("web")
    spec = spec_file(tmp_path, ["tcp/80", "tcp/443", "tcp/8080", "tcp/8443", "tcp/9000"])
    apply(spec, vpc, capsys)
    groups = groups_of_web(lab)
    assert sorted(groups) == ["web", "web-2", "web-3"]
    for name, group in groups.items():
        tags = {t["Key"]: t["Value"] for t in group["Tags"]}
        assert tags["cloudports:role"] == "web"
        assert tags.get("cloudports:part") == (None if name == "web" else name[-1])
        assert len(group["IpPermissions"]) <= 2  # the quota the spec gives
    assert lab.group_names(web) == {"ops-foreign", "web", "web-2", "web-3"}
    assert main(["drift", str(spec), "-t", "aws", "--vpc-id", vpc]) == 0
    capsys.readouterr()
    assert verify_live(capsys, spec, vpc) == 0
    office = ("--from", "198.51.100.7", "--to", web)
    for port, allowed in (("tcp/80", 0), ("tcp/9000", 0), ("tcp/22", 3)):
        code, out, _ = cli(capsys, "query", spec, "-t", "aws", "--live", "--vpc-id", vpc, *office, "-p", port)
        assert code == allowed, out


def allowed_ports(lab: Lab, instance: str) -> set[int]:
    """TCP ports the office's addresses may open to the machine, by the live rules of every group on it."""
    group_ids = [g["GroupId"] for g in lab.eni(instance)["Groups"]]
    found = lab.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": group_ids}])
    return {
        r["FromPort"]
        for r in found["SecurityGroupRules"]
        if not r["IsEgress"] and r.get("CidrIpv4") == "198.51.100.0/24" and r["IpProtocol"] == "tcp"
    }


def test_adding_a_rule_moves_rules_between_groups_without_a_gap(lab, vpc, tmp_path, capsys, client_hooks):  # noqa: F811
    web = lab.launch("web")
    apply(spec_file(tmp_path, ["tcp/80", "tcp/8080", "tcp/9000"]), vpc, capsys)
    assert sorted(groups_of_web(lab)) == ["web", "web-2"]
    # tcp/443 sorts before tcp/8080: the slices shift, rules move from web to web-2 and from web-2 to web-3
    bigger = spec_file(tmp_path, ["tcp/80", "tcp/443", "tcp/8080", "tcp/9000", "tcp/9443"], "bigger.yaml")
    code, out, _ = cli(capsys, "plan", bigger, "-t", "aws", "--vpc-id", vpc, "-f", "json")
    plan = json.loads(out)
    moved = [c for c in plan["changes"] if c["kind"] == "rule" and c["action"] == "remove"]
    assert moved, "some rules move to the next group"
    # after every write cloudports makes, the ports both specs declare are open to the machine
    kept, seen = {80, 8080, 9000}, []

    def check(**_: Any) -> None:
        seen.append(allowed_ports(lab, web))

    client_hooks.append(lambda client: client.meta.events.register("after-call.ec2.*", check))
    apply(bigger, vpc, capsys)
    assert len(seen) > 5 and all(kept <= ports for ports in seen), seen
    assert sorted(groups_of_web(lab)) == ["web", "web-2", "web-3"]
    assert verify_live(capsys, bigger, vpc) == 0
    assert main(["drift", str(bigger), "-t", "aws", "--vpc-id", vpc]) == 0
    # and back down: tcp/443 goes, the slices shift the other way (rules move from web-2 to web)
    smaller = spec_file(tmp_path, ["tcp/80", "tcp/8080", "tcp/9000", "tcp/9443"], "smaller.yaml")
    seen.clear()
    apply(smaller, vpc, capsys)
    assert len(seen) > 3 and all({80, 8080, 9000, 9443} <= ports for ports in seen), seen
    assert verify_live(capsys, smaller, vpc) == 0


def test_kept_rules_count_against_the_first_groups_quota(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Rules the spec keeps unmanaged sit on the role's first group: they take its first slots, and validate refuses
    a spec whose rules fit only without them."""
    path = spec_file(tmp_path, ["tcp/443"])
    spec = yaml.safe_load(path.read_text())
    spec["targets"]["aws"]["unmanaged"] = ["web/in/tcp/22/cidr:203.0.113.0/24", "web/in/tcp/3389/sgid:sg-0123abcd"]
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    state = desired_state(compile_spec(path), "aws")
    # one ingress rule of its own and two kept: two groups of two, the spec's rule in the second
    assert [g.name for g in state.groups.values() if g.role == "web"] == ["web", "web-2"]
    assert [r.group for r in state.rules.values() if r.direction == "ingress" and r.peer.startswith("cidr:")] == [
        "web-2"
    ]
    spec["targets"]["aws"]["max_groups_per_interface"] = 1
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    code, out, err = cli(capsys, "validate", path)
    assert code == 1 and "needs 3 inbound IPv4 rules (with 2 kept unmanaged)" in out + err, out + err
