"""Many specs at once (`drift SPEC...`, `plan SPEC...`, a folder of specs): one row per spec on the local moto
server, failures as rows, exit codes over the whole fleet, reads bounded per account and region."""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref
from collections import Counter
from pathlib import Path

import pytest
import yaml

from cloudports.cli import main
from cloudports.errors import CloudportsError
from cloudports.live import fleet
from cloudports.live.plan import Plan
from cloudports.live.shared import sharing
from cloudports.pipeline import compile_spec
from cloudports.targets.aws import TARGET as AWS
from tests.support.azure_live import DISTRIBUTED, add_subnets
from tests.test_aws_live import api_calls, client_hooks  # noqa: F401  (fixtures: EC2 calls cloudports makes)


def _spec(folder: Path, name: str, port: int, prefix: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "name": name,
        "roles": {"web": {}, "db": {}},
        "flows": [{"from": "web", "to": "db", "services": [f"tcp/{port}"]}],
        "targets": {"aws": {"name_prefix": f"{name}-" if prefix is None else prefix}},
    }
    path = folder / "topology.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _run(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_drift_over_a_folder_of_labs_gives_one_row_each(tmp_path, vpc, capsys):
    labs = tmp_path / "labs"
    a, b = _spec(labs / "a", "lab-a", 5432), _spec(labs / "b", "lab-b", 1433)
    (labs / "shared.yaml").write_text("networks:\n  corp: {ipv4: [10.0.0.0/8]}\n")  # an include: not a spec
    for spec in (a, b):
        assert _run(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    code, out, _ = _run(capsys, "drift", labs, "-t", "aws", "--vpc-id", vpc, "-f", "json")
    document = json.loads(out)
    assert code == 0 and document["version"] == 1 and document["command"] == "drift"
    assert [r["spec"] for r in document["fleet"]] == [str(a), str(b)]
    assert all(r["plan"]["in_sync"] and r["error"] is None for r in document["fleet"])

    _spec(labs / "c", "lab-c", 3306)  # never applied: everything missing
    code, out, _ = _run(capsys, "drift", labs, "-t", "aws", "--vpc-id", vpc)
    assert code == 2 and "2 in sync, 1 drifted, 0 failed" in out and "lab-c" in out

    (labs / "d").mkdir()
    (labs / "d" / "topology.yaml").write_text("name: lab-d\nroles: {web: {}}\nflows: [{from: web, to: nowhere}]\n")
    code, out, err = _run(capsys, "drift", labs, "-t", "aws", "--vpc-id", vpc, "-f", "json")
    rows = {Path(r["spec"]).parent.name: r for r in json.loads(out)["fleet"]}
    assert code == 1 and rows["d"]["error"] and rows["c"]["plan"]["in_sync"] is False and rows["a"]["plan"]["in_sync"]
    assert "lab-d" not in out or rows["d"]["plan"] is None
    assert "d/topology.yaml" in err


def test_plan_of_several_specs_exits_2_only_with_detailed_exitcode(tmp_path, vpc, capsys):
    specs = [_spec(tmp_path / n, f"lab-{n}", 22) for n in ("x", "y")]
    assert _run(capsys, "plan", *specs, "-t", "aws", "--vpc-id", vpc)[0] == 0
    code, out, _ = _run(capsys, "plan", *specs, "-t", "aws", "--vpc-id", vpc, "--detailed-exitcode")
    assert code == 2 and "0 no changes, 2 with changes, 0 failed" in out


def test_a_folder_without_specs_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "drift", tmp_path / "empty", "-t", "aws", "--vpc-id", "vpc-0123")
    assert code == 1 and "no spec found" in err


class _Backend:
    """A backend that only records how many reads of its scope run at once (run_fleet's bound)."""

    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def __init__(self, scope: str):
        self.quota_scope = scope

    def plan(self) -> Plan:
        with self.lock:
            self.running[self.quota_scope] = self.running.get(self.quota_scope, 0) + 1
            self.peak[self.quota_scope] = max(self.peak.get(self.quota_scope, 0), self.running[self.quota_scope])
        time.sleep(0.05)
        with self.lock:
            self.running[self.quota_scope] -= 1
        return Plan("fake", "t", self.quota_scope)


