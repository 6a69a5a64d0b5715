"""The neutral compiler (expansion, merging, egress policy, ICMP families), the exposure lint, the AWS quota check
and the Azure builder (priorities, stability, limits, names, descriptions)."""

from __future__ import annotations

import re
import textwrap
from itertools import product
from pathlib import Path

import pytest
import yaml

from cloudports.cli import main
from cloudports.compile import CompiledPolicy, Peer, compile_topology
from cloudports.compile.lint import RISKY
from cloudports.errors import CloudportsError, SpecError
from cloudports.spec import load_topology
from cloudports.targets.aws import TARGET as AWS
from cloudports.targets.aws.split import QUOTA_CODE
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure.build import DENY_ALL_OUTBOUND, DENY_VNET_INBOUND, MAX_RULES, build_azure
from cloudports.targets.azure.model import ALLOW_PRIORITIES, DENY_PRIORITY
from cloudports.targets.azure.priorities import ONLY_NSG, assign_priorities, home_slot
from cloudports.targets.capabilities import check_capabilities
from tests.semantics import assert_equivalent

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(REPO.glob("examples/*/topology.yaml"))
AZURE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")


def make(
    tmp_path: Path,
    flows: list[dict],
    *,
    roles=("web", "sql", "app"),
    networks: dict | None = None,
    egress: str = "strict",
    targets: dict | None = None,
    name: str = "topology.yaml",
    **extra,
) -> Path:
    data = {
        "name": "t",
        "egress": egress,
        "networks": networks or {},
        "roles": {r: {} for r in roles},
        "flows": flows,
        **extra,
    }
    if targets:
        data["targets"] = targets
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def compiled(tmp_path: Path, flows: list[dict], **kwargs) -> CompiledPolicy:
    return compile_topology(load_topology(make(tmp_path, flows, **kwargs)))


def flow(src, dst, *services, **extra) -> dict:
    return {"from": src, "to": dst, "services": list(services), **extra}


def rules(policy: CompiledPolicy, role: str, direction: str = "ingress") -> list[tuple]:
    """(protocol, from, to, peer) of one role's rules in one direction."""
    return [(r.protocol, r.from_port, r.to_port, str(r.peer)) for r in policy.rules_of(role, direction)]


CORP = {"corp": {"ipv4": ["10.20.0.0/16"], "ipv6": ["fd00:20::/48"]}}


# --------------------------------------------------------------------------------------------- neutral rules


def test_duplicates_are_removed_and_descriptions_and_origins_merged(tmp_path: Path) -> None:
    policy = compiled(
        tmp_path,
        [
            flow("web", "sql", "tcp/1433", description="first"),
            flow("web", "sql", "tcp/1433", "tcp/1433", description="second"),
            flow(["web", "web"], "sql", "tcp/1433", description="first"),
        ],
    )
    [ingress] = policy.rules_of("sql", "ingress")
    assert (ingress.protocol, ingress.from_port, ingress.to_port, ingress.peer) == (
        "tcp",
        1433,
        1433,
        Peer("role", "web"),
    )
    assert ingress.descriptions == ("first", "second")
    assert ingress.description == "first; second"
    assert [o.line for o in ingress.origins] == sorted(o.line for o in ingress.origins)
    assert len(ingress.origins) == 3 and len({o.line for o in ingress.origins}) == 3
    [egress] = policy.rules_of("web", "egress")
    assert egress.peer == Peer("role", "sql") and egress.descriptions == ("first", "second")


def test_adjacent_and_overlapping_ranges_of_one_peer_are_merged(tmp_path: Path) -> None:
    policy = compiled(
        tmp_path,
        [
            flow("web", "sql", "tcp/100-200", "tcp/201-300", "tcp/250-260", "tcp/302", "udp/301", "udp/300"),
            flow("web", "sql", "tcp/290-299", "tcp/303-310", description="another flow, same peer"),
            flow("app", "sql", "tcp/201", "tcp/203"),
        ],
    )
    assert sorted(rules(policy, "sql")) == [
        ("tcp", 100, 300, "web"),
        ("tcp", 201, 201, "app"),
        ("tcp", 203, 203, "app"),
        ("tcp", 302, 310, "web"),
        ("udp", 300, 301, "web"),
    ]
    merged = next(r for r in policy.rules_of("sql", "ingress") if r.from_port == 302)
    assert merged.descriptions == ("", "another flow, same peer")  # tcp/302 came from the undescribed flow
    assert merged.description == "another flow, same peer"
    assert len(merged.origins) == 2


