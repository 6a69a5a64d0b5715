"""Adopting a hand-made AWS lab changes no packet's fate (issue 25).

Each lab is built with plain boto3 as people build them (AWS's default egress, group references, prefix lists,
odd protocols), then `import` -> `apply --adopt`. The independent evaluator of tests/support/aws_decisions.py
(plain boto3 reads, no cloudports code) judges every probe before and after: the decisions must be identical,
the groups the same (same IDs), and no live rule may be gone unless an equal one stands in its place.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudports.cli import main
from cloudports.emulators.aws import boto3_client, create_vpc, reset_moto
from tests.support import aws_decisions

EVERYTHING = {"IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}


def cli(capsys: pytest.CaptureFixture, *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


class HandMade:
    """A lab built the way people build one: `lab-<role>` groups, rules added one permission at a time."""

    def __init__(self, ec2: Any, vpc: str, roles: tuple[str, ...] = ("web", "app", "db")):
        self.ec2, self.vpc = ec2, vpc
        self.ids = {
            r: ec2.create_security_group(GroupName=f"lab-{r}", Description=f"{r} servers", VpcId=vpc)["GroupId"]
            for r in roles
        }

    def allow(self, to: str, proto: str, lo: int, hi: int, egress: bool = False, **peer: Any) -> None:
        permission = {"IpProtocol": proto, "FromPort": lo, "ToPort": hi, **peer}
        call = self.ec2.authorize_security_group_egress if egress else self.ec2.authorize_security_group_ingress
        call(GroupId=self.ids[to], IpPermissions=[permission])

    def group(self, role: str, description: str = "") -> dict[str, Any]:
        pair = {"GroupId": self.ids[role]}
        return {"UserIdGroupPairs": [{**pair, "Description": description} if description else pair]}

    def rule_ids(self) -> dict[str, str]:
        """Rule ID -> description, of the lab's groups."""
        found = self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": list(self.ids.values())}]
        )
        return {r["SecurityGroupRuleId"]: r.get("Description", "") for r in found["SecurityGroupRules"]}


def adopt(
    capsys: pytest.CaptureFixture, lab: HandMade, tmp_path: Path, only_tags: bool = True
) -> tuple[dict[str, Any], str]:
    """import -> apply --adopt, judged by the independent evaluator; returns the spec and the import's file.
    `only_tags`: not one rule added or removed either."""
    before, rules_before = aws_decisions.read_lab(lab.ec2, lab.vpc), lab.rule_ids()
    spec_file = tmp_path / "lab.yaml"
    code, _, err = cli(capsys, "import", "-t", "aws", "--vpc-id", lab.vpc, "--name-prefix", "lab-", "--out", spec_file)
    assert code in (0, 2), err
    # for AWS: another team's group is a network without addresses, which Azure refuses (capabilities.py)
    assert cli(capsys, "validate", spec_file, "-t", "aws")[0] == 0
    code, out, err = cli(capsys, "apply", spec_file, "-t", "aws", "--adopt", "--auto-approve")
    assert code == 0, out + err
    after = aws_decisions.read_lab(lab.ec2, lab.vpc)
    assert aws_decisions.differences(before, after) == []
    assert set(after.groups) == set(before.groups)  # the same groups: same IDs
    assert rules_before.keys() <= lab.rule_ids().keys(), "a live rule was deleted"
    assert not only_tags or lab.rule_ids() == rules_before, "a rule was added or its description changed"
    code, out, err = cli(capsys, "plan", spec_file, "-t", "aws", "--detailed-exitcode")
    assert code == 0, out + err
    assert "note:" not in out + err
    return yaml.safe_load(spec_file.read_text()), spec_file.read_text()


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4-vpc", "dual-stack-vpc"])
def test_default_egress_imports_open_and_adopting_writes_only_tags(
    moto_server: str, ec2: Any, capsys, tmp_path: Path, ipv6: bool
) -> None:
    lab = HandMade(ec2, create_vpc(moto_server, ipv6=ipv6))
    lab.allow("web", "tcp", 443, 443, **EVERYTHING)
    lab.allow("app", "tcp", 8080, 8080, **lab.group("web", "web calls app"))
    lab.allow("db", "tcp", 5432, 5432, **lab.group("app"))
    lab.allow("web", "tcp", 22, 22, IpRanges=[{"CidrIp": "198.51.100.0/24", "Description": "ops"}])
    lab.allow("db", "tcp", 3389, 3389, IpRanges=[{"CidrIp": "0.0.0.0/0", "Description": "rdp"}])
    spec, _ = adopt(capsys, lab, tmp_path)
    assert spec["egress"] == "open"
    assert "any-ipv4" not in str(spec["flows"][1:])
    # allow_exposure only where the lint would refuse the flow: RDP from all of IPv4, not HTTPS, not a /24
    assert [f["from"] for f in spec["flows"] if f.get("allow_exposure")] == ["any-ipv4"]
    rdp = {k: v for k, v in spec["flows"][0].items() if k != "allow_exposure"}
    assert rdp == {"from": "any-ipv4", "to": "db", "services": ["tcp/3389"], "description": "rdp"}
    # all of IPv4 reaches RDP: the internet can connect, over IPv4 (and over IPv6 nothing can)
    spec_file = tmp_path / "lab.yaml"
    code, out, _ = cli(
        capsys, "query", spec_file, "--from", "internet", "--to", "db", "--port", "tcp/3389", "-t", "aws", "--live"
    )
    assert code == 0 and "ALLOWED" in out and "over IPv4 (" in out and "over IPv6 none can" in out
    assert cli(capsys, "verify", spec_file, "-t", "aws", "--live")[0] == 0