def test_reads_run_side_by_side_but_at_most_per_scope_at_once():
    specs = [Path(f"spec-{i}.yaml") for i in range(16)]

    def open_backend(spec: Path) -> _Backend:
        if spec.name == "spec-3.yaml":
            raise CloudportsError("does not compile")
        return _Backend("aws:us-east-1" if int(spec.stem[5:]) % 2 else "azure:sub")

    outcomes = fleet.run_fleet(specs, open_backend, lambda b: b.plan())  # type: ignore[arg-type, return-value]
    assert [o.spec for o in outcomes] == specs
    assert outcomes[3].error is not None and all(o.plan for i, o in enumerate(outcomes) if i != 3)
    assert 1 < _Backend.peak["aws:us-east-1"] <= fleet.PER_SCOPE and 1 < _Backend.peak["azure:sub"] <= fleet.PER_SCOPE


def test_specs_in_one_vpc_share_one_read_and_get_the_plans_they_get_alone(tmp_path, vpc, ec2, capsys, api_calls):  # noqa: F811
    labs = tmp_path / "labs"
    in_sync, drifted = _spec(labs / "a", "lab-a", 5432), _spec(labs / "b", "lab-b", 1433)
    for spec in (in_sync, drifted):
        assert _run(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")[0] == 0
    groups = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    ec2.authorize_security_group_ingress(  # by hand: an extra rule in lab-b's db group
        GroupId=groups["lab-b-db"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}],
    )
    someone_elses = ec2.create_security_group(GroupName="not-cloudports", Description="x", VpcId=vpc)["GroupId"]
    _spec(labs / "c", "lab-c", 3306)  # never applied: everything missing
    _spec(labs / "d", "lab-d", 22, prefix="lab-a-")  # lab-a's group names: refused
    alone = {}
    for spec in sorted(labs.rglob("topology.yaml")):
        code, out, err = _run(capsys, "drift", spec, "-t", "aws", "--vpc-id", vpc, "-f", "json")
        alone[str(spec)] = json.loads(out) if out else err

    api_calls.calls.clear()
    code, out, err = _run(capsys, "drift", labs, "-t", "aws", "--vpc-id", vpc, "-f", "json")
    assert code == 1
    # one listing of the VPC's groups, one read of all their rules, one of the VPC (lab-c has groups to create)
    assert api_calls.counts == {"DescribeSecurityGroups": 1, "DescribeSecurityGroupRules": 1, "DescribeVpcs": 1}
    rules_of = [
        v
        for name, params in api_calls.calls
        if name == "DescribeSecurityGroupRules"
        for v in params["Filters"][0]["Values"]
    ]
    assert len(rules_of) == 4 and someone_elses not in rules_of  # lab-a's and lab-b's groups: no one else's
    rows = {r["spec"]: r for r in json.loads(out)["fleet"]}
    assert rows.keys() == alone.keys()
    for spec, row in rows.items():
        if row["error"]:
            assert row["plan"] is None and row["error"] in alone[spec], spec
        else:
            assert row["plan"] == alone[spec], spec
    assert [rows[str(s)]["plan"]["in_sync"] for s in (in_sync, drifted)] == [True, False]
    assert "belongs to cloudports topology 'lab-a'" in rows[str(labs / "d" / "topology.yaml")]["error"]


class _Refused(_Backend):
    def plan(self) -> Plan:
        try:
            raise KeyError("what the SDK raised")
        except KeyError:  # as aws_errors does: the SDK's exception stays the context of the one raised
            raise CloudportsError("refused") from None