def test_all_subsumes_every_other_protocol_of_the_same_peer(tmp_path: Path) -> None:
    policy = compiled(
        tmp_path,
        [
            flow("web", "sql", "tcp/80", "icmp/8", "udp/1-65535", description="ports"),
            flow("web", "sql", "all", description="everything"),
            flow("app", "sql", "tcp/80"),
        ],
    )
    assert sorted(rules(policy, "sql")) == [("all", -1, -1, "web"), ("tcp", 80, 80, "app")]
    [everything] = [r for r in policy.rules_of("sql", "ingress") if r.protocol == "all"]
    assert set(everything.descriptions) == {"ports", "everything"}
    assert rules(policy, "web", "egress") == [("all", -1, -1, "sql")]


def test_icmp_wildcards_subsume(tmp_path: Path) -> None:
    policy = compiled(tmp_path, [flow("web", "sql", "icmp/8", "icmp", "icmp/3:4", "icmpv6/128")])
    assert rules(policy, "sql") == [("icmp", -1, -1, "web"), ("icmpv6", 128, -1, "web")]
    policy = compiled(
        tmp_path, [flow("web", "sql", "icmp/3", "icmp/3:4", "icmp/3:4", "icmp/8:0", "icmp/8:1", "icmp/8:0")]
    )
    assert rules(policy, "sql") == [("icmp", 3, -1, "web"), ("icmp", 8, 0, "web"), ("icmp", 8, 1, "web")]


def test_strict_egress_adds_egress_rules_open_does_not(tmp_path: Path) -> None:
    flows = [flow("web", "sql", "tcp/1433"), flow("corp", "web", "tcp/443")]
    strict = compiled(tmp_path, flows, networks=CORP, egress="strict")
    assert rules(strict, "web", "egress") == [("tcp", 1433, 1433, "sql")]
    assert not strict.rules_of("sql", "egress")  # a network source never gives egress
    opened = compiled(tmp_path, flows, networks=CORP, egress="open")
    assert [r for r in opened.rules if r.direction == "egress"] == []
    assert rules(opened, "sql") == rules(strict, "sql")
    # AWS writes the open egress policy out; Azure relies on its default outbound rules
    aws = AWS.build(opened)
    assert sorted(r.key for r in aws.rules_of("web", "egress")) == [
        "web/out/all/all/cidr:0.0.0.0/0",
        "web/out/all/all/cidr:::/0",
    ]
    assert DENY_ALL_OUTBOUND.name not in AZURE.build(opened).nsg.rules
    assert DENY_ALL_OUTBOUND.name in AZURE.build(strict).nsg.rules
    assert DENY_VNET_INBOUND.name in AZURE.build(opened).nsg.rules


def test_role_to_network_flows_are_egress_only(tmp_path: Path) -> None:
    flows = [flow("web", ["corp", "internet"], "tcp/443")]
    strict = compiled(tmp_path, flows, networks=CORP)
    assert rules(strict, "web", "egress") == [
        ("tcp", 443, 443, "corp(10.20.0.0/16)"),
        ("tcp", 443, 443, "corp(fd00:20::/48)"),
        ("tcp", 443, 443, "internet(0.0.0.0/0)"),
        ("tcp", 443, 443, "internet(::/0)"),
    ]
    assert [r for r in strict.rules if r.direction == "ingress"] == []
    assert compiled(tmp_path, flows, networks=CORP, egress="open").rules == []


def test_network_sources_become_one_rule_per_cidr(tmp_path: Path) -> None:
    policy = compiled(tmp_path, [flow(["corp", "web"], ["sql", "app"], "tcp/1433")], networks=CORP)
    for role in ("sql", "app"):
        assert rules(policy, role) == [
            ("tcp", 1433, 1433, "corp(10.20.0.0/16)"),
            ("tcp", 1433, 1433, "corp(fd00:20::/48)"),
            ("tcp", 1433, 1433, "web"),
        ]
    assert rules(policy, "web", "egress") == [("tcp", 1433, 1433, "app"), ("tcp", 1433, 1433, "sql")]