def test_rules_a_spec_cannot_say_are_kept_unmanaged_and_later_extras_are_still_reverted(
    vpc: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    """A protocol a spec cannot name (GRE) and a prefix list without entries (no network a spec can say) are kept;
    another team's group imports as a network (test_named_peers_...)."""
    lab = HandMade(ec2, vpc)
    foreign = ec2.create_security_group(GroupName="monitoring", Description="not in the lab", VpcId=vpc)["GroupId"]
    plist = ec2.create_managed_prefix_list(PrefixListName="empty", MaxEntries=2, AddressFamily="IPv4")
    plist = plist["PrefixList"]["PrefixListId"]
    lab.allow("web", "tcp", 443, 443, **EVERYTHING)
    lab.allow("web", "tcp", 9100, 9100, UserIdGroupPairs=[{"GroupId": foreign}])
    lab.allow("web", "tcp", 8443, 8443, PrefixListIds=[{"PrefixListId": plist}])
    lab.allow("app", "47", -1, -1, IpRanges=[{"CidrIp": "10.5.0.0/16"}])
    lab.allow("app", "tcp", 8080, 8080, **lab.group("web"))
    spec, text = adopt(capsys, lab, tmp_path)
    kept = spec["targets"]["aws"]["unmanaged"]
    assert kept == ["app/in/47/all/cidr:10.5.0.0/16", f"web/in/tcp/8443/pl:{plist}"]
    spec_file = tmp_path / "lab.yaml"
    code, out, _ = cli(capsys, "drift", spec_file, "-t", "aws")
    assert code == 0 and out.count("kept, not managed: rule") == 2
    # verify: what the kept rules admit is said, not counted; the same kind of rule out of band is a difference
    code, out, _ = cli(capsys, "verify", spec_file, "-t", "aws", "--live")
    assert code == 0 and "kept, not managed" in out, out
    stranger = ec2.create_security_group(GroupName="stranger", Description="named nowhere", VpcId=vpc)["GroupId"]
    lab.allow("db", "tcp", 9100, 9100, UserIdGroupPairs=[{"GroupId": stranger}])
    lab.allow("db", "udp", 53, 53, PrefixListIds=[{"PrefixListId": plist}])
    lab.allow("db", "tcp", 9100, 9100, UserIdGroupPairs=[{"GroupId": foreign}])  # a network's flow the spec lacks
    code, out, _ = cli(capsys, "verify", spec_file, "-t", "aws", "--live")
    assert (
        code == 2 and f"security group {stranger} -> db: tcp/9100" in out and f"db/in/tcp/9100/sgid:{stranger}" in out
    )
    assert f"prefix list {plist} -> db: udp/53" in out
    assert "monitoring -> db: tcp/9100" in out
    assert cli(capsys, "apply", spec_file, "-t", "aws", "--auto-approve")[0] == 0  # reverts all three
    assert cli(capsys, "verify", spec_file, "-t", "aws", "--live")[0] == 0
    # a rule added out of band is drift, and apply reverts it; the kept ones stay
    lab.allow("db", "tcp", 22, 22, IpRanges=[{"CidrIp": "203.0.113.0/24"}])
    code, out, _ = cli(capsys, "drift", spec_file, "-t", "aws")
    assert code == 2 and "db/in/tcp/22/cidr:203.0.113.0/24" in out
    assert cli(capsys, "apply", spec_file, "-t", "aws", "--auto-approve")[0] == 0
    live = {r["SecurityGroupRuleId"]: r for r in ec2.describe_security_group_rules()["SecurityGroupRules"]}
    assert not any(r.get("CidrIpv4") == "203.0.113.0/24" for r in live.values())
    assert any(r.get("PrefixListId") == plist for r in live.values())
    # --prune removes every kept rule; taken off the list, a kept rule is removed like any other
    code, out, _ = cli(capsys, "plan", spec_file, "-t", "aws", "--prune", "--detailed-exitcode")
    assert code == 2 and out.count("delete") >= 3 and "kept, not managed" not in out
    code, out, _ = cli(capsys, "plan", spec_file, "-t", "aws", "--prune", "--explain", "--format", "json")
    closed = {(r["destination"], r["traffic"]) for r in json.loads(out)["traffic"] if r["change"] == "closed"}
    assert ("app", "IP protocol 47") in closed, closed
    spec["targets"]["aws"]["unmanaged"] = kept[1:]
    spec_file.write_text(yaml.safe_dump(spec))
    code, out, _ = cli(capsys, "plan", spec_file, "-t", "aws", "--detailed-exitcode")
    assert code == 2 and "app/in/47/all/cidr:10.5.0.0/16" in out and "delete" in out
    # a kept rule that disappears is said (cloudports does not write back what it does not manage)
    revoked = {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443, "PrefixListIds": [{"PrefixListId": plist}]}
    ec2.revoke_security_group_ingress(GroupId=lab.ids["web"], IpPermissions=[revoked])
    code, out, _ = cli(capsys, "drift", spec_file, "-t", "aws")
    assert f"rule web/in/tcp/8443/pl:{plist} is on the spec's list" in out


def test_a_self_reference_through_ipv6_egress_and_strict_groups_keep_every_decision(
    vpc: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    """app's machines reach each other only over IPv6 (its egress is ::/0 alone); db may only answer web."""
    lab = HandMade(ec2, vpc)
    lab.allow("app", "-1", -1, -1, **lab.group("app", "cluster"))
    ec2.revoke_security_group_egress(
        GroupId=lab.ids["app"], IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    everything_out = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    ec2.revoke_security_group_egress(GroupId=lab.ids["db"], IpPermissions=[everything_out])
    lab.allow("db", "tcp", 5432, 5432, **lab.group("app", "app uses db"))
    lab.allow("db", "udp", 1024, 2048, egress=True, **lab.group("web"))
    lab.allow("web", "udp", 1000, 3000, **lab.group("db"))
    lab.allow("app", "tcp", 8000, 8099, **lab.group("web"))
    lab.allow("web", "icmp", 8, -1, IpRanges=[{"CidrIp": "10.0.0.0/8"}])
    lab.allow("web", "icmp", 3, 4, IpRanges=[{"CidrIp": "10.0.0.0/8"}])
    lab.allow("web", "icmpv6", 128, -1, Ipv6Ranges=[{"CidrIpv6": "fd00::/8"}])
    lab.allow("web", "tcp", 443, 443, Ipv6Ranges=[{"CidrIpv6": "2001:db8::/32", "Description": "partners"}])
    spec, _ = adopt(capsys, lab, tmp_path)
    assert spec["egress"] == "strict"


# ------------------------------------------------------------------------------------------------ property

CIDRS = ["10.0.0.0/16", "10.1.2.0/24", "0.0.0.0/0", "198.51.100.0/24", "203.0.113.0/25"]
CIDRS6 = ["::/0", "fd00:1::/64", "2001:db8::/32"]
PORTS = {"tcp": [(22, 22), (80, 443), (1433, 1433), (8080, 8090)], "udp": [(53, 53), (1000, 2000)]}
ICMP = {"icmp": [(8, -1), (3, 4), (-1, -1)], "icmpv6": [(128, -1), (-1, -1)]}


@st.composite
def permissions(draw: st.DrawFn, roles: list[str]) -> tuple[str, bool, dict[str, Any]]:
    protocol = draw(st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "-1", "47"]))
    low, high = draw(st.sampled_from({**PORTS, **ICMP}.get(protocol, [(-1, -1)])))
    peer = draw(st.sampled_from(["group", "cidr", "cidr6", "foreign", "prefix-list"]))
    if protocol == "icmp" and peer == "cidr6" or protocol == "icmpv6" and peer == "cidr":
        peer = "group"
    return (
        draw(st.sampled_from(roles)),
        draw(st.booleans()),
        {
            "IpProtocol": protocol,
            "FromPort": low,
            "ToPort": high,
            "peer": (peer, draw(st.sampled_from(roles if peer == "group" else CIDRS if peer == "cidr" else CIDRS6))),
        },
    )


def test_a_kept_rule_that_admits_a_flows_half_spares_writing_it(
    moto_server: str, ec2: Any, capsys, tmp_path: Path
) -> None:
    """Regression (found by the property test below): a self-reference whose ingress admits icmpv6/128 and whose
    egress admits all icmpv6 imports as the flow icmpv6/128, the wider egress kept unmanaged; adopting wrote the
    flow's own egress half beside the kept rule that already admits it."""
    lab = HandMade(ec2, create_vpc(moto_server, ipv6=False), ("web",))
    lab.allow("web", "icmpv6", 128, -1, **lab.group("web"))
    lab.allow("web", "icmpv6", -1, -1, egress=True, **lab.group("web"))
    spec, _ = adopt(capsys, lab, tmp_path)
    assert spec["targets"]["aws"]["unmanaged"] == ["web/out/icmpv6/any/sg:web"]


@st.composite
def hand_made_labs(draw: st.DrawFn) -> dict[str, Any]:
    roles = draw(st.lists(st.sampled_from(["web", "app", "db", "jump"]), min_size=1, max_size=3, unique=True))
    egress = {r: draw(st.sampled_from(["default", "none", "ipv6-only"])) for r in roles}
    rules = draw(st.lists(permissions(roles), max_size=6))
    return {"roles": roles, "egress": egress, "rules": rules, "ipv6": draw(st.booleans())}


def _peer(lab: HandMade, kind: str, value: str, foreign: str, plist: str) -> dict[str, Any]:
    return {
        "group": lambda: lab.group(value),
        "cidr": lambda: {"IpRanges": [{"CidrIp": value}]},
        "cidr6": lambda: {"Ipv6Ranges": [{"CidrIpv6": value}]},
        "foreign": lambda: {"UserIdGroupPairs": [{"GroupId": foreign}]},
        "prefix-list": lambda: {"PrefixListIds": [{"PrefixListId": plist}]},
    }[kind]()


def build(ec2: Any, vpc: str, drawn: dict[str, Any]) -> HandMade:
    lab = HandMade(ec2, vpc, tuple(drawn["roles"]))
    foreign = ec2.create_security_group(GroupName="other", Description="not the lab's", VpcId=vpc)["GroupId"]
    plist = ec2.create_managed_prefix_list(
        PrefixListName="offices", MaxEntries=2, AddressFamily="IPv4", Entries=[{"Cidr": "192.0.2.0/24"}]
    )["PrefixList"]["PrefixListId"]
    for role, mode in drawn["egress"].items():
        if mode != "default":
            everything = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ec2.revoke_security_group_egress(GroupId=lab.ids[role], IpPermissions=[everything])
        if mode == "ipv6-only" and not drawn["ipv6"]:  # a VPC without IPv6 gave no ::/0 rule: add one
            lab.allow(role, "-1", -1, -1, egress=True, Ipv6Ranges=[{"CidrIpv6": "::/0"}])
        if mode == "none" and drawn["ipv6"]:
            ec2.revoke_security_group_egress(
                GroupId=lab.ids[role], IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
            )
    for role, egress, rule in drawn["rules"]:
        peer = _peer(lab, *rule["peer"], foreign, plist)
        try:
            lab.allow(role, rule["IpProtocol"], rule["FromPort"], rule["ToPort"], egress=egress, **peer)
        except ClientError as exc:  # the same rule drawn twice
            assert "Duplicate" in str(exc)
    return lab


@pytest.mark.slow  # random labs on the emulator (conftest: --full)
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(drawn=hand_made_labs())
def test_random_hand_made_labs_adopt_with_identical_decisions(drawn: dict[str, Any], moto_server: str, capsys) -> None:
    reset_moto(moto_server)
    lab = build(boto3_client(moto_server), create_vpc(moto_server, ipv6=drawn["ipv6"]), drawn)
    with tempfile.TemporaryDirectory() as tmp:
        adopt(capsys, lab, Path(tmp))  # identical decisions, and nothing but tags written


def test_allow_exposure_goes_on_every_flow_the_lint_refuses_and_no_other(tmp_path: Path) -> None:
    from cloudports.compile.lint import refused_flows
    from cloudports.spec import load_topology

    flows = [
        {"from": "any-ipv4", "to": "web", "services": ["tcp/3389"]},  # alone it crosses the line: refused
        {"from": "any-ipv6", "to": "web", "services": ["tcp/3389"]},  # refused once the first is allowed
        {"from": "internet", "to": "web", "services": ["tcp/443"]},  # not risky
        {"from": "office", "to": "web", "services": ["tcp/22"]},  # a /24: not refused
    ]
    networks = {"any-ipv4": {"ipv4": ["0.0.0.0/0"]}, "any-ipv6": {"ipv6": ["::/0"]}}
    networks["office"] = {"ipv4": ["198.51.100.0/24"]}
    spec = {"name": "lint", "networks": networks, "roles": {"web": {}}, "flows": flows}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert refused_flows(load_topology(tmp_path / "spec.yaml")) == {0, 1}


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, int, tuple[str, bool, dict[str, Any]]]:
    return draw(st.sampled_from(["add", "revoke"])), draw(st.integers(0, 50)), draw(permissions(["web", "app", "db"]))


