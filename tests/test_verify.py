"""cloudports verify: exhaustive comparison of each target's rules with the spec.

Checked three ways: the examples verify clean (only labelled cloud limitations); hand-made wrong rules are found
with the right traffic and side; and on random topologies verify agrees with the independent evaluators in
tests/semantics.py — every difference it reports is a real disagreement there, and every disagreement the
evaluators' probes find is reported.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudports.cli import main
from cloudports.compile import compile_topology
from cloudports.query.model import Point, Probe
from cloudports.query.space import Space
from cloudports.query.verify import Difference, Side, verify_topology
from cloudports.spec import load_topology
from cloudports.spec.model import Topology
from cloudports.targets.aws import TARGET as AWS
from cloudports.targets.aws.model import SgRule
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure.model import NsgRule
from tests.semantics import (
    AwsModel,
    AzureModel,
    SpecModel,
    aws_mismatches,
    azure_mismatches,
    probe_points,
    rules_of,
    with_rules,
)
from tests.support.runs import examples
from tests.test_semantics import _load_generated, spec_dicts

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(REPO.glob("examples/*/topology.yaml"))
DISTRIBUTED = REPO / "examples/dynamics365-distributed/topology.yaml"
THREE_TIER = REPO / "examples/three-tier-web/topology.yaml"


@cache
def compiled(path: Path, phase: str | None = None) -> tuple[Topology, Any, Any]:
    topology = load_topology(path, phase=phase)
    policy = compile_topology(topology)
    return topology, AWS.build(policy), AZURE.build(policy)


def side(target: Any, state: Any) -> Side:
    return Side(
        target.name, target.title, target.reachability(state), lambda p: target.explain(state, p), target.capabilities
    )


def check(topology: Topology, aws: Any = None, azure: Any = None) -> list[Difference]:
    sides = [side(AWS, aws)] if aws is not None else []
    sides += [side(AZURE, azure)] if azure is not None else []
    return verify_topology(topology, sides).differences


def unexplained(found: list[Difference]) -> list[Difference]:
    return [d for d in found if not d.limitation]


def cli(capsys: pytest.CaptureFixture, *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ----------------------------------------------------------------------------------------------- the space


def test_space_algebra() -> None:
    web = Space.ports("tcp", 80, 80) | Space.ports("tcp", 443, 443)
    assert (web | Space.ports("tcp", 81, 442)) == Space.ports("tcp", 80, 443)
    assert Space.ports("tcp", 0, 65535) - web == Space.of({"tcp": [(0, 79), (81, 442), (444, 65535)]})
    assert not (web & Space.ports("udp", 80, 80))
    assert Space.icmp("icmp", 8).contains(Probe(Point(role="a"), Point(role="b"), "icmp", (8, 3)))
    assert not Space.icmp("icmp", 8, 0).contains(Probe(Point(role="a"), Point(role="b"), "icmp", (8, 3)))
    other = Probe(Point(role="a"), Point(role="b"), "all", None)
    assert Space.everything().contains(other) and not Space.protocol_number(47).contains(other)
    assert Space.protocol_number(6) == Space.ports("tcp", 0, 65535)


# ----------------------------------------------------------------------------------------------- examples


@pytest.mark.parametrize("phase", [None, "setup"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_verify_clean_on_both_clouds(path: Path, phase: str | None) -> None:
    topology, aws, azure = compiled(path, phase)
    found = check(topology, aws, azure)
    assert unexplained(found) == []
    assert [d for d in found if d.target == "aws"] == []  # AWS expresses every example exactly


def test_three_tier_azure_limitations_are_labelled() -> None:
    topology, _, azure = compiled(THREE_TIER)
    found = {(d.source, d.destination, d.traffic): d.limitation for d in check(topology, azure=azure)}
    assert (
        "cannot filter ICMP by type" in found[("198.51.100.0/24 (ops)", "bastion", "icmp except icmp/8 (every code)")]
    )
    assert (
        "cannot filter ICMP by type"
        in found[("2001:db8:100::/48 (ops)", "bastion", "icmpv6 except icmpv6/128 (every code)")]
    )
    probes = found[("168.63.129.16/32 (internet)", "lb", "all traffic except tcp/80, tcp/443")]
    assert "AllowAzureLoadBalancerInBound" in probes


def test_distributed_azure_icmp_family_limitation() -> None:
    topology, _, azure = compiled(DISTRIBUTED)
    found = {(d.source, d.destination, d.traffic): d.limitation for d in check(topology, azure=azure)}
    assert "cannot tell ICMP from ICMPv6" in found[("web", "dc", "icmpv6 (every type)")]
    assert "cannot filter ICMP by type" in found[("web", "dc", "icmp except icmp/8 (every code)")]


# ------------------------------------------------------------------------------------- hand-made wrong rules


def _without(state: Any, pred: Any) -> Any:
    key = next(k for k, r in sorted(rules_of(state).items()) if pred(r))
    return with_rules(state, {k: r for k, r in rules_of(state).items() if k != key})


def _with(state: Any, *rules: Any) -> Any:
    added = {getattr(r, "key", None) or r.name: r for r in rules}
    return with_rules(state, {**rules_of(state), **added})


def test_aws_dropped_rule_is_found_with_its_flow() -> None:
    topology, aws, _ = compiled(DISTRIBUTED)
    dropped = _without(aws, lambda r: r.group == "sql" and r.direction == "ingress" and r.from_port == 1433)
    found = unexplained(check(topology, aws=dropped))
    assert found and all(d.allowed_by == "spec" and d.destination == "sql" and d.traffic == "tcp/1433" for d in found)
    assert any("topology.yaml:" in line for line in found[0].why)  # the flow, with its spec line
    assert any(line.startswith("aws: no ingress rule on") for line in found[0].why)


def test_aws_extra_rule_is_found() -> None:
    topology, aws, _ = compiled(THREE_TIER)
    ssh = SgRule("db", "ingress", "tcp", 22, 22, cidr_ipv4="0.0.0.0/0", description="someone's shortcut")
    found = unexplained(check(topology, aws=_with(aws, ssh)))
    assert found and {(d.allowed_by, d.destination, d.traffic) for d in found} == {("aws", "db", "tcp/22")}
    assert any("someone's shortcut" in line for d in found for line in d.why)


def test_azure_deny_above_an_allow_is_found() -> None:
    topology, _, azure = compiled(DISTRIBUTED)
    deny = NsgRule(
        "block-sql", "Inbound", "Deny", "Tcp", ("1433",), ("*",), (), ("*",), (), priority=100, description="oops"
    )
    found = unexplained(check(topology, azure=_with(azure, deny)))
    assert found and all(d.allowed_by == "spec" and d.traffic == "tcp/1433" for d in found)
    assert any("Inbound Deny by block-sql (priority 100)" in line for line in found[0].why)


def test_azure_wider_port_list_is_found() -> None:
    topology, _, azure = compiled(THREE_TIER)
    # HTTP(S) from the internet to lb: nothing else stands in the way (no egress rule of the internet's)
    name = "in-tcp-80_443"
    wide = dataclasses.replace(azure.nsg.rules[name], destination_ports=("*",))
    found = unexplained(check(topology, azure=_with(azure, wide)))
    assert found and all(d.allowed_by == "azure" for d in found)


# ---------------------------------------------------------------------------------------------- command line


def test_cli_exit_codes_and_json(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "verify", THREE_TIER)
    assert code == 0 and "aws rules: equivalent to the spec" in out and "known limitation" in out
    code, out, _ = cli(capsys, "verify", THREE_TIER, "--strict", "-f", "json")
    report = json.loads(out)
    assert code == 2 and report["equivalent"] is False and report["targets"] == ["aws", "azure"]
    assert all(d["target"] == "azure" and d["limitation"] for d in report["differences"])
    code, out, _ = cli(capsys, "verify", THREE_TIER, "-t", "aws", "--strict")
    assert code == 0 and "azure" not in out
    code, _, err = cli(capsys, "verify", THREE_TIER, "--live")
    assert code == 1 and "add --target aws or --target azure" in err
    code, _, err = cli(capsys, "verify", THREE_TIER, "-t", "gcp")
    assert code == 1 and "unknown target 'gcp'" in err


# ------------------------------------------------------------------------------- agreement with the evaluators


def _name(point: Point) -> str:
    return point.role if point.role is not None else str(point.addr)


def _evaluate(model: Any, probe: Probe) -> bool:
    protocol = "gre" if probe.protocol == "all" else probe.protocol
    return bool(model.allows(_name(probe.src), _name(probe.dst), protocol, probe.port))


def _agrees(topology: Topology, aws: Any, azure: Any) -> None:
    """Every reported difference is one for the evaluators too; every evaluator mismatch is reported."""
    spec, spec_any = SpecModel(topology), SpecModel(topology, icmp_any_type=True)
    clouds = {"aws": (AwsModel(aws), spec), "azure": (AzureModel(azure), spec_any)}
    found = check(topology, aws, azure)
    for d in unexplained(found):
        assert d.example is not None
        cloud, truth = clouds[d.target]
        assert _evaluate(cloud, d.example) == (d.allowed_by == d.target), d
        assert _evaluate(truth, d.example) == (d.allowed_by == "spec"), d
    probes = probe_points(topology)
    if aws_mismatches(topology, aws, probes):
        assert any(d.target == "aws" for d in unexplained(found))
    # The evaluators judge Azure against the spec widened to any ICMP type; verify judges it against the exact
    # spec and labels the widening. So an Azure mismatch is a real one when the exact spec disagrees too and
    # the widening does not explain it.
    for m in azure_mismatches(topology, azure, probes):
        if spec.allows(*m.probe) != m.cloud and not (m.cloud and m.spec):
            assert any(d.target == "azure" for d in unexplained(found)), m
            break


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=spec_dicts(), phase=st.sampled_from([None, "setup"]))
def test_random_topologies_verify_clean(spec: dict, phase: str | None) -> None:
    topology = _load_generated(spec, phase)
    policy = compile_topology(topology)
    assert unexplained(check(topology, AWS.build(policy), AZURE.build(policy))) == []


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=spec_dicts(), drop=st.integers(0, 10_000), extra=st.booleans())
def test_random_mutations_agree_with_the_evaluators(spec: dict, drop: int, extra: bool) -> None:
    topology = _load_generated(spec, None)
    policy = compile_topology(topology)
    aws, azure = AWS.build(policy), AZURE.build(policy)
    if aws.rules:
        key = sorted(aws.rules)[drop % len(aws.rules)]
        aws = dataclasses.replace(aws, rules={k: r for k, r in aws.rules.items() if k != key})
    allows = sorted(n for n, r in azure.nsg.rules.items() if r.access == "Allow")
    if allows:
        name = allows[drop % len(allows)]
        azure = with_rules(azure, {n: r for n, r in azure.nsg.rules.items() if n != name})
    if extra:
        role = sorted(topology.roles)[drop % len(topology.roles)]
        aws = _with(aws, SgRule(role, "ingress", "udp", 53, 53, cidr_ipv4="10.1.2.0/24"))
        rule = NsgRule("odd", "Inbound", "Allow", "Udp", ("53",), ("10.1.2.0/24",), (), ("*",), (), priority=100)
        azure = _with(azure, rule)
    _agrees(topology, aws, azure)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=spec_dicts(), pick=st.integers(0, 10_000), wide=st.booleans())
def test_random_rules_the_spec_does_not_name_are_found(spec: dict, pick: int, wide: bool) -> None:
    """Rules that let one role reach another, by group or ASG, or (wide) by 0.0.0.0/0 and service tags, and an
    address block reach a role, whatever the spec says. verify compares a pair of roles only where a side's
    rules or flows may let them meet (roles_between), and a role with the address space cut only at the blocks
    some side names for it (networks_between): these must be found as the evaluators find them."""
    topology = _load_generated(spec, None)
    policy = compile_topology(topology)
    roles = sorted(topology.roles)
    src, dst = roles[pick % len(roles)], roles[pick // 7 % len(roles)]
    whole = "0.0.0.0/0" if wide else None
    aws = _with(
        AWS.build(policy),
        SgRule(dst, "ingress", "tcp", 2222, 2222, cidr_ipv4=whole, referenced_group=None if wide else src),
        SgRule(src, "egress", "tcp", 2222, 2222, cidr_ipv4=whole, referenced_group=None if wide else dst),
        SgRule(dst, "ingress", "tcp", 2223, 2223, cidr_ipv4="10.1.2.0/24"),
    )
    inbound = NsgRule(
        "in-odd",
        "Inbound",
        "Allow",
        "Tcp",
        ("2222",),
        priority=100,
        destination_asgs=(dst,),
        source_prefixes=("VirtualNetwork",) if wide else (),
        source_asgs=() if wide else (src,),
    )
    outbound = NsgRule(
        "out-odd",
        "Outbound",
        "Allow",
        "Tcp",
        ("2222",),
        priority=101,
        source_asgs=(src,),
        destination_prefixes=("*",) if wide else (),
        destination_asgs=() if wide else (dst,),
    )
    block = NsgRule("in-block", "Inbound", "Allow", "Tcp", ("2223",), ("10.1.2.0/24",), (), (), (dst,), priority=102)
    azure = _with(AZURE.build(policy), inbound, outbound, block)
    _agrees(topology, aws, azure)
    found = unexplained(check(topology, aws, azure))
    truth = SpecModel(topology)
    # 2222 and 2223 are no range boundaries of the spec, so the evaluators' probes need not try them: ask here
    for name, cloud in (("aws", AwsModel(aws)), ("azure", AzureModel(azure))):
        if cloud.allows(src, dst, "tcp", 2222) and not truth.allows(src, dst, "tcp", 2222):
            assert any(d.target == name and (d.source, d.destination) == (src, dst) for d in found), name
        if cloud.allows("10.1.2.9", dst, "tcp", 2223) and not truth.allows("10.1.2.9", dst, "tcp", 2223):
            assert any(d.target == name and "10.1.2.0/24" in d.source and d.destination == dst for d in found), name


def test_aws_explain_lists_a_group_rule_and_a_cidr_rule_together() -> None:
    """Regression: sorting the admitting rules compared a group peer's None CIDR with a string."""
    _, aws, _ = compiled(THREE_TIER)
    wide = SgRule("app", "ingress", "tcp", 8080, 8080, cidr_ipv4="0.0.0.0/0", description="wide")
    verdict = AWS.explain(_with(aws, wide), Probe(Point(role="lb"), Point(role="app"), "tcp", 8080))
    ingress = [r.ref for r in verdict.reasons if r.direction == "ingress"]
    assert verdict.allowed and ingress == sorted(ingress) and wide.key in ingress and len(ingress) == 2


