"""A spec network that is a managed prefix list or another team's security group (targets.aws.prefix_lists,
targets.aws.security_groups): the spec's errors, what build and emit make of it, Terraform planning the emitted
root, and on the moto server a hand-made lab naming both imported as such networks, adopted without changing one
decision (the independent evaluator of tests/support/aws_decisions.py), verified equivalent, and a change to the
list or to a rule's peer reported by verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from python_terraform import IsFlagged

from cloudports.errors import CloudportsError
from cloudports.pipeline import compile_spec, prepare
from cloudports.targets.aws.emit import rules_locals
from tests.support.azurerm_mirror import planned
from tests.support.terraform_env import TerraformCliConfig, TerraformRunner, terraform_env
from tests.test_adopt_aws import HandMade, adopt, cli
from tests.test_loader import at

PL = "pl-0123456789abcdef0"
SG = "sg-0123456789abcdef0"
SPEC = f"""\
name: peers
egress: strict
networks:
  offices:
    ipv4: [192.0.2.0/24, 198.51.100.0/24]
  monitoring: {{}}
roles:
  web: {{}}
  db: {{}}
flows:
  - {{from: offices, to: web, services: [tcp/443, icmp/8], description: staff}}
  - {{from: monitoring, to: [web, db], services: [tcp/9100]}}
  - {{from: web, to: monitoring, services: [tcp/9090]}}
  - {{from: web, to: db, services: [tcp/5432]}}
targets:
  aws:
    prefix_lists: {{offices: {PL}}}
    security_groups: {{monitoring: {SG}}}
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "peers.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("change", "needle", "message"),
    [
        (("prefix_lists: {offices", "prefix_lists: {ofices"), PL, "unknown network 'ofices'"),
        (("monitoring: {}", "monitoring: {ipv4: [10.9.0.0/16]}"), SG, "but it lists address blocks"),
        (("monitoring: sg-", "offices: sg-"), SG, "is both a prefix list and a security group"),
        (("security_groups: {monitoring", "security_groups: {nobody"), "monitoring: {}", "has no address blocks"),
        ((PL, "pl-xyz"), "pl-xyz", "is not valid here"),
    ],
    ids=["unknown-network", "group-with-addresses", "both", "addressless-unnamed", "bad-id"],
)
def test_spec_errors_are_placed_and_say_what_would_be_right(
    tmp_path: Path, capsys, change: tuple[str, str], needle: str, message: str
) -> None:
    path = _spec(tmp_path, SPEC.replace(*change))
    code, _, err = cli(capsys, "validate", path, "-t", "aws")
    assert code == 1 and f"{at(path, needle)}: error: " in err and message in err, err
    if "ofices" in err:
        assert "did you mean 'offices'?" in err


def test_rules_name_the_prefix_list_and_the_group_once_each(tmp_path: Path) -> None:
    policy = compile_spec(_spec(tmp_path))
    target, _ = prepare(policy, "aws")
    state = target.build(policy)
    assert sorted(state.rules) == [
        "db/in/tcp/5432/sg:web",
        f"db/in/tcp/9100/sgid:{SG}",
        f"web/in/icmp/8:-1/pl:{PL}",  # both entries of the list: one rule
        f"web/in/tcp/443/pl:{PL}",
        f"web/in/tcp/9100/sgid:{SG}",
        "web/out/tcp/5432/sg:db",
        f"web/out/tcp/9090/sgid:{SG}",
    ]
    assert state.prefix_lists == {PL: ("192.0.2.0/24", "198.51.100.0/24")}
    peers = {row["key"]: row["peer"] for row in target.rows(state)}
    assert peers[f"web/in/tcp/443/pl:{PL}"] == f"prefix list {PL} (offices)"
    assert peers[f"db/in/tcp/9100/sgid:{SG}"] == f"sg {SG} (monitoring)"
    emitted = tmp_path / "out"
    assert cli_ok("emit", _spec(tmp_path), "-t", "aws", "-o", emitted)
    emitted_rules = rules_locals(state)
    assert emitted_rules["ingress_rules"][f"web/in/tcp/443/pl:{PL}"]["prefix_list_id"] == PL
    assert emitted_rules["egress_rules"][f"web/out/tcp/9090/sgid:{SG}"]["referenced_security_group_id"] == SG
    text = " ".join((emitted / "rules.tf").read_text().split())
    assert f'"web/in/tcp/443/pl:{PL}" = {{ group = "web" ip_protocol = "tcp"' in text
    assert f'prefix_list_id = "{PL}"' in text and f'referenced_security_group_id = "{SG}"' in text
    # what the spec allows is what the rules allow, the list's entries and the group's machines included
    assert cli_ok("verify", _spec(tmp_path), "-t", "aws")