def test_a_failed_spec_keeps_nothing_of_its_read_alive():
    """A failed row is its message: its backend (the client, what was read) is freed, however many specs fail."""
    opened: list[weakref.ref[_Backend]] = []

    def open_backend(spec: Path) -> _Backend:
        backend = _Refused("aws:us-east-1")
        opened.append(weakref.ref(backend))
        return backend

    outcomes = fleet.run_fleet([Path(f"spec-{i}.yaml") for i in range(3)], open_backend, lambda b: b.plan())  # type: ignore[arg-type, return-value]
    gc.collect()
    assert [o.error.diagnostics[0].message for o in outcomes if o.error] == ["refused"] * 3
    assert len(opened) == 3 and all(ref() is None for ref in opened)


def test_azure_specs_in_one_resource_group_share_one_read(tmp_path, arm, capsys):
    labs = tmp_path / "labs"
    base = yaml.safe_load(DISTRIBUTED.read_text())
    specs = []
    for i, lab in enumerate(("a", "b", "c")):
        azure = base["targets"]["azure"] | {
            "nsg_name": f"lab-{lab}-nsg",
            "subnets": [{"virtual_network": "vnet-labs", "name": f"snet-{lab}"}],
        }
        spec = labs / lab / "topology.yaml"
        spec.parent.mkdir(parents=True)
        spec.write_text(yaml.safe_dump(base | {"name": f"lab-{lab}", "targets": {"azure": azure}}, sort_keys=False))
        add_subnets(arm, spec, prefix_base=i + 1)
        specs.append(spec)
    for spec in specs[:2]:  # lab-c is never applied: everything missing
        assert _run(capsys, "apply", spec, "-t", "azure", "--auto-approve")[0] == 0
    alone = {str(s): json.loads(_run(capsys, "drift", s, "-t", "azure", "-f", "json")[1]) for s in specs}

    arm.clear_request_log()
    code, out, _ = _run(capsys, "drift", labs, "-t", "azure", "-f", "json")
    assert code == 2
    listings = Counter(path.rsplit("/", 1)[1] for method, path, _ in arm.request_log if method == "GET")
    # the resource group's ASGs and NSGs listed once for all three; each lab's own subnet once
    assert listings == {
        "applicationSecurityGroups": 1,
        "networkSecurityGroups": 1,
        "snet-a": 1,
        "snet-b": 1,
        "snet-c": 1,
    }
    rows = {r["spec"]: r["plan"] for r in json.loads(out)["fleet"]}
    assert rows == alone
    assert [rows[str(s)]["in_sync"] for s in specs] == [True, True, False]


def test_writes_inside_a_fleet_command_read_the_cloud_not_the_shared_snapshot(tmp_path, vpc):
    spec = _spec(tmp_path / "a", "lab-a", 5432)
    with sharing():
        backend = AWS.open_backend(compile_spec(spec), {"vpc_id": vpc}, False)
        done = backend.apply(backend.plan())
        assert done.counts()["add"] > 0 and backend.plan().empty  # what apply made is seen


class _RulePages:
    """describe_security_group_rules as a paginator: one rule per group, a page per request (what is read, not how)."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    def get_paginator(self, name: str) -> _RulePages:
        assert name == "describe_security_group_rules"
        return self

    def paginate(self, Filters: list[dict], PaginationConfig: dict) -> list[dict]:  # noqa: N803 (boto3's names)
        (only,) = Filters
        self.requests.append(only["Values"])
        return [{"SecurityGroupRules": [{"GroupId": g} for g in only["Values"]]}]


def test_a_rule_read_of_many_groups_gives_every_rule_in_group_order() -> None:
    """More groups than one request takes (a fleet's read of 500 groups): requests of at most FILTER_VALUES groups,
    answered in one list in group order."""
    from cloudports.targets.aws.api import FILTER_VALUES
    from cloudports.targets.aws.read import describe_rules

    ec2 = _RulePages()
    groups = [f"sg-{i:04x}" for i in reversed(range(2 * FILTER_VALUES + 7))]
    found = describe_rules(ec2, groups)
    assert [r["GroupId"] for r in found] == sorted(groups)
    assert sorted(len(r) for r in ec2.requests) == [7, FILTER_VALUES, FILTER_VALUES]