def test_rules_with_peers_outside_the_spec_are_differences_unless_kept_unmanaged() -> None:
    """A foreign group's or a prefix list's machines are unknown: what such a rule admits is a difference, with
    the rule (issue 25), unless the spec lists the rule as kept, not managed."""
    topology, aws, azure = compiled(THREE_TIER)
    foreign = SgRule("db", "ingress", "tcp", 5432, 5432, referenced_group_id="sg-0123")
    listed = SgRule("db", "egress", "udp", 53, 53, prefix_list_id="pl-0abc")
    report = verify_topology(topology, [side(AWS, _with(_with(aws, foreign), listed))])
    found = {(d.source, d.destination, d.traffic) for d in report.differences if not d.limitation}
    assert found == {("security group sg-0123", "db", "tcp/5432"), ("db", "prefix list pl-0abc", "udp/53")}
    assert any("[db/in/tcp/5432/sgid:sg-0123]" in line for d in report.differences for line in d.why)
    assert not report.equivalent()
    kept = dataclasses.replace(_with(_with(aws, foreign), listed), unmanaged=frozenset({foreign.key, listed.key}))
    report = verify_topology(topology, [side(AWS, kept)])
    assert report.equivalent() and any(
        n.startswith("aws: rule db/in/tcp/5432/sgid:sg-0123 admits") for n in report.notes
    )
    tagged = NsgRule("from-sql-tag", "Inbound", "Allow", "Tcp", ("5432",), ("Sql",), (), ("*",), (), priority=150)
    report = verify_topology(topology, [side(AZURE, _with(azure, tagged))])
    assert any(n.startswith("azure: rule from-sql-tag names Sql") for n in report.notes)