def cli_ok(*args: Any) -> bool:
    from cloudports.cli import main

    return main([str(a) for a in args]) == 0


def test_azure_refuses_a_flow_with_a_network_without_addresses(tmp_path: Path) -> None:
    path = _spec(tmp_path)
    with pytest.raises(CloudportsError) as raised:
        prepare(compile_spec(path), "azure")
    found = {d.render().split(": error: ")[0]: d.message for d in raised.value.diagnostics}
    assert set(found) == {at(path, "{from: monitoring"), at(path, "{from: web, to: monitoring")}
    assert all("network 'monitoring', which has no addresses" in m for m in found.values())


@pytest.mark.slow  # terraform init and plan against the moto server (conftest: --full)
def test_terraform_plans_rules_naming_the_prefix_list_and_the_group(
    tf_cli_config: TerraformCliConfig, moto_server: str, aws_env: dict[str, str], vpc: str, ec2: Any, tmp_path: Path
) -> None:
    foreign = ec2.create_security_group(GroupName="monitoring", Description="ops", VpcId=vpc)["GroupId"]
    entries = [{"Cidr": "192.0.2.0/24"}, {"Cidr": "198.51.100.0/24"}]
    plist = ec2.create_managed_prefix_list(PrefixListName="o", MaxEntries=2, AddressFamily="IPv4", Entries=entries)
    pl = plist["PrefixList"]["PrefixListId"]
    out = tmp_path / "out"
    assert cli_ok("emit", _spec(tmp_path, SPEC.replace(PL, pl).replace(SG, foreign)), "-t", "aws", "-o", out)
    tf = TerraformRunner(out, env=terraform_env(tf_cli_config, aws_env), timeout=120)
    assert tf.init()[0] == 0
    code, stdout, stderr = tf.cmd("plan", "-var", f"vpc_id={vpc}", out="tfplan", no_color=IsFlagged, input=False)
    assert code == 0, stdout + stderr
    plan = json.loads(tf.cmd("show", "tfplan", json=IsFlagged, no_color=IsFlagged)[1])
    ingress = {a.split('"')[1]: r for a, r, _ in planned(plan, "aws_vpc_security_group_ingress_rule")}
    egress = {a.split('"')[1]: r for a, r, _ in planned(plan, "aws_vpc_security_group_egress_rule")}
    assert ingress[f"web/in/tcp/443/pl:{pl}"]["prefix_list_id"] == pl
    assert ingress[f"db/in/tcp/9100/sgid:{foreign}"]["referenced_security_group_id"] == foreign
    assert egress[f"web/out/tcp/9090/sgid:{foreign}"]["referenced_security_group_id"] == foreign
    # nothing of the list or the group itself is managed
    assert not list(planned(plan, "aws_ec2_managed_prefix_list"))
    assert len(list(planned(plan, "aws_security_group"))) == 2