def test_icmp_reaches_ipv4_peers_and_icmpv6_ipv6_peers(tmp_path: Path) -> None:
    flows = [
        flow("corp", "web", "icmp/8", "icmpv6/128", "tcp/1"),
        flow("app", "web", "icmp/8", "icmpv6/128"),
        flow("web", "corp", "icmp", "icmpv6"),
    ]
    policy = compiled(tmp_path, flows, networks=CORP)
    assert sorted(rules(policy, "web")) == [
        ("icmp", 8, -1, "app"),
        ("icmp", 8, -1, "corp(10.20.0.0/16)"),
        ("icmpv6", 128, -1, "app"),
        ("icmpv6", 128, -1, "corp(fd00:20::/48)"),
        ("tcp", 1, 1, "corp(10.20.0.0/16)"),
        ("tcp", 1, 1, "corp(fd00:20::/48)"),
    ]
    assert sorted(rules(policy, "web", "egress")) == [
        ("icmp", -1, -1, "corp(10.20.0.0/16)"),
        ("icmpv6", -1, -1, "corp(fd00:20::/48)"),
    ]
    # only IPv6 blocks: an icmp (v4) port spec yields nothing for that network
    v6only = {"v6net": {"ipv6": ["2001:db8::/32"]}}
    assert rules(compiled(tmp_path, [flow("v6net", "web", "icmp/8")], networks=v6only), "web") == []


def test_compilation_does_not_depend_on_flow_order(tmp_path: Path) -> None:
    flows = [
        flow("corp", "web", "tcp/80-90", description="a"),
        flow("web", "sql", "tcp/1433", "icmp/8", description="b"),
        flow("corp", "web", "tcp/85-100", "udp/53", description="c"),
        flow("app", ["sql", "corp"], "all", description="d"),
    ]
    forward = compiled(tmp_path, flows, networks=CORP)
    backward = compiled(tmp_path, flows[::-1], networks=CORP)
    assert forward.rules == backward.rules  # identity fields
    assert [set(r.descriptions) for r in forward.rules] == [set(r.descriptions) for r in backward.rules]


def test_phase_flows_compile_only_in_their_phase(tmp_path: Path) -> None:
    path = make(tmp_path, [flow("web", "sql", "tcp/1433"), flow("web", "sql", "udp/1434", phase="setup")])
    assert rules(compile_topology(load_topology(path)), "sql") == [("tcp", 1433, 1433, "web")]
    assert rules(compile_topology(load_topology(path, phase="setup")), "sql") == [
        ("tcp", 1433, 1433, "web"),
        ("udp", 1434, 1434, "web"),
    ]


# --------------------------------------------------------------------------------------------- exposure lint

LINT_SPEC = """\
name: t
catalogs: [windows-admin]
networks:
  world4: {{ipv4: [0.0.0.0/0]}}
  world6: {{ipv6: ["::/0"]}}
  corp: {{ipv4: [10.0.0.0/8]}}
roles:
  web: {{}}
  sql: {{}}
flows:
  - from: {src}
    to: [web, sql]
    services: {services}
{extra}"""


def lint_spec(tmp_path: Path, src: str, services: str, extra: str = "") -> Path:
    path = tmp_path / "lint.yaml"
    path.write_text(LINT_SPEC.format(src=src, services=services, extra=extra))
    return path


def services_loc(path: Path, nth: int = 0) -> str:
    lines = path.read_text().splitlines()
    hits = [
        (i + 1, line.index("services:") + len("services: ") + 1) for i, line in enumerate(lines) if "services:" in line
    ]
    line, col = hits[nth]
    return f"{path}:{line}:{col}"


@pytest.mark.parametrize("risky", RISKY, ids=lambda r: r.name)
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_sensitive_ports_from_the_internet_are_errors(tmp_path: Path, risky, proto: str) -> None:
    port, what = risky.hi, risky.name
    path = lint_spec(tmp_path, "internet", f"[tcp/8443, {proto}/{port}]")
    with pytest.raises(SpecError) as exc:
        compile_topology(load_topology(path))
    text = str(exc.value)
    assert f"{services_loc(path)}: error: {what} ({proto}/{port}) open to 'internet' (any address) on sql, web" in text
    assert "allow_exposure" in text
    # an explicit, documented acceptance turns the error off
    accepted = lint_spec(tmp_path, "internet", f"[{proto}/{port}]", '    allow_exposure: "lab, torn down nightly"\n')
    compile_topology(load_topology(accepted))


