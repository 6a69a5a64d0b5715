"""The Terraform modules under modules/, exercised with the real Terraform CLI.

- modules/aws-security-groups: applied against a moto server (patched, see cloudports/emulators/aws/patches.py)
  and read back with boto3 DescribeSecurityGroupRules; updates must happen in place and leave a clean plan;
  bad input must be refused by variable validation / preconditions.
- modules/azure-nsg: parsed with python-hcl2, and its provider-free parts (variable validations, the
  argument-shaping locals block) evaluated by Terraform in a scratch module. Planning it needs the azurerm
  stand-in: tests/test_azurerm_plan.py (the example) and tests/test_terraform_native.py (its terraform tests).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cloudports.emulators.aws import boto3_client, create_vpc
from tests.support.terraform_env import TerraformCliConfig, TerraformRunner, terraform_env

REPO = Path(__file__).resolve().parent.parent
MODULES = REPO / "modules"
AWS_MODULE = MODULES / "aws-security-groups"
AZURE_MODULE = MODULES / "azure-nsg"


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _runner(workdir: Path, cli: TerraformCliConfig | None, aws_env: dict[str, str] | None = None) -> TerraformRunner:
    # Every command here takes seconds; a hang (e.g. the provider waiting for a rule moto never reports
    # correctly) should fail fast rather than after the runner's default 300 s.
    return TerraformRunner(workdir, env=terraform_env(cli, aws_env), timeout=120)


def _ok(result: tuple[int, str, str], what: str) -> str:
    code, out, err = result
    assert code == 0, f"terraform {what} failed ({code}):\n{out}\n{err}"
    return out


def _init(tf: TerraformRunner) -> None:
    _ok(tf.init(), "init")


AWS_TEST_ROOT = """\
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "vpc_id" {
  type = string
}