def test_apply_writes_rules_naming_the_list_and_the_group_and_nothing_else(
    vpc: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    foreign = ec2.create_security_group(GroupName="monitoring", Description="ops", VpcId=vpc)["GroupId"]
    entries = [{"Cidr": "192.0.2.0/24"}, {"Cidr": "198.51.100.0/24"}]
    plist = ec2.create_managed_prefix_list(PrefixListName="o", MaxEntries=2, AddressFamily="IPv4", Entries=entries)
    pl = plist["PrefixList"]["PrefixListId"]
    spec = _spec(tmp_path, SPEC.replace(PL, pl).replace(SG, foreign))
    foreign_before = ec2.describe_security_groups(GroupIds=[foreign])["SecurityGroups"][0]
    code, out, err = cli(capsys, "apply", spec, "-t", "aws", "--vpc-id", vpc, "--auto-approve")
    assert code == 0, out + err
    live = ec2.describe_security_group_rules(Filters=[{"Name": "tag:cloudports:topology", "Values": ["peers"]}])
    peers = {
        (r["IsEgress"], r["FromPort"], r.get("PrefixListId") or r["ReferencedGroupInfo"]["GroupId"])
        for r in live["SecurityGroupRules"]
        if r.get("PrefixListId") or r.get("ReferencedGroupInfo", {}).get("GroupId") == foreign
    }
    assert peers == {(False, 443, pl), (False, 8, pl), (False, 9100, foreign), (True, 9090, foreign)}
    # the group and the list themselves are as they were
    assert ec2.describe_security_groups(GroupIds=[foreign])["SecurityGroups"][0] == foreign_before
    assert ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"] == entries
    for command in (("plan", "--detailed-exitcode"), ("drift",), ("verify", "--live")):
        code, out, err = cli(capsys, command[0], spec, "-t", "aws", "--vpc-id", vpc, *command[1:])
        assert code == 0, f"{command}: {out}{err}"


def _lab(ec2: Any, vpc: str) -> tuple[HandMade, str, str]:
    """web (strict egress) takes HTTPS from the offices' prefix list and is scraped by the ops team's group, to
    which it also sends; db is scraped too; web calls app."""
    lab = HandMade(ec2, vpc)
    foreign = ec2.create_security_group(GroupName="monitoring", Description="the ops team's", VpcId=vpc)["GroupId"]
    entries = [{"Cidr": "192.0.2.0/24"}, {"Cidr": "198.51.100.0/24"}]
    plist = ec2.create_managed_prefix_list(
        PrefixListName="corp offices", MaxEntries=4, AddressFamily="IPv4", Entries=entries
    )["PrefixList"]["PrefixListId"]
    everything_out = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.revoke_security_group_egress(GroupId=lab.ids["web"], IpPermissions=[everything_out])
    lab.allow("web", "tcp", 443, 443, PrefixListIds=[{"PrefixListId": plist, "Description": "staff"}])
    lab.allow("web", "tcp", 9100, 9100, UserIdGroupPairs=[{"GroupId": foreign}])
    lab.allow("db", "tcp", 9100, 9100, UserIdGroupPairs=[{"GroupId": foreign}])
    lab.allow("web", "tcp", 9090, 9090, egress=True, UserIdGroupPairs=[{"GroupId": foreign}])
    lab.allow("app", "tcp", 8080, 8080, **lab.group("web"))
    lab.allow("web", "tcp", 8080, 8080, egress=True, **lab.group("app"))
    return lab, plist, foreign


def test_an_imported_lab_naming_a_prefix_list_and_a_foreign_group_keeps_every_decision(
    vpc: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    lab, plist, foreign = _lab(ec2, vpc)
    spec, _ = adopt(capsys, lab, tmp_path)  # the evaluator's decisions unchanged, not one rule written
    assert spec["networks"]["corp-offices"] == {"ipv4": ["192.0.2.0/24", "198.51.100.0/24"]}
    assert spec["networks"]["monitoring"] == {}
    aws = spec["targets"]["aws"]
    assert aws["prefix_lists"] == {"corp-offices": plist} and aws["security_groups"] == {"monitoring": foreign}
    assert "unmanaged" not in aws
    flows = {(str(f["from"]), str(f["to"])): f["services"] for f in spec["flows"]}
    assert flows[("corp-offices", "web")] == ["tcp/443"] and flows[("monitoring", "['db', 'web']")] == ["tcp/9100"]
    assert flows[("web", "monitoring")] == ["tcp/9090"]
    spec_file = tmp_path / "lab.yaml"
    code, out, _ = cli(capsys, "verify", spec_file, "-t", "aws", "--live")
    assert code == 0 and "equivalent" in out, out
    code, out, _ = cli(
        capsys, "query", spec_file, "--from", "monitoring", "--to", "db", "--port", "tcp/9100", "-t", "aws", "--live"
    )
    assert code == 0 and "ALLOWED" in out and f"db/in/tcp/9100/sgid:{foreign}" in out, out


def test_verify_reports_a_prefix_list_that_no_longer_holds_the_networks_blocks(
    vpc: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    lab, plist, _ = _lab(ec2, vpc)
    adopt(capsys, lab, tmp_path)
    ec2.modify_managed_prefix_list(
        PrefixListId=plist, PrefixListName="corp offices", AddEntries=[{"Cidr": "203.0.113.0/24"}], CurrentVersion=1
    )
    code, out, _ = cli(capsys, "verify", tmp_path / "lab.yaml", "-t", "aws", "--live")
    assert code == 2 and "203.0.113.0/24 (any-ipv4) -> web: tcp/443" in out, out
    # the list itself is not cloudports': plan has nothing to write, and what apply would change is nothing
    assert cli(capsys, "plan", tmp_path / "lab.yaml", "-t", "aws", "--detailed-exitcode")[0] == 0
    code, out, _ = cli(capsys, "drift", tmp_path / "lab.yaml", "-t", "aws", "--explain")
    assert code == 0 and "203.0.113" not in out, out


def test_verify_reports_a_rule_whose_peer_is_no_longer_the_named_group(
    vpc: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    lab, _, foreign = _lab(ec2, vpc)
    adopt(capsys, lab, tmp_path)
    stranger = ec2.create_security_group(GroupName="stranger", Description="someone", VpcId=vpc)["GroupId"]
    scrape = {"IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100}
    ec2.revoke_security_group_ingress(
        GroupId=lab.ids["db"], IpPermissions=[{**scrape, "UserIdGroupPairs": [{"GroupId": foreign}]}]
    )
    lab.allow("db", "tcp", 9100, 9100, UserIdGroupPairs=[{"GroupId": stranger}])
    code, out, _ = cli(capsys, "verify", tmp_path / "lab.yaml", "-t", "aws", "--live")
    assert code == 2 and "monitoring -> db: tcp/9100" in out and f"security group {stranger} -> db" in out, out
    # apply puts the named peer back, and verify agrees again
    assert cli(capsys, "apply", tmp_path / "lab.yaml", "-t", "aws", "--auto-approve")[0] == 0
    assert cli(capsys, "verify", tmp_path / "lab.yaml", "-t", "aws", "--live")[0] == 0


def test_diff_says_what_a_change_opens_to_a_network_without_addresses(tmp_path: Path, capsys) -> None:
    old = _spec(tmp_path)
    new = tmp_path / "new.yaml"
    new.write_text(SPEC.replace("services: [tcp/9100]", "services: [tcp/9100, tcp/9200]"))
    for judge in ((), ("-t", "aws")):  # the spec's intent, the AWS rules
        code, out, _ = cli(capsys, "diff", old, new, *judge)
        assert code == 2 and "2 opened, 0 closed" in out, out
        assert "monitoring -> db: tcp/9200" in out and "monitoring -> web: tcp/9200" in out


def test_azure_service_tags_naming_an_unknown_network_is_placed_too(tmp_path: Path, capsys) -> None:
    """The same check, through the same hook (TargetSettings.network_problems): it had no position before."""
    text = SPEC.replace("  aws:\n", "  azure:\n    service_tags: {ofices: Internet}\n  aws:\n")
    path = _spec(tmp_path, text)
    code, _, err = cli(capsys, "validate", path, "-t", "aws")
    assert code == 1 and f"{at(path, 'Internet')}: error: targets.azure: service_tags: unknown network 'ofices'" in err
    assert "did you mean 'offices'?" in err