@pytest.mark.parametrize(
    ("src", "services", "expected"),
    [
        ("world4", "[rdp]", "RDP (tcp/3389), RDP (udp/3389) open to 'world4'"),
        ("world6", "[tcp/445]", "SMB (tcp/445) open to 'world6'"),
        ("[corp, world6]", "[tcp/5985]", "WinRM (HTTP) (tcp/5985) open to 'world6'"),
        ("internet", "[tcp/1-200]", "MSRPC endpoint mapper (tcp/135), NetBIOS datagram (tcp/138)"),
        ("internet", "[all]", "every port open to 'internet'"),
        ("internet", "[windows-admin]", "RDP (tcp/3389), RDP (udp/3389), WinRM (HTTP) (tcp/5985), WinRM (HTTPS)"),
    ],
)
def test_exposure_from_any_slash_zero_network(tmp_path: Path, src: str, services: str, expected: str) -> None:
    path = lint_spec(tmp_path, src, services)
    with pytest.raises(SpecError) as exc:
        compile_topology(load_topology(path))
    assert f"{services_loc(path)}: error: " in str(exc.value)
    assert expected in str(exc.value)


@pytest.mark.parametrize(
    ("src", "services"),
    [("corp", "[tcp/445, tcp/3389, all]"), ("internet", "[tcp/443, tcp/8080, icmp, udp/53]"), ("web", "[all]")],
)
def test_no_exposure_error_for_named_networks_or_harmless_ports(tmp_path: Path, src: str, services: str) -> None:
    policy = compile_topology(load_topology(lint_spec(tmp_path, src, services)))
    assert policy.rules and not policy.warnings


def test_egress_to_the_internet_is_not_exposure(tmp_path: Path) -> None:
    policy = compiled(tmp_path, [flow("web", "internet", "tcp/445", "tcp/3389")])
    assert len(policy.rules) == 4


def test_every_exposure_is_reported(tmp_path: Path) -> None:
    path = lint_spec(tmp_path, "internet", "[tcp/22]", "  - {from: world4, to: web, services: [tcp/1433]}\n")
    with pytest.raises(SpecError) as exc:
        compile_topology(load_topology(path))
    assert len(exc.value.diagnostics) == 2
    assert {d.loc.line for d in exc.value.diagnostics} == {13, 14}


def test_http_next_to_https_from_the_internet_is_a_warning(tmp_path: Path) -> None:
    path = lint_spec(tmp_path, "internet", "[tcp/80, tcp/443]")
    policy = compile_topology(load_topology(path))
    warnings = [d.render() for d in policy.warnings]
    assert len(warnings) == 2  # one per role
    assert any(
        f"{services_loc(path)}: warning: plain HTTP (tcp/80) is open to the internet on '{role}' next to HTTPS" in w
        for w in warnings
        for role in ("web", "sql")
    )
    # 80 and 443 in different flows: still a warning; only one of them, or 80 from a named network: none
    path = lint_spec(tmp_path, "internet", "[tcp/443]", "  - {from: world4, to: web, services: [tcp/80]}\n")
    assert ["web" in d.message for d in compile_topology(load_topology(path)).warnings] == [True]
    for src, services in (("internet", "[tcp/80]"), ("internet", "[tcp/443]"), ("corp", "[tcp/80, tcp/443]")):
        assert compile_topology(load_topology(lint_spec(tmp_path, src, services))).warnings == []


def test_cli_reports_exposure_with_position(tmp_path: Path, capsys) -> None:
    path = lint_spec(tmp_path, "internet", "[tcp/3389]")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{services_loc(path)}: error: RDP (tcp/3389)" in err and "Traceback" not in err
    path = lint_spec(tmp_path, "internet", "[tcp/80, tcp/443]")
    assert main(["validate", str(path)]) == 0
    assert "warning: plain HTTP" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- AWS quota


def test_aws_role_over_the_rule_quota_spreads_over_several_groups(tmp_path: Path) -> None:
    four = ["tcp/1", "tcp/3", "tcp/5", "tcp/7"]
    policy = compiled(
        tmp_path, [flow("corp", "web", *four)], networks=CORP, targets={"aws": {"max_rules_per_group": 3}}
    )
    state = AWS.build(policy)
    assert state.parts("web") == ["web", "web-2"]
    second = state.groups["web-2"]
    assert second.role == "web" and second.part == 2 and second.name == "web-2"
    assert dict(second.tags)["cloudports:part"] == "2"
    for group in ("web", "web-2"):
        for family in (4, 6):
            count = sum(r.family == family for r in state.rules_of(group, "ingress"))
            assert count == (3 if group == "web" else 1), (group, family)
    # the same traffic as one group would allow: 4 ports from both CIDRs of corp
    ports = {
        (r.from_port, r.cidr_ipv4 or r.cidr_ipv6) for k in state.parts("web") for r in state.rules_of(k, "ingress")
    }
    assert len(ports) == 8
    # and the same groups whatever the order of the flows (deterministic slicing)
    again = AWS.build(
        compiled(
            tmp_path, [flow("corp", "web", *reversed(four))], networks=CORP, targets={"aws": {"max_rules_per_group": 3}}
        )
    )
    assert again.rules.keys() == state.rules.keys()