variable "name_prefix" {
  type    = string
  default = ""
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "groups" {
  type = any
}

variable "ingress_rules" {
  type    = any
  default = {}
}

variable "egress_rules" {
  type    = any
  default = {}
}

module "sg" {
  source = "MODULE_SOURCE"

  vpc_id        = var.vpc_id
  name_prefix   = var.name_prefix
  tags          = var.tags
  groups        = var.groups
  ingress_rules = var.ingress_rules
  egress_rules  = var.egress_rules
}

output "sg" {
  value = module.sg
}
"""

COMMON_TAGS = {"cloudports:topology": "modtest", "env": "ci"}
GROUPS = {
    "web": {"name": "web", "description": "Web tier"},
    "app": {"name": "app", "description": "App tier", "tags": {"tier": "app"}},
    "db": {"name": "db", "description": "Database tier (strict egress: none)"},
}
INGRESS = {
    "web/https4": {"group": "web", "ip_protocol": "tcp", "from_port": 443, "to_port": 443,
                   "cidr_ipv4": "0.0.0.0/0", "description": "HTTPS from anywhere"},
    "web/https6": {"group": "web", "ip_protocol": "tcp", "from_port": 443, "to_port": 443,
                   "cidr_ipv6": "::/0", "description": "HTTPS from anywhere IPv6"},
    "web/range": {"group": "web", "ip_protocol": "tcp", "from_port": 8000, "to_port": 8099,
                  "cidr_ipv4": "10.20.0.0/16", "description": "Admin ports from corp"},
    "app/from-web": {"group": "app", "ip_protocol": "tcp", "from_port": 8080, "to_port": 8080,
                     "referenced_group": "web", "description": "API from the web tier"},
    "app/dns": {"group": "app", "ip_protocol": "udp", "from_port": 53, "to_port": 53, "cidr_ipv4": "10.0.0.0/16"},
    "app/ping": {"group": "app", "ip_protocol": "icmp", "from_port": 8, "to_port": 0,
                 "cidr_ipv4": "10.0.0.0/16", "description": "Echo request"},
    "app/unreachable": {"group": "app", "ip_protocol": "icmp", "from_port": 3, "to_port": 4,
                        "cidr_ipv4": "10.0.0.0/16", "description": "Fragmentation needed"},
    "db/from-app": {"group": "db", "ip_protocol": "tcp", "from_port": 1433, "to_port": 1433,
                    "referenced_group": "app", "description": "SQL from the app tier"},
    "db/self": {"group": "db", "ip_protocol": "-1", "referenced_group": "db", "description": "Cluster peers"},
    "db/icmpv6": {"group": "db", "ip_protocol": "icmpv6", "cidr_ipv6": "fd00:20::/48", "description": "ICMPv6"},
}  # fmt: skip
EGRESS = {
    "web/all4": {"group": "web", "ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0", "description": "Open egress IPv4"},
    "web/all6": {"group": "web", "ip_protocol": "-1", "cidr_ipv6": "::/0", "description": "Open egress IPv6"},
    "app/to-db": {"group": "app", "ip_protocol": "tcp", "from_port": 1433, "to_port": 1433,
                  "referenced_group": "db", "description": "SQL to the db tier"},
}  # fmt: skip


def _aws_vars(vpc_id: str, ingress: dict, egress: dict) -> dict[str, Any]:
    return {
        "vpc_id": vpc_id,
        "name_prefix": "modtest-",
        "tags": COMMON_TAGS,
        "groups": GROUPS,
        "ingress_rules": ingress,
        "egress_rules": egress,
    }


def _expected_rule(rule: dict, is_egress: bool, group_ids: dict[str, str]) -> dict[str, Any]:
    """What DescribeSecurityGroupRules must report for one module rule."""
    protocol = rule["ip_protocol"]
    ports = (-1, -1) if protocol == "-1" else (rule.get("from_port", -1), rule.get("to_port", -1))
    if "referenced_group" in rule:
        peer = ("sg", group_ids[rule["referenced_group"]])
    elif "cidr_ipv4" in rule:
        peer = ("cidr4", rule["cidr_ipv4"])
    else:
        peer = ("cidr6", rule["cidr_ipv6"])
    return {
        "group_id": group_ids[rule["group"]],
        "is_egress": is_egress,
        "protocol": protocol,
        "ports": ports,
        "peer": peer,
        "description": rule.get("description"),
        "tags": COMMON_TAGS,
    }


def _actual_rule(item: dict) -> dict[str, Any]:
    if "ReferencedGroupInfo" in item:
        peer = ("sg", item["ReferencedGroupInfo"]["GroupId"])
    elif item.get("CidrIpv4"):
        peer = ("cidr4", item["CidrIpv4"])
    elif item.get("CidrIpv6"):
        peer = ("cidr6", item["CidrIpv6"])
    else:
        peer = ("pl", item.get("PrefixListId"))
    return {
        "group_id": item["GroupId"],
        "is_egress": item["IsEgress"],
        "protocol": item["IpProtocol"],
        "ports": (item["FromPort"], item["ToPort"]),
        "peer": peer,
        "description": item.get("Description"),
        "tags": {t["Key"]: t["Value"] for t in item.get("Tags", [])},
    }


def _assert_aws_matches(endpoint: str, outputs: dict, ingress: dict, egress: dict) -> None:
    """Groups and rules in moto are exactly what the module was asked for, rule by rule (by sgr- ID)."""
    ec2 = boto3_client(endpoint)
    group_ids = outputs["security_group_ids"]
    assert set(group_ids) == set(GROUPS)

    described = ec2.describe_security_groups(GroupIds=list(group_ids.values()))["SecurityGroups"]
    by_id = {g["GroupId"]: g for g in described}
    for role, spec in GROUPS.items():
        group = by_id[group_ids[role]]
        assert group["GroupName"] == f"modtest-{spec['name']}"
        assert group["Description"] == spec["description"]
        assert {t["Key"]: t["Value"] for t in group.get("Tags", [])} == COMMON_TAGS | spec.get("tags", {})
        assert outputs["security_group_names"][role] == group["GroupName"]
        assert outputs["security_group_arns"][role].endswith(f"security-group/{group['GroupId']}")

    live = {}
    for group_id in group_ids.values():
        pages = ec2.get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": "group-id", "Values": [group_id]}]
        )
        for page in pages:
            live |= {item["SecurityGroupRuleId"]: _actual_rule(item) for item in page["SecurityGroupRules"]}

    rule_ids = {**outputs["ingress_rule_ids"], **outputs["egress_rule_ids"]}
    assert set(outputs["ingress_rule_ids"]) == set(ingress)
    assert set(outputs["egress_rule_ids"]) == set(egress)
    # Exactly the declared rules: AWS's default allow-all egress is gone, nothing else is there.
    assert set(live) == set(rule_ids.values())
    for key, rule in ingress.items():
        assert live[rule_ids[key]] == _expected_rule(rule, False, group_ids), key
    for key, rule in egress.items():
        assert live[rule_ids[key]] == _expected_rule(rule, True, group_ids), key


def _write_aws_root(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(AWS_TEST_ROOT.replace("MODULE_SOURCE", AWS_MODULE.as_posix()))
    return directory


# --------------------------------------------------------------------------------------------------
# (a) formatting
# --------------------------------------------------------------------------------------------------


def test_modules_are_terraform_fmt_clean(terraform_available: str) -> None:
    code, out, err = _runner(REPO, None).fmt("modules", check=True, recursive=True)
    assert code == 0, f"terraform fmt -check -recursive modules/ is not clean:\n{out}\n{err}"


# --------------------------------------------------------------------------------------------------
# (b) + (c) AWS module against moto: apply, read back, clean plan, in-place update
# --------------------------------------------------------------------------------------------------


def test_aws_module_applies_reads_back_and_updates_in_place(
    tf_cli_config: TerraformCliConfig, moto_server: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    vpc_id = create_vpc(moto_server)
    tf = _runner(_write_aws_root(tmp_path / "root"), tf_cli_config, aws_env)
    _init(tf)

    # The provider is linked to the mirror through the plugin cache, never copied.
    provider_dirs = list((tmp_path / "root/.terraform/providers").glob("*/*/aws/*/*"))
    assert provider_dirs and all(p.is_symlink() for p in provider_dirs), provider_dirs

    variables = _aws_vars(vpc_id, INGRESS, EGRESS)
    out = _ok(tf.apply(variables), "apply")
    # + terraform_data.rules_applied, which orders deletions after creations (the module's main.tf)
    assert f"Resources: {len(GROUPS) + len(INGRESS) + len(EGRESS) + 1} added, 0 changed, 0 destroyed" in out
    outputs = tf.output("sg")
    _assert_aws_matches(moto_server, outputs, INGRESS, EGRESS)

    code, out, err = tf.plan(variables)
    assert code == 0, f"plan after apply is not empty (exit {code}):\n{out}\n{err}"

    # (c) a description (on an SG-reference rule) and a port range change, plus an IPv6 CIDR and a
    # referenced group: all four in place (ModifySecurityGroupRules), the sgr- IDs stay.
    ingress = json.loads(json.dumps(INGRESS))
    ingress["app/from-web"]["description"] = "API from the web tier v2"
    ingress["web/range"]["to_port"] = 8199
    ingress["web/https6"]["cidr_ipv6"] = "2001:db8::/32"
    egress = json.loads(json.dumps(EGRESS))
    egress["app/to-db"]["referenced_group"] = "web"
    variables = _aws_vars(vpc_id, ingress, egress)
    out = _ok(tf.apply(variables), "apply (update)")
    assert "Resources: 0 added, 4 changed, 0 destroyed" in out
    updated = tf.output("sg")
    assert updated["ingress_rule_ids"] == outputs["ingress_rule_ids"]
    assert updated["egress_rule_ids"] == outputs["egress_rule_ids"]
    _assert_aws_matches(moto_server, updated, ingress, egress)

    code, out, err = tf.plan(variables)
    assert code == 0, f"plan after update is not empty (exit {code}):\n{out}\n{err}"

    # A rule pointing at a group the module does not manage is stopped by its precondition at plan time.
    bad = json.loads(json.dumps(ingress))
    bad["app/from-ghost"] = {"group": "app", "ip_protocol": "tcp", "from_port": 1, "to_port": 1,
                             "referenced_group": "ghost"}  # fmt: skip
    bad["ghost/in"] = {"group": "ghost", "ip_protocol": "tcp", "from_port": 1, "to_port": 1, "cidr_ipv4": "10.0.0.0/8"}
    code, out, err = tf.plan(_aws_vars(vpc_id, bad, egress))
    assert code == 1, out
    text = " ".join(err.split())
    assert 'referenced_group "ghost" is not a key of var.groups' in text, err
    assert 'group "ghost" is not a key of var.groups' in text, err


def test_moto_patches_make_sg_rules_behave_like_ec2(moto_server: str) -> None:
    """The fixture's moto patches (aws.md §4.3 items 4 and 5), checked through the wire with boto3."""
    ec2 = boto3_client(moto_server)
    vpc_id = create_vpc(moto_server)
    a, b, c = (ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc_id)["GroupId"] for n in "abc")

    def rule(rule_id: str) -> dict[str, Any]:
        return ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0]

    created = ec2.authorize_security_group_ingress(
        GroupId=a,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": b, "Description": "from b"}],
            }
        ],
    )["SecurityGroupRules"][0]
    assert rule(created["SecurityGroupRuleId"])["Description"] == "from b"  # item 5

    # Identity ignores the description: the same permission with another description is a duplicate.
    with pytest.raises(ec2.exceptions.ClientError, match="InvalidPermission.Duplicate"):
        ec2.authorize_security_group_ingress(
            GroupId=a,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 80,
                    "UserIdGroupPairs": [{"GroupId": b, "Description": "x"}],
                }
            ],
        )

    # ModifySecurityGroupRules applies the referenced group, ports and description (item 4).
    ec2.modify_security_group_rules(
        GroupId=a,
        SecurityGroupRules=[
            {
                "SecurityGroupRuleId": created["SecurityGroupRuleId"],
                "SecurityGroupRule": {
                    "IpProtocol": "tcp",
                    "FromPort": 81,
                    "ToPort": 82,
                    "ReferencedGroupId": c,
                    "Description": "from c",
                },
            }
        ],
    )
    modified = rule(created["SecurityGroupRuleId"])
    assert (modified["ReferencedGroupInfo"]["GroupId"], modified["FromPort"], modified["ToPort"]) == (c, 81, 82)
    assert modified["Description"] == "from c"

    # ... and an IPv6 CIDR; a change of peer kind is refused like on AWS.
    v6 = ec2.authorize_security_group_egress(
        GroupId=a, IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]}]
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    ec2.modify_security_group_rules(
        GroupId=a,
        SecurityGroupRules=[
            {"SecurityGroupRuleId": v6, "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv6": "2001:db8::/32"}}
        ],
    )
    assert (rule(v6)["CidrIpv6"], rule(v6)["FromPort"]) == ("2001:db8::/32", -1)
    with pytest.raises(ec2.exceptions.ClientError, match="InvalidParameterValue"):
        ec2.modify_security_group_rules(
            GroupId=a,
            SecurityGroupRules=[
                {"SecurityGroupRuleId": v6, "SecurityGroupRule": {"IpProtocol": "-1", "ReferencedGroupId": b}}
            ],
        )

    # UpdateSecurityGroupRuleDescriptions*, by rule ID and by IpPermissions, reach SG-reference rules.
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=a,
        SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": created["SecurityGroupRuleId"], "Description": "by id"}],
    )
    assert rule(created["SecurityGroupRuleId"])["Description"] == "by id"
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=a,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 81,
                "ToPort": 82,
                "UserIdGroupPairs": [{"GroupId": c, "Description": "by perm"}],
            }
        ],
    )
    assert rule(created["SecurityGroupRuleId"])["Description"] == "by perm"
    pairs = ec2.describe_security_groups(GroupIds=[a])["SecurityGroups"][0]["IpPermissions"][0]["UserIdGroupPairs"]
    assert [(p["GroupId"], p["Description"]) for p in pairs] == [(c, "by perm")]

    # icmpv6 without a port range means all types and codes (moto crashed on it).
    icmpv6 = ec2.authorize_security_group_ingress(
        GroupId=b, IpPermissions=[{"IpProtocol": "icmpv6", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
    )["SecurityGroupRules"][0]
    assert (icmpv6["FromPort"], icmpv6["ToPort"]) == (-1, -1)


def test_moto_speed_corrections_answer_what_moto_answers(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The corrections made for speed only (speed.SPEED_ONLY) give the answers moto's own code gives."""
    from cloudports.emulators.aws.speed import SPEED_ONLY

    ec2 = boto3_client(moto_server)
    vpcs = [create_vpc(moto_server), create_vpc(moto_server, "10.9.0.0/16")]
    groups = []
    for i, vpc in enumerate(vpcs * 2):
        tags = [{"ResourceType": "security-group", "Tags": [{"Key": "k", "Value": f"v{i}"}]}]
        groups.append(
            ec2.create_security_group(GroupName=f"g{i}", Description="d", VpcId=vpc, TagSpecifications=tags)["GroupId"]
        )
    peer = {"GroupId": groups[2], "Description": "ref"}
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "a"}],
        },
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
        {"IpProtocol": "-1", "UserIdGroupPairs": [peer]},
        {"IpProtocol": "icmpv6", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
    ]
    rule_tags = [{"ResourceType": "security-group-rule", "Tags": [{"Key": "r", "Value": "1"}]}]
    for group in groups[:2]:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions, TagSpecifications=rule_tags)
        ec2.authorize_security_group_egress(GroupId=group, IpPermissions=permissions[:2])
    some_rule = ec2.describe_security_group_rules()["SecurityGroupRules"][3]["SecurityGroupRuleId"]
    requests: list[tuple[str, dict[str, Any]]] = [
        ("describe_security_groups", {}),
        ("describe_security_groups", {"Filters": [{"Name": "vpc-id", "Values": [vpcs[0]]}]}),
        ("describe_security_group_rules", {}),
        ("describe_security_group_rules", {"Filters": [{"Name": "group-id", "Values": groups[:3]}]}),
        ("describe_security_group_rules", {"Filters": [{"Name": "tag:r", "Values": ["1"]}]}),
        ("describe_security_group_rules", {"SecurityGroupRuleIds": [some_rule]}),
        ("describe_tags", {}),
        ("describe_vpcs", {}),
    ]

    def answers() -> list[Any]:
        found = []
        for operation, params in requests:
            answer = getattr(ec2, operation)(**params)
            answer.pop("ResponseMetadata")
            found.append(answer)
        return found

    corrected = answers()
    assert len(corrected[3]["SecurityGroupRules"]) >= 12  # what the request selects: not a vacuous comparison
    with monkeypatch.context() as moto_own:
        for owner, name, original in SPEED_ONLY:
            moto_own.setattr(owner, name, original)
        assert answers() == corrected


