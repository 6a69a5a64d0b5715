"""Helpers for planning and applying a spec change with real Terraform against the moto server, watching every
write (tests/test_terraform_change.py, benchmarks/terraform_change.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml

from cloudports.pipeline import compile_spec
from cloudports.targets.aws.model import AwsState, SecurityGroup, SgRule
from tests.semantics import AwsModel, Probe, SpecModel, probe_points


def change_spec(tmp_path: Path, name: str, corp: str, web_app: str, app_db: list[str]) -> Path:
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


def live_state(ec2: Any, vpc_id: str) -> AwsState:
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


def declared_both(before: Path, after: Path) -> list[Probe]:
    """Every probe the spec allows before the change and still allows after it."""
    old, new = SpecModel(compile_spec(before).topology), SpecModel(compile_spec(after).topology)
    probes = dict.fromkeys(probe_points(old.topology) + probe_points(new.topology))
    return [p for p in probes if old.allows(*p) and new.allows(*p)]


def watch_writes(server: Any, ec2: Any, vpc_id: str, probes: list[Probe]) -> tuple[list[str], list[str]]:
    """After every write the server carries out: which of `probes` the live rules block. (writes, blocked)"""
    writes: list[str] = []
    blocked: list[str] = []

    def check(action: str) -> None:
        writes.append(action)
        live = AwsModel(live_state(ec2, vpc_id))
        blocked.extend(f"after write {len(writes)} ({action}): {p}" for p in probes if not live.allows(*p))

    server.after_write().append(check)
    return writes, blocked