@pytest.mark.slow  # random changes on the emulator (conftest: --full)
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(change=mutations(), ipv6=st.booleans())
def test_verify_flags_every_out_of_band_change_that_changes_a_decision(
    change: tuple[str, int, tuple[str, bool, dict[str, Any]]], ipv6: bool, moto_server: str, capsys
) -> None:
    """After adopting a lab, one rule added or removed out of band (a group, CIDR, foreign group or prefix-list
    peer): if the independent evaluator sees any decision change, `verify --live` must report a difference."""
    reset_moto(moto_server)
    ec2 = boto3_client(moto_server)
    drawn = {"roles": ["web", "app", "db"], "egress": {"db": "none"}, "ipv6": ipv6}
    drawn["rules"] = [("app", False, {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "peer": ("group", "web")})]
    drawn["rules"] += [
        ("db", True, {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "peer": ("cidr", "10.0.0.0/16")})
    ]
    drawn["rules"] += [
        ("web", False, {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "peer": ("cidr", "0.0.0.0/0")})
    ]
    lab = build(
        ec2, create_vpc(moto_server, ipv6=ipv6), {**drawn, "egress": {"web": "default", "app": "default", "db": "none"}}
    )
    with tempfile.TemporaryDirectory() as tmp:
        adopt(capsys, lab, Path(tmp), only_tags=False)
        before = aws_decisions.read_lab(ec2, lab.vpc)
        action, pick, (role, egress, rule) = change
        if action == "add":
            foreign = next(g for g in before.groups if g not in lab.ids.values())
            plist = ec2.describe_managed_prefix_lists()["PrefixLists"][-1]["PrefixListId"]
            with contextlib.suppress(ClientError):  # already there
                lab.allow(
                    role,
                    rule["IpProtocol"],
                    rule["FromPort"],
                    rule["ToPort"],
                    egress,
                    **_peer(lab, *rule["peer"], foreign, plist),
                )
        else:
            found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": list(lab.ids.values())}])
            target = sorted(found["SecurityGroupRules"], key=lambda r: r["SecurityGroupRuleId"])
            victim = target[pick % len(target)]
            call = ec2.revoke_security_group_egress if victim["IsEgress"] else ec2.revoke_security_group_ingress
            call(GroupId=victim["GroupId"], SecurityGroupRuleIds=[victim["SecurityGroupRuleId"]])
        changed = aws_decisions.differences(before, aws_decisions.read_lab(ec2, lab.vpc))
        code, out, _ = cli(capsys, "verify", Path(tmp) / "lab.yaml", "-t", "aws", "--live")
        if changed:
            assert code == 2, f"{changed[:3]}\n{out}"