def test_readme_shows_real_output(capsys: pytest.CaptureFixture) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = "$ cloudports verify examples/dynamics365-distributed/topology.yaml\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    code, out, _ = cli(capsys, "verify", DISTRIBUTED)
    assert code == 0 and out == shown


@pytest.mark.parametrize(
    ("protocol", "source_ports", "admits"),
    [
        ("Icmp", ("*",), {"icmp"}),
        ("Icmp", ("1024-65535",), set()),  # ICMP has no source port: a port list matches none of it
        ("*", ("1024-65535",), {"tcp", "udp"}),
        ("Tcp", ("1024-65535",), {"tcp"}),
        ("Tcp", ("0-1023",), set()),  # no client sends from these
    ],
)
def test_an_azure_source_port_list_restricts_tcp_and_udp_only(
    protocol: str, source_ports: tuple[str, ...], admits: set[str]
) -> None:
    """As a destination port list does, and as the independent evaluator (tests/semantics.py) reads it: a random
    hand change (an ICMP allow limited to source ports) made verify --live report a difference where none was."""
    from cloudports.query.space import Space
    from cloudports.targets.azure.explain import rule_space
    from cloudports.targets.azure.model import NsgRule

    rule = NsgRule("r", "Inbound", "Allow", protocol, ("*",), source_ports=source_ports)
    space = rule_space(rule)
    found = {name for name, kind in (("icmp", Space.icmp("icmp")), ("tcp", Space.ports("tcp", 0, 65535)),
             ("udp", Space.ports("udp", 0, 65535))) if space & kind}  # fmt: skip
    assert found == admits