def test_aws_role_needing_more_groups_than_a_machine_carries_is_refused(tmp_path: Path) -> None:
    four = ["tcp/1", "tcp/3", "tcp/5", "tcp/7"]
    targets = {"aws": {"max_rules_per_group": 1, "max_groups_per_interface": 3}}
    with pytest.raises(CloudportsError) as exc:
        AWS.build(compiled(tmp_path, [flow("corp", "web", *four)], networks=CORP, targets=targets))
    text = str(exc.value)
    assert "aws: role 'web' needs 4 inbound IPv4 rules: 4 security groups of 1 rules each, more than the 3" in text
    assert QUOTA_CODE == "L-0EA8095F" and QUOTA_CODE in text and "L-2AFB9258" in text
    assert "request-service-quota-increase --service-code vpc --quota-code L-0EA8095F" in text
    assert "targets.aws.max_rules_per_group" in text


def test_aws_split_group_names_never_take_another_roles_name(tmp_path: Path) -> None:
    targets = {"aws": {"max_rules_per_group": 1}}
    policy = compiled(tmp_path, [flow("web-2", "web", "tcp/1", "tcp/3")], roles=("web", "web-2"), targets=targets)
    with pytest.raises(CloudportsError, match="'web-2' would have the name of another role"):
        AWS.build(policy)


def test_aws_quota_counts_per_direction_and_family(tmp_path: Path) -> None:
    three = ["tcp/1", "tcp/3", "tcp/5"]
    targets = {"aws": {"max_rules_per_group": 3}}
    # 3 IPv4 + 3 IPv6 inbound and 3 outbound on web: within a quota of 3, one group
    state = AWS.build(
        compiled(tmp_path, [flow("corp", "web", *three), flow("web", "sql", *three)], networks=CORP, targets=targets)
    )
    assert len(state.rules_of("web", "ingress")) == 6 and state.parts("web") == ["web"]
    assert AWS.build(compiled(tmp_path, [flow("web", "sql", *three, "tcp/9")], targets=targets)).parts("web") == [
        "web",
        "web-2",
    ]
    # open egress writes 1 IPv4 + 1 IPv6 outbound rule per group
    opened = compiled(
        tmp_path, [flow("web", "sql", "tcp/1")], egress="open", targets={"aws": {"max_rules_per_group": 1}}
    )
    assert len(AWS.build(opened).rules) == 1 + 3 * 2


def test_aws_descriptions_are_sanitised(tmp_path: Path) -> None:
    long = 'Users\' "quoted" text -> with <angle> brackets and é ' + "x" * 400
    state = AWS.build(compiled(tmp_path, [flow("web", "sql", "tcp/1", description=long)]))
    allowed = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*$")
    for rule in state.rules.values():
        assert len(rule.description) <= 255 and allowed.match(rule.description), rule.description
    for group in state.groups.values():
        assert len(group.description) <= 255 and allowed.match(group.description)


def test_cli_reports_the_quota(tmp_path: Path, capsys) -> None:
    targets = {"aws": {"max_rules_per_group": 1, "max_groups_per_interface": 1}}
    path = make(tmp_path, [flow("web", "sql", "tcp/1", "tcp/3")], targets=targets)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "role 'sql' needs 2 inbound IPv4 rules" in err and "L-0EA8095F" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------- Azure