def test_moto_response_bodies_are_written_as_xmltodict_writes_them() -> None:
    """The EC2 body writer (a speed-only correction) gives xmltodict's document byte for byte, or leaves it to it."""
    pytest.importorskip("flask", reason="moto's server mode needs moto[server] (flask)")
    import xmltodict

    from cloudports.emulators.aws import speed

    class Serializer:
        pretty_print = False

    def unparse(_self: Any, body: dict[str, Any]) -> str:
        return str(xmltodict.unparse(body, full_document=True, pretty=False, short_empty_elements=True))

    item = {"a": "x & <y> \"q\" 'z'", "b": None, "c": [], "d": True, "e": 0, "f": "", "g": [{"h": 1.5}, None, "t"]}
    bodies: list[dict[str, Any]] = [
        {"R": {"@xmlns": "http://ec2", "set": {"item": [item, {}]}, "requestId": "r"}},
        {"R": {"@k": "a\tb\"c'", "#text": "text", "child": {"#text": None, "@n": None}}},
        {"R": {"x": (1, 2)}},  # a tuple: left to xmltodict
        {"R": {"#comment": "c", "x": "1"}},
        {"R": {"x": {"@": "bad"}}},
    ]
    speed_module: Any = speed
    original = speed_module._ORIGINAL_BODY
    try:
        speed_module._ORIGINAL_BODY = unparse
        for body in bodies:
            assert speed._ec2_body(Serializer(), body) == unparse(None, body), body
    finally:
        speed_module._ORIGINAL_BODY = original


def test_aws_example_applies_against_moto(
    tf_cli_config: TerraformCliConfig, moto_server: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    """modules/aws-security-groups/examples/basic is the README example; it must really work."""
    module_copy = tmp_path / "aws-security-groups"
    shutil.copytree(AWS_MODULE, module_copy, ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    vpc_id = create_vpc(moto_server)
    tf = _runner(module_copy / "examples/basic", tf_cli_config, aws_env)
    _init(tf)
    _ok(tf.apply({"vpc_id": vpc_id}), "apply")
    code, out, err = tf.plan({"vpc_id": vpc_id})
    assert code == 0, f"plan after apply is not empty (exit {code}):\n{out}\n{err}"

    ids = tf.output("security_group_ids")
    ec2 = boto3_client(moto_server)
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(ids.values())}])
    live = {r["SecurityGroupRuleId"]: r for r in rules["SecurityGroupRules"]}
    declared = {**tf.output("ingress_rule_ids"), **tf.output("egress_rule_ids")}
    assert set(live) == set(declared.values())
    from_web = live[declared["app/in/tcp/8080-8081/sg:web"]]
    assert from_web["ReferencedGroupInfo"]["GroupId"] == ids["web"]
    assert (from_web["FromPort"], from_web["ToPort"], from_web["Description"]) == (
        8080,
        8081,
        "App API from the web tier",
    )
    app_egress = [r for r in live.values() if r["GroupId"] == ids["app"] and r["IsEgress"]]
    assert [(r["IpProtocol"], r["FromPort"], r["CidrIpv4"]) for r in app_egress] == [("tcp", 5432, "10.0.0.0/16")]