@pytest.mark.parametrize("phase", [None, "setup"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_azure_priorities_in_range_and_unique_per_direction(path: Path, phase: str | None) -> None:
    state = AZURE.build(compile_topology(load_topology(path, phase=phase)))
    for direction in ("Inbound", "Outbound"):
        prios = [r.priority for r in state.nsg.rules.values() if r.direction == direction]
        assert len(prios) == len(set(prios)), direction
        assert all(100 <= p <= 4096 for p in prios)
    for rule in state.nsg.rules.values():
        if rule.access == "Allow":
            assert rule.priority in ALLOW_PRIORITIES and rule.priority < DENY_PRIORITY
        else:
            assert rule.priority == DENY_PRIORITY == 4096
    again = AZURE.build(compile_topology(load_topology(path, phase=phase)))
    assert {n: r.priority for n, r in again.nsg.rules.items()} == {n: r.priority for n, r in state.nsg.rules.items()}


def _rules(state) -> dict[str, list]:
    return {ONLY_NSG: list(state.nsg.rules.values())}


def _previous(state) -> dict[str, dict[tuple[str, str], int]]:
    return {ONLY_NSG: {(r.direction, r.name): r.priority for r in state.nsg.rules.values() if r.access == "Allow"}}


def test_azure_priorities_are_stable_when_flows_are_added_or_removed(tmp_path: Path) -> None:
    base = [
        flow("corp", "web", "tcp/443"),
        flow("web", "sql", "tcp/1433"),
        flow("app", "sql", "tcp/1433"),
        flow("web", "corp", "udp/53"),
    ]
    before = AZURE.build(compiled(tmp_path, base, networks=CORP))
    previous = _previous(before)
    # add one flow (a new rule) and an extra port on an existing rule
    grown = AZURE.build(
        compiled(tmp_path, [*base, flow("app", "web", "tcp/8080"), flow("web", "sql", "tcp/1435")], networks=CORP),
        previous,
        _rules(before),
    )
    for name, rule in before.nsg.rules.items():
        assert grown.nsg.rules[name].priority == rule.priority, name
    new = set(grown.nsg.rules) - set(before.nsg.rules)
    # web -> sql gets a port of its own (1435): a rule of that port; 1433 stays in the rule it shares with app
    assert new == {"in-tcp-8080", "out-tcp-8080", "in-tcp-1435", "out-tcp-1435"}
    assert before.nsg.rules["in-tcp-1433"].source_asgs == ("app", "web")
    assert grown.nsg.rules["in-tcp-1433"] == before.nsg.rules["in-tcp-1433"]
    # remove a flow: the others keep their numbers
    shrunk = AZURE.build(compiled(tmp_path, base[1:], networks=CORP), _previous(grown), _rules(grown))
    for name, rule in shrunk.nsg.rules.items():
        assert rule.priority == grown.nsg.rules[name].priority, name


def _two_names_sharing_a_home_slot() -> tuple[str, str]:
    seen: dict[int, str] = {}
    for i in range(10_000):
        name = f"in-tcp-r{i}"
        if home_slot(name) in seen:
            return seen[home_slot(name)], name
        seen[home_slot(name)] = name
    raise AssertionError("no home-slot collision found")


def test_azure_new_rule_on_a_taken_home_slot_moves_on_without_renumbering() -> None:
    old, new = _two_names_sharing_a_home_slot()
    slot = home_slot(old)
    previous = {("Inbound", old): slot, ("Outbound", old): slot}
    result = assign_priorities([*previous, ("Inbound", new), ("Outbound", "x-" + new)], previous)
    assert {k: result[k] for k in previous} == previous  # nothing already placed moves
    assert result[("Inbound", new)] == slot + 1 or (slot == 3999 and result[("Inbound", new)] == 100)
    # When the old rule goes, the new one stays where it is: nothing renumbers because a neighbour left.
    assert assign_priorities([("Inbound", new)], {("Inbound", new): result[("Inbound", new)]}) == {
        ("Inbound", new): result[("Inbound", new)]
    }
    # a previous priority outside the allow range, or one another rule holds, is not kept
    assert assign_priorities([("Inbound", "x")], {("Inbound", "x"): 4096})[("Inbound", "x")] in ALLOW_PRIORITIES
    clash = assign_priorities([("Inbound", old), ("Inbound", "y")], {("Inbound", old): slot, ("Inbound", "y"): slot})
    assert clash[("Inbound", old)] != clash[("Inbound", "y")]


def _colliding_flows() -> tuple[dict, dict]:
    """web->sql on tcp/88 and app->lb on tcp/150: their inbound rule names share a home slot with the real hash."""
    assert home_slot("in-tcp-88") == home_slot("in-tcp-150")
    return flow("web", "sql", "tcp/88"), flow("app", "lb", "tcp/150")


def test_azure_removing_a_colliding_flow_never_moves_its_neighbour(tmp_path: Path) -> None:
    """Regression: the rule pushed off its home slot moved "back home" once the other rule was removed."""
    web_sql, app_lb = _colliding_flows()
    roles = ("web", "sql", "app", "lb")
    both = AZURE.build(compiled(tmp_path, [web_sql, app_lb], roles=roles))
    slot = home_slot("in-tcp-88")
    placed = {both.nsg.rules[n].priority for n in ("in-tcp-88", "in-tcp-150")}
    assert slot in placed and len(placed) == 2
    # emit: the record beside the Terraform is the previous priorities
    alone = AZURE.build(compiled(tmp_path, [web_sql], roles=roles), _previous(both))
    assert alone.nsg.rules["in-tcp-88"].priority == both.nsg.rules["in-tcp-88"].priority
    # live: the displaced rule records its priority in its description, so the record survives on Azure
    moved = [r for r in both.nsg.rules.values() if r.access == "Allow" and r.priority != home_slot(r.name)]
    assert moved and all(r.description.endswith(f"[priority {r.priority}]") for r in moved)
    live = {k: v for k, v in _previous(both)[ONLY_NSG].items() if k[1] != "in-tcp-150"}
    recorded = {(r.direction, r.name): r.priority for r in moved}
    one = compiled(tmp_path, [web_sql], roles=roles)
    again = build_azure(one, AZURE.settings(one.topology), {ONLY_NSG: live}, {ONLY_NSG: recorded})
    assert {n: r.priority for n, r in again.nsg.rules.items()} == {
        n: both.nsg.rules[n].priority for n in again.nsg.rules
    }
    # a rule moved by hand (neither at home nor where its record says) goes back
    name = "in-tcp-88"
    hand = {**live, ("Inbound", name): 3999 if 3999 not in live.values() else 3998}
    back = build_azure(one, AZURE.settings(one.topology), {ONLY_NSG: hand}, {ONLY_NSG: recorded})
    assert back.nsg.rules[name].priority == both.nsg.rules[name].priority


def test_azure_icmp_between_roles_warns_that_icmpv6_is_admitted_too(tmp_path: Path) -> None:
    policy = compiled(tmp_path, [flow("web", "sql", "icmp"), flow("corp", "web", "icmp")], networks=CORP)
    state = AZURE.build(policy)
    assert state.nsg.rules["in-icmp-all"].protocol == "Icmp"
    warnings = [w.message for w in check_capabilities(AZURE, policy)]
    assert any("cannot tell ICMP from ICMPv6 between roles" in w and "also admits ICMPv6" in w for w in warnings)
    # a network peer has addresses of one family: no warning for it
    assert not any("corp" in w and "ICMPv6" in w for w in warnings)


def _many_networks(tmp_path: Path, count: int) -> Path:
    networks = {f"n{i}": {"ipv4": [f"10.{i // 256}.{i % 256}.0/24"]} for i in range(count)}
    return make(
        tmp_path,
        [flow(net, "web", f"tcp/{1 + i}") for i, net in enumerate(sorted(networks))],  # a port each: no packing
        roles=("web",),
        networks=networks,
        egress="open",
        targets={"aws": {"max_rules_per_group": 1000}},
    )


def test_azure_rule_limit(tmp_path: Path) -> None:
    at_limit = AZURE.build(compile_topology(load_topology(_many_networks(tmp_path, MAX_RULES - 1))))
    assert len(at_limit.nsg.rules) == MAX_RULES == 1000  # 999 allow rules + deny-vnet-inbound
    with pytest.raises(CloudportsError) as exc:
        AZURE.build(compile_topology(load_topology(_many_networks(tmp_path, MAX_RULES))))
    assert (
        "azure: the NSG needs 1001 rules (packed; no packing needs fewer than 1001); Azure allows 1000 per NSG"
        in str(exc.value)
    )
    assert "split the topology" in str(exc.value)


def test_azure_names_and_descriptions_fit_azure_limits(tmp_path: Path) -> None:
    long_role, long_net = "r" * 19 + "-" + "s" * 20, "n" * 20 + "-" + "m" * 19
    description = "Every user 'reaches' the app; " + "lorem ipsum " * 40
    policy = compiled(
        tmp_path,
        [
            flow(long_net, long_role, "tcp/1", "icmp/8", description=description),
            flow(long_role, [long_net, "web"], "udp/9", "all", description=description),
        ],
        roles=(long_role, "web"),
        networks={long_net: {"ipv4": ["10.0.0.0/8"], "ipv6": ["fd00::/8"]}},
    )
    state = AZURE.build(policy)
    assert len(state.nsg.rules) > 6
    for rule in state.nsg.rules.values():
        assert len(rule.name) <= 80 and AZURE_NAME.match(rule.name), rule.name
        assert len(rule.description) <= 140, rule.description
    for asg in state.asgs.values():
        assert len(asg.name) <= 80 and AZURE_NAME.match(asg.name)
    assert len(state.nsg.rules) == len({r.name for r in state.nsg.rules.values()})
    # the ICMP type is widened on Azure, with a warning that says so
    warnings = check_capabilities(AZURE, policy)
    assert any("cannot filter ICMP by type" in w.message for w in warnings)


def test_azure_rule_names_that_collide_keep_both_rules(tmp_path: Path) -> None:
    """Rule names once joined role and network names with '-', so that 'a' -> 'b-to-c' and 'a-to-b' -> 'c' made one
    name and the second rule silently replaced the first (a lost allow rule). Names now say what a rule is; rules
    that are the same thing (one port, different endpoints that cannot share a rule) get slots."""
    topology = load_topology(
        make(
            tmp_path,
            [flow("corp-v6", "web", "tcp/1"), flow("corp-v6", "web-v6", "tcp/1")]
            + [flow("a", "b-to-c", "tcp/1"), flow("a-to-b", "c", "tcp/1")],
            roles=("web", "web-v6", "a", "b-to-c", "a-to-b", "c"),
            networks={"corp-v6": {"ipv4": ["10.0.0.0/8"], "ipv6": ["fd00::/8"]}},
            egress="open",
        )
    )
    policy = compile_topology(topology)
    state = AZURE.build(policy)
    allow = sorted(n for n, r in state.nsg.rules.items() if r.access == "Allow")
    # corp-v6 -> {web, web-v6} once per family; a -> b-to-c and a-to-b -> c cannot share a rule
    assert allow == ["in-tcp-1", "in-tcp-1-slot2", "in-tcp-1-slot3", "in-tcp-1-v6"]
    assert all(AZURE_NAME.match(n) for n in allow)
    assert_equivalent(topology, state)
    assert_equivalent(topology, AWS.build(policy))


def test_azure_build_is_independent_of_flow_order(tmp_path: Path) -> None:
    flows = [flow("corp", "web", "tcp/80-90", "icmp"), flow("web", "sql", "tcp/1433"), flow("app", "corp", "all")]
    a = AZURE.build(compiled(tmp_path, flows, networks=CORP))
    b = AZURE.build(compiled(tmp_path, flows[::-1], networks=CORP))
    assert {n: (r.content(), r.priority) for n, r in a.nsg.rules.items()} == {
        n: (r.content(), r.priority) for n, r in b.nsg.rules.items()
    }


def test_spec_format_example_compiles(tmp_path: Path) -> None:
    """The annotated example of docs/spec-format.md (with its include and its unset parameter) compiles."""
    text = (REPO / "docs/spec-format.md").read_text()
    body = textwrap.dedent(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    (tmp_path / "shared-networks.yaml").write_text("networks:\n  lab: {ipv4: [192.168.50.0/24]}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(body)
    topology = load_topology(path, {"license_port": "27000"}, phase="setup")
    policy = compile_topology(topology)
    assert_equivalent(topology, AWS.build(policy))
    assert_equivalent(topology, AZURE.build(policy))


def test_unset_unused_spec_parameter_is_an_error_as_documented(tmp_path: Path) -> None:
    path = make(tmp_path, [flow("web", "sql", "tcp/1")], parameters={"license_port": {"description": "no default"}})
    with pytest.raises(SpecError, match="license_port"):
        load_topology(path)


def test_azure_refuses_cleanly_past_the_priority_range(tmp_path: Path, capsys) -> None:
    """63 roles all reaching each other, each pair on a port of its own (nothing packs), need 3,969 inbound NSG
    rules: more than the 3,900 allow priorities.
    The build must report Azure's 1,000-rule limit as a CloudportsError (exit 1), not crash with a ValueError
    from the priority allocator (which used to run before the limit check)."""
    roles = tuple(f"r{i}" for i in range(63))
    path = make(
        tmp_path, [flow(a, b, f"tcp/{1 + n}") for n, (a, b) in enumerate(product(roles, roles))], roles=roles,
        egress="open",
        targets={"aws": {"max_rules_per_group": 1000}},
    )  # fmt: skip
    policy = compile_topology(load_topology(path))
    with pytest.raises(CloudportsError, match=r"the NSG needs 3970 rules \(packed; no packing needs fewer than 3970\)"):
        AZURE.build(policy)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Azure allows 1000 per NSG" in err and "Traceback" not in err