# --------------------------------------------------------------------------------------------------
# (d) AWS module: variable validation refuses bad input (offline: terraform validate, no provider calls)
# --------------------------------------------------------------------------------------------------

_GOOD_RULE = {"group": "g", "ip_protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": "10.0.0.0/8"}

AWS_BAD_INPUTS: dict[str, tuple[dict[str, Any], str]] = {
    # case name: (module arguments overriding a valid call, text the error must contain)
    "two_peers": (
        {"ingress_rules": {"r-two-peers": _GOOD_RULE | {"cidr_ipv6": "::/0"}}},
        "exactly one peer",
    ),
    "no_peer": (
        {"egress_rules": {"r-no-peer": {"group": "g", "ip_protocol": "-1"}}},
        "exactly one peer",
    ),
    "protocol_foo": (
        {"ingress_rules": {"r-foo": _GOOD_RULE | {"ip_protocol": "foo"}}},
        "ip_protocol must be one of tcp, udp, icmp, icmpv6 or -1",
    ),
    "port_70000": (
        {"ingress_rules": {"r-port-70000": _GOOD_RULE | {"to_port": 70000}}},
        "within 0-65535",
    ),
    "ports_reversed": (
        {"egress_rules": {"r-reversed": _GOOD_RULE | {"from_port": 500, "to_port": 400}}},
        "from_port <= to_port",
    ),
    "tcp_without_ports": (
        {"ingress_rules": {"r-noports": {"group": "g", "ip_protocol": "udp", "cidr_ipv4": "10.0.0.0/8"}}},
        "from_port <= to_port",
    ),
    "icmp_code_300": (
        {"ingress_rules": {"r-icmp": _GOOD_RULE | {"ip_protocol": "icmp", "from_port": 3, "to_port": 300}}},
        "icmp rules need from_port (type) and to_port (code) within -1..255",
    ),
    "all_with_ports": (
        {"egress_rules": {"r-all-ports": _GOOD_RULE | {"ip_protocol": "-1"}}},
        "leave from_port and to_port unset",
    ),
    "cidr_not_network": (
        {"ingress_rules": {"r-host-bits": _GOOD_RULE | {"cidr_ipv4": "10.0.0.1/8"}}},
        "IPv4 network address",
    ),
    "bad_description": (
        {"ingress_rules": {"r-quote": _GOOD_RULE | {"description": "Bob's rule"}}},
        "description must be at most 255 characters",
    ),
    "long_description": (
        {"egress_rules": {"r-long": _GOOD_RULE | {"description": "x" * 256}}},
        "description must be at most 255 characters",
    ),
    "group_name_sg": (
        {"groups": {"g": {"name": "sg-web", "description": "x"}}},
        'must not start with "sg-"',
    ),
    "vpc_id": ({"vpc_id": "subnet-123"}, 'starts with "vpc-"'),
}


def _module_call(source: Path, **arguments: Any) -> dict[str, Any]:
    return {"source": source.as_posix(), **arguments}


def _validate_diagnostics(tf: TerraformRunner) -> list[dict[str, Any]]:
    code, out, err = tf.validate(json_output=True)
    report = json.loads(out)
    assert (code == 0) == report["valid"], (out, err)
    return report["diagnostics"]


def _errors_by_module(diagnostics: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Error text grouped by the module call it points at (from the diagnostic's source snippet)."""
    grouped: dict[str, list[str]] = {}
    for diag in diagnostics:
        if diag["severity"] != "error":
            continue
        context = (diag.get("snippet") or {}).get("context") or ""
        # HCL sources give `module "name"`, JSON sources `module.name`.
        match = re.search(r'module(?: "|\.)([\w-]+)', context)
        grouped.setdefault(match.group(1) if match else "?", []).append(f"{diag['summary']}: {diag['detail']}")
    return grouped


def test_aws_module_variable_validation_rejects_bad_input(tf_cli_config: TerraformCliConfig, tmp_path: Path) -> None:
    valid = {
        "vpc_id": "vpc-0123456789abcdef0",
        "groups": {"g": {"name": "g", "description": "A group"}},
        "ingress_rules": {"ok": _GOOD_RULE},
        "egress_rules": {
            "ok-all": {"group": "g", "ip_protocol": "-1", "cidr_ipv6": "::/0"},
            "ok-icmpv6": {"group": "g", "ip_protocol": "icmpv6", "cidr_ipv6": "fd00::/8"},
        },
    }
    modules = {"valid": _module_call(AWS_MODULE, **valid)}
    for case, (override, _) in AWS_BAD_INPUTS.items():
        modules[case] = _module_call(AWS_MODULE, **(valid | override))
    root = tmp_path / "root"
    root.mkdir()
    # JSON configuration syntax: the values are literal, so validate evaluates the validations.
    (root / "main.tf.json").write_text(json.dumps({"module": modules}, indent=2))
    tf = _runner(root, tf_cli_config)
    _init(tf)

    errors = _errors_by_module(_validate_diagnostics(tf))
    assert "valid" not in errors, errors["valid"]
    assert "?" not in errors, errors["?"]
    for case, (override, expected) in AWS_BAD_INPUTS.items():
        text = " ".join(" ".join(errors.get(case, [])).split())
        assert expected in text, f"{case}: expected {expected!r} in {errors.get(case)}"
        for rules_var in ("ingress_rules", "egress_rules"):
            for key in override.get(rules_var, {}):
                assert key in text, f"{case}: the message should name the offending rule {key!r}: {text}"


# --------------------------------------------------------------------------------------------------
# (e) Azure module: structure (python-hcl2) and provider-free behaviour (Terraform, no azurerm)
# --------------------------------------------------------------------------------------------------


def _parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return hcl2.load(handle)


def _unq(value: Any) -> Any:
    """python-hcl2 8 keeps the quotes of string literals and block labels."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(parsed: dict[str, Any], kind: str) -> dict[str, Any]:
    """{name: body} for `variable`/`output` blocks, {type.name: body} for `resource` blocks."""
    found: dict[str, Any] = {}
    for block in parsed.get(kind, []):
        for name, body in block.items():
            if kind == "resource":
                for res_name, res_body in body.items():
                    found[f"{_unq(name)}.{_unq(res_name)}"] = res_body
            else:
                found[_unq(name)] = body
    return found


def test_azure_module_structure() -> None:
    # No azurerm provider is installed (offline), so terraform cannot plan this module; this test checks
    # its shape and test_azure_module_validations_and_argument_shaping runs its provider-free logic.
    files = {name: _parse(AZURE_MODULE / name) for name in ("versions.tf", "variables.tf", "main.tf", "outputs.tf")}
    raw = "\n".join((AZURE_MODULE / name).read_text() for name in files)
    assert not re.search(r"^\s*count\s*=", raw, re.M), "the module must use for_each, never count"

    terraform_block = files["versions.tf"]["terraform"][0]
    assert _unq(terraform_block["required_version"]) == ">= 1.5"
    azurerm = terraform_block["required_providers"][0]["azurerm"]
    assert (_unq(azurerm["source"]), _unq(azurerm["version"])) == ("hashicorp/azurerm", ">= 4.73, < 5.0")

    variables = _blocks(files["variables.tf"], "variable")
    assert set(variables) == {
        "resource_group_name", "location", "nsg_name", "tags", "application_security_groups",
        "application_security_group_ids", "security_rules", "subnet_ids",
    }  # fmt: skip
    rule_conditions = " ".join(str(v["condition"]) for v in variables["security_rules"]["validation"])
    for fragment in ("100", "4096", "Inbound", "Outbound", "Allow", "Deny", '"Tcp"', '"Ah"', "140", "10", "1000"):
        assert fragment in rule_conditions, fragment
    assert "regex" in str(variables["nsg_name"]["validation"])

    resources = _blocks(files["main.tf"], "resource")
    assert set(resources) == {
        "azurerm_network_security_group.this",
        "azurerm_application_security_group.this",
        "azurerm_network_security_rule.first",
        "azurerm_network_security_rule.this",
        "azurerm_subnet_network_security_group_association.this",
        "terraform_data.rules_applied",
    }
    nsg = resources["azurerm_network_security_group.this"]
    assert "security_rule" not in nsg, "no inline rules next to azurerm_network_security_rule"
    assert "security_rule" in str(nsg["lifecycle"][0]["ignore_changes"])
    for name in ("azurerm_application_security_group.this", "azurerm_network_security_rule.this",
                 "azurerm_subnet_network_security_group_association.this"):  # fmt: skip
        assert "for_each" in resources[name], name
    rule = resources["azurerm_network_security_rule.this"]
    # the rules written first (they take over what another rule gives up) are the same resource, earlier
    first = resources["azurerm_network_security_rule.first"]
    assert {k: v for k, v in first.items() if k != "for_each"} == {
        k: v for k, v in rule.items() if k not in ("for_each", "depends_on")
    }
    assert rule["depends_on"] == ["${azurerm_network_security_rule.first}"]
    assert rule["name"] == "${each.key}"
    for argument in ("destination_port_range", "destination_port_ranges", "source_address_prefix",
                     "source_address_prefixes", "source_application_security_group_ids",
                     "destination_application_security_group_ids"):  # fmt: skip
        assert argument in rule, argument
    # rules name ASGs by ID: those created here, or those given (shared by several NSGs, one per subnet)
    assert "local.asg_ids" in str(rule["source_application_security_group_ids"])
    asg_ids = next(str(b["asg_ids"]) for b in files["main.tf"]["locals"] if "asg_ids" in b)
    assert "azurerm_application_security_group.this" in asg_ids and "var.application_security_group_ids" in asg_ids
    assert rule["lifecycle"][0]["precondition"], "ASG keys must be checked"

    outputs = _blocks(files["outputs.tf"], "output")
    assert set(outputs) == {
        "network_security_group_id", "network_security_group_name", "application_security_group_ids",
        "security_rule_ids",
    }  # fmt: skip


def _locals_block(main_tf: str) -> str:
    """The first top-level `locals { ... }` block of main.tf (it refers to variables only)."""
    start = re.search(r"^locals \{", main_tf, re.M)
    assert start, "modules/azure-nsg/main.tf must keep its argument-shaping locals block"
    depth = 0
    for index in range(start.start(), len(main_tf)):
        depth += {"{": 1, "}": -1}.get(main_tf[index], 0)
        if depth == 0 and main_tf[index] == "}":
            return main_tf[start.start() : index + 1]
    raise AssertionError("unbalanced locals block")


def _nsg_rule(**fields: Any) -> dict[str, Any]:
    base = {
        "priority": 100,
        "direction": "Inbound",
        "access": "Allow",
        "protocol": "Tcp",
        "destination_port_ranges": ["443"],
        "source_address_prefixes": ["Internet"],
        "destination_application_security_groups": ["web"],
    }
    return base | fields


AZURE_BAD_INPUTS: dict[str, tuple[dict[str, Any], str]] = {
    "priority_low": ({"security_rules": {"r1": _nsg_rule(priority=99)}}, "within 100-4096"),
    "priority_high": ({"security_rules": {"r1": _nsg_rule(priority=4097)}}, "within 100-4096"),
    "duplicate_priority": (
        {"security_rules": {"a": _nsg_rule(), "b": _nsg_rule(destination_port_ranges=["80"])}},
        "(priority, direction) must be unique",
    ),
    "direction": ({"security_rules": {"r1": _nsg_rule(direction="inbound")}}, "Inbound or Outbound"),
    "access": ({"security_rules": {"r1": _nsg_rule(access="Permit")}}, "Allow or Deny"),
    "protocol_case": ({"security_rules": {"r1": _nsg_rule(protocol="TCP")}}, "case-sensitive"),
    "rule_name": ({"security_rules": {"bad name!": _nsg_rule()}}, "rule names (the map keys)"),
    "nsg_name": ({"nsg_name": "-nsg"}, "nsg_name must be 1-80 characters"),
    "description": ({"security_rules": {"r1": _nsg_rule(description="d" * 141)}}, "at most 140 characters"),
    "too_many_asgs": (
        {"security_rules": {"r1": _nsg_rule(destination_application_security_groups=[f"a{i}" for i in range(11)])}},
        "at most 10 application security groups",
    ),
    "both_prefix_and_asg": (
        {"security_rules": {"r1": _nsg_rule(destination_address_prefixes=["10.0.0.0/8"])}},
        "exactly one of *_address_prefixes and *_application_security_groups",
    ),
    "neither_prefix_nor_asg": (
        {"security_rules": {"r1": _nsg_rule(source_address_prefixes=[])}},
        "exactly one of *_address_prefixes and *_application_security_groups",
    ),
    "port_syntax": ({"security_rules": {"r1": _nsg_rule(destination_port_ranges=["80-70"])}}, "a range low-high"),
    "port_70000": ({"security_rules": {"r1": _nsg_rule(destination_port_ranges=["70000"])}}, "a range low-high"),
    "port_star_in_list": (
        {"security_rules": {"r1": _nsg_rule(destination_port_ranges=["*", "80"])}},
        '"*" must be its only entry',
    ),
    "tag_in_list": (
        {"security_rules": {"r1": _nsg_rule(source_address_prefixes=["VirtualNetwork", "10.0.0.0/8"])}},
        "no service tags",
    ),
    "mixed_families": (
        {"security_rules": {"r1": _nsg_rule(source_address_prefixes=["10.0.0.0/8", "fd00::/8"])}},
        "of one address family",
    ),
    "too_many_rules": (
        # An expression, not 1001 literal rules: Terraform's diagnostics quote the source, and a huge
        # literal makes every diagnostic in the file slow to render.
        {
            "security_rules": '${{ for i in range(1001) : "r${i}" => { priority = 100 + i, direction = "Inbound", '
            'access = "Allow", protocol = "Tcp", destination_port_ranges = ["443"], '
            'source_address_prefixes = ["Internet"], destination_application_security_groups = ["web"] } }}'
        },
        "at most 1000 rules",
    ),
    "subnet_id": ({"subnet_ids": {"s": "snet-1"}}, "subnet resource IDs"),
}


def test_azure_module_validations_and_argument_shaping(terraform_available: str, tmp_path: Path) -> None:
    """variables.tf and the locals block of main.tf, evaluated by Terraform without the azurerm provider."""
    scratch = tmp_path / "azure-nsg-logic"
    scratch.mkdir()
    shutil.copy(AZURE_MODULE / "variables.tf", scratch / "variables.tf")
    (scratch / "logic.tf").write_text(
        _locals_block((AZURE_MODULE / "main.tf").read_text())
        + '\noutput "rule_arguments" {\n  value = local.rule_arguments\n}\n'
    )

    valid = {
        "resource_group_name": "rg-lab",
        "location": "westeurope",
        "nsg_name": "lab-nsg",
        "application_security_groups": {"web": {"name": "asg-web"}, "sql": {"name": "asg-sql"}},
        "security_rules": {
            "web-https": _nsg_rule(description="HTTPS from the internet"),
            "web-to-sql": _nsg_rule(
                priority=110,
                destination_port_ranges=["1433", "49152-65535"],
                source_address_prefixes=[],
                source_application_security_groups=["web"],
                destination_application_security_groups=["sql"],
            ),
            "corp-rdp": _nsg_rule(
                priority=120,
                destination_port_ranges=["3389"],
                source_address_prefixes=["10.20.0.0/16", "10.30.0.0/16"],
                destination_application_security_groups=["web", "sql"],
            ),
            "deny-out": _nsg_rule(
                priority=4096,
                direction="Outbound",
                access="Deny",
                protocol="*",
                destination_port_ranges=["*"],
                source_address_prefixes=["*"],
                destination_application_security_groups=[],
                destination_address_prefixes=["Internet"],
            ),
            "same-prio-other-direction": _nsg_rule(direction="Outbound", destination_port_ranges=["53"]),
        },
        "subnet_ids": {
            "vnet-lab/snet": "/subscriptions/0000/resourceGroups/rg-lab/providers/Microsoft.Network/"
            "virtualNetworks/vnet-lab/subnets/snet"
        },
    }
    modules = {"valid": _module_call(scratch, **valid)}
    for case, (override, _) in AZURE_BAD_INPUTS.items():
        modules[case] = _module_call(scratch, **(valid | override))
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf.json").write_text(json.dumps({"module": modules}, indent=2))
    tf = _runner(root, None)  # no providers involved at all
    _init(tf)

    errors = _errors_by_module(_validate_diagnostics(tf))
    assert "valid" not in errors, errors["valid"]
    assert "?" not in errors, errors["?"]
    for case, (_, expected) in AZURE_BAD_INPUTS.items():
        text = " ".join(" ".join(errors.get(case, [])).split())
        assert expected in text, f"{case}: expected {expected!r} in {errors.get(case)}"

    # The argument shaping: singular fields for one element, plural for several, null otherwise.
    valid_only = tmp_path / "valid-only"
    valid_only.mkdir()
    (valid_only / "main.tf.json").write_text(
        json.dumps({"module": {"nsg": modules["valid"]}, "output": {"args": {"value": "${module.nsg.rule_arguments}"}}})
    )
    tf = _runner(valid_only, None)
    _init(tf)
    _ok(tf.apply(), "apply (locals only)")
    args = tf.output("args")

    https = args["web-https"]
    assert (https["destination_port_range"], https["destination_port_ranges"]) == ("443", None)
    assert (https["source_address_prefix"], https["source_address_prefixes"]) == ("Internet", None)
    assert (https["destination_address_prefix"], https["destination_address_prefixes"]) == (None, None)
    assert https["destination_asgs"] == ["web"] and https["source_asgs"] == []
    assert https["description"] == "HTTPS from the internet" and https["source_port_range"] == "*"

    web_to_sql = args["web-to-sql"]
    assert (web_to_sql["destination_port_range"], web_to_sql["destination_port_ranges"]) == (
        None,
        ["1433", "49152-65535"],
    )
    assert (web_to_sql["source_address_prefix"], web_to_sql["source_address_prefixes"]) == (None, None)
    assert web_to_sql["source_asgs"] == ["web"] and web_to_sql["destination_asgs"] == ["sql"]
    assert web_to_sql["description"] is None  # "" is not sent to Azure

    rdp = args["corp-rdp"]
    assert (rdp["source_address_prefix"], rdp["source_address_prefixes"]) == (None, ["10.20.0.0/16", "10.30.0.0/16"])
    assert rdp["destination_asgs"] == ["sql", "web"]

    deny = args["deny-out"]
    assert (deny["destination_port_range"], deny["source_address_prefix"], deny["destination_address_prefix"]) == (
        "*",
        "*",
        "Internet",
    )
    assert (deny["priority"], deny["direction"], deny["access"], deny["protocol"]) == (4096, "Outbound", "Deny", "*")
