"""The compiled AWS and Azure states allow exactly what the spec declares — nothing more, nothing less.

The evaluators live in tests/semantics.py (their modelling choices are documented there). Every example is
checked on a discriminating probe set, the distributed Dynamics example gets concrete behavioural assertions,
hypothesis checks random topologies through the real loader, and sanity tests prove that the evaluators notice
a broken state (a test that cannot fail is a defect).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cloudports.compile import compile_topology
from cloudports.spec import load_topology
from cloudports.targets.aws import TARGET as AWS
from cloudports.targets.aws.model import SgRule
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure.build import DENY_VNET_INBOUND
from cloudports.targets.azure.model import NsgRule
from tests.semantics import (
    AZURE_DEFAULT_RULES,
    AwsModel,
    AzureModel,
    SpecModel,
    assert_aws_equivalent,
    assert_azure_equivalent,
    assert_equivalent,
    aws_allows,
    aws_mismatches,
    azure_allows,
    azure_mismatches,
    probe_addresses,
    probe_points,
    spec_allows,
    with_rules,
)
from tests.support.runs import examples

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(REPO.glob("examples/*/topology.yaml"))
DISTRIBUTED = REPO / "examples/dynamics365-distributed/topology.yaml"
THREE_TIER = REPO / "examples/three-tier-web/topology.yaml"


@cache
def compiled(path: Path, phase: str | None = None):
    topology = load_topology(path, phase=phase)
    policy = compile_topology(topology)
    return topology, AWS.build(policy), AZURE.build(policy)


def _everywhere(path: Path, phase: str | None, src: str, dst: str, proto: str, port: object) -> bool:
    """The verdict of the spec, AWS and Azure, which must agree (Azure's ICMP is compared at any-type level)."""
    topology, aws, azure = compiled(path, phase)
    verdicts = {
        "spec": spec_allows(topology, src, dst, proto, port),
        "aws": aws_allows(aws, src, dst, proto, port),
        "azure": azure_allows(azure, src, dst, proto, port),
    }
    assert len(set(verdicts.values())) == 1, f"{src} -> {dst} {proto}/{port}: {verdicts}"
    return verdicts["spec"]


# --------------------------------------------------------------------------------------------- examples


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("phase", [None, "setup"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_clouds_allow_exactly_the_spec(path: Path, phase: str | None) -> None:
    topology, aws, azure = compiled(path, phase)
    probes = probe_points(topology)
    assert len(probes) > 1000
    # the probe set is discriminating: it contains allowed and denied probes for every role as destination
    for role in topology.roles:
        verdicts = {spec_allows(topology, *p) for p in probes if p[1] == role}
        assert verdicts == {True, False}, role
    assert_aws_equivalent(topology, aws, probes)
    assert_azure_equivalent(topology, azure, probes)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_compiled_rule_is_needed(path: Path) -> None:
    """Dropping any single AWS rule or Azure rule (allow or structural deny) is noticed by the probes."""
    topology, aws, azure = compiled(path, "setup")
    probes = probe_points(topology)
    # Dropping an allow rule can only turn allowed probes into denied ones: those are the probes to look at.
    allowed_aws = [p for p in probes if spec_allows(topology, *p)]
    allowed_azure = [p for p in probes if spec_allows(topology, *p, icmp_any_type=True)]
    for key in aws.rules:
        broken = dataclasses.replace(aws, rules={k: r for k, r in aws.rules.items() if k != key})
        assert aws_mismatches(topology, broken, allowed_aws), f"dropping AWS rule {key} went unnoticed"
    for name, rule in azure.nsg.rules.items():
        broken = with_rules(azure, {k: r for k, r in azure.nsg.rules.items() if k != name})
        subset = allowed_azure if rule.access == "Allow" else probes
        assert azure_mismatches(topology, broken, subset), f"dropping Azure rule {name} went unnoticed"


# --------------------------------------------------------------------------------------------- distributed


@pytest.mark.parametrize("phase", [None, "setup"])
def test_distributed_tcp_808_only_in_the_seed_directions(phase: str | None) -> None:
    allowed = {("async", "sandbox"), ("web", "sandbox"), ("sandbox", "web"), ("sql", "web")}
    topology = compiled(DISTRIBUTED, phase)[0]
    for src in [*topology.roles, "10.20.0.5", "10.99.0.5", "203.0.113.77"]:
        for dst in topology.roles:
            assert _everywhere(DISTRIBUTED, phase, src, dst, "tcp", 808) == ((src, dst) in allowed), (src, dst)
    for src, dst in [("sandbox", "async"), ("web", "async"), ("sql", "sandbox"), ("10.20.0.5", "sandbox")]:
        assert not _everywhere(DISTRIBUTED, phase, src, dst, "tcp", 808)


def test_distributed_sql_1433_only_from_the_dynamics_servers() -> None:
    topology = compiled(DISTRIBUTED)[0]
    for src in [*topology.roles, "10.20.0.5", "10.99.0.5", "8.8.8.8", "fd00::1"]:
        want = src in ("web", "async", "sandbox")
        assert _everywhere(DISTRIBUTED, None, src, "sql", "tcp", 1433) == want, src
        assert not _everywhere(DISTRIBUTED, None, src, "sql", "udp", 1433)
    for dst in ("web", "async", "sandbox", "dc"):
        assert not _everywhere(DISTRIBUTED, None, "web", dst, "tcp", 1433)


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_distributed_rdp_only_from_the_admin_network(proto: str) -> None:
    topology = compiled(DISTRIBUTED)[0]
    for role in topology.roles:
        assert _everywhere(DISTRIBUTED, None, "10.99.0.5", role, proto, 3389)
        assert _everywhere(DISTRIBUTED, None, "10.99.0.255", role, proto, 3389)
        for src in ["10.20.0.5", "10.99.1.0", "10.98.255.255", "203.0.113.9", *topology.roles]:
            assert not _everywhere(DISTRIBUTED, None, src, role, proto, 3389), (src, role)


def test_distributed_sql_browser_only_in_the_setup_phase() -> None:
    assert not _everywhere(DISTRIBUTED, None, "web", "sql", "udp", 1434)
    assert _everywhere(DISTRIBUTED, "setup", "web", "sql", "udp", 1434)
    for src in ("async", "sandbox", "dc", "10.20.0.5"):
        assert not _everywhere(DISTRIBUTED, "setup", src, "sql", "udp", 1434)
    assert not _everywhere(DISTRIBUTED, "setup", "sql", "web", "udp", 1434)
    # SMB for organization creation, too
    assert not _everywhere(DISTRIBUTED, None, "web", "sql", "tcp", 445)
    assert _everywhere(DISTRIBUTED, "setup", "web", "sql", "tcp", 445)


def test_distributed_users_and_strict_egress() -> None:
    assert _everywhere(DISTRIBUTED, None, "10.20.0.0", "web", "tcp", 5555)  # d365_web_port = 5555
    assert _everywhere(DISTRIBUTED, None, "10.20.255.255", "web", "tcp", 443)
    assert not _everywhere(DISTRIBUTED, None, "10.20.0.5", "web", "tcp", 80)  # the website moved to 5555
    assert not _everywhere(DISTRIBUTED, None, "10.21.0.0", "web", "tcp", 443)
    assert not _everywhere(DISTRIBUTED, None, "10.20.0.5", "sql", "tcp", 443)
    # strict egress: no role reaches the internet or the users' network
    for role in compiled(DISTRIBUTED)[0].roles:
        assert not _everywhere(DISTRIBUTED, None, role, "8.8.8.8", "tcp", 443)
        assert not _everywhere(DISTRIBUTED, None, role, "10.20.0.5", "tcp", 445)


def test_distributed_ping_to_the_dc_exact_on_aws_widened_on_azure() -> None:
    topology, aws, azure = compiled(DISTRIBUTED)
    assert aws_allows(aws, "web", "dc", "icmp", 8) and spec_allows(topology, "web", "dc", "icmp", (8, 0))
    assert not aws_allows(aws, "web", "dc", "icmp", 0) and not spec_allows(topology, "web", "dc", "icmp", 0)
    assert not aws_allows(aws, "web", "dc", "icmpv6", 128)
    # NSG rules cannot filter ICMP types: Azure lets any ICMP through, which the widened spec expects
    assert azure_allows(azure, "web", "dc", "icmp", 0) and azure_allows(azure, "web", "dc", "icmpv6", 128)
    assert spec_allows(topology, "web", "dc", "icmp", 0, icmp_any_type=True)
    assert not azure_allows(azure, "dc", "web", "icmp", 8)
    assert not _everywhere(DISTRIBUTED, None, "10.99.0.5", "dc", "icmp", 8)


# --------------------------------------------------------------------------------------------- three-tier


def test_three_tier_internet_and_egress_only_flows() -> None:
    for src in ("203.0.113.5", "2001:db8:1::1", "10.1.2.3", "fd00::5"):
        assert _everywhere(THREE_TIER, None, src, "lb", "tcp", 443)
        assert _everywhere(THREE_TIER, None, src, "lb", "tcp", 80)
        assert not _everywhere(THREE_TIER, None, src, "lb", "tcp", 8080)
        assert not _everywhere(THREE_TIER, None, src, "app", "tcp", 443)
    assert _everywhere(THREE_TIER, None, "app", "8.8.8.8", "tcp", 443)  # egress-only flow app -> internet
    assert _everywhere(THREE_TIER, None, "app", "2a00:1450::1", "tcp", 443)
    assert not _everywhere(THREE_TIER, None, "app", "8.8.8.8", "tcp", 80)
    assert not _everywhere(THREE_TIER, None, "db", "8.8.8.8", "tcp", 443)
    # ICMP per family: icmp/8 from ops' IPv4 block, icmpv6/128 from its IPv6 block
    assert _everywhere(THREE_TIER, None, "198.51.100.7", "bastion", "icmp", 8)
    assert _everywhere(THREE_TIER, None, "2001:db8:100::7", "bastion", "icmpv6", 128)
    assert not spec_allows(compiled(THREE_TIER)[0], "198.51.100.7", "bastion", "icmp", 0)
    # 'internet' is every address, role machines included (semantics.py, choice 2): app may reach lb on 443
    assert _everywhere(THREE_TIER, None, "app", "lb", "tcp", 443)
    assert not _everywhere(THREE_TIER, None, "db", "lb", "tcp", 443)  # no egress for db under strict


# --------------------------------------------------------------------------------------------- sanity


def _first(rules: dict, pred) -> str:
    return next(k for k, r in rules.items() if pred(r))


def test_evaluators_notice_a_dropped_or_added_aws_rule() -> None:
    topology, aws, _ = compiled(DISTRIBUTED)
    assert_equivalent(topology, aws)
    key = _first(aws.rules, lambda r: r.group == "sandbox" and r.direction == "ingress" and r.from_port == 808)
    dropped = dataclasses.replace(aws, rules={k: r for k, r in aws.rules.items() if k != key})
    with pytest.raises(AssertionError, match="sandbox tcp/808: spec allows, cloud denies"):
        assert_equivalent(topology, dropped)
    extra = SgRule("async", "ingress", "tcp", 808, 808, referenced_group="sandbox")
    added = dataclasses.replace(aws, rules={**aws.rules, extra.key: extra})
    assert not aws_allows(aws, "sandbox", "async", "tcp", 808)
    assert not aws_allows(added, "sandbox", "async", "tcp", 808)  # strict: sandbox has no egress for it
    egress = SgRule("sandbox", "egress", "tcp", 808, 808, referenced_group="async")
    added = dataclasses.replace(aws, rules={**added.rules, egress.key: egress})
    assert aws_allows(added, "sandbox", "async", "tcp", 808)
    bad = aws_mismatches(topology, added)
    assert [str(m) for m in bad] == ["sandbox -> async tcp/808: spec denies, cloud allows"]


def test_evaluators_notice_a_wrong_icmp_type_or_family_on_aws() -> None:
    topology, aws, _ = compiled(DISTRIBUTED)
    key = _first(aws.rules, lambda r: r.group == "dc" and r.ip_protocol == "icmp" and r.referenced_group == "web")
    back = _first(aws.rules, lambda r: r.group == "web" and r.ip_protocol == "icmp" and r.referenced_group == "dc")
    for change in ({"from_port": 0}, {"to_port": 3}, {"ip_protocol": "icmpv6"}, {"ip_protocol": "-1"}):
        # changed on both sides (web's egress and dc's ingress): strict egress would hide a one-sided change
        wrong = {k: dataclasses.replace(aws.rules[k], **change) for k in (key, back)}
        broken = dataclasses.replace(aws, rules={**aws.rules, **wrong})
        assert aws_mismatches(topology, broken), change


def test_evaluators_notice_broken_azure_rules() -> None:
    topology, _, azure = compiled(DISTRIBUTED)
    assert_equivalent(topology, azure)
    allow = _first(azure.nsg.rules, lambda r: r.protocol == "Tcp" and r.direction == "Inbound" and r.source_prefixes)
    # an allow rule below the structural deny never matches
    late = dataclasses.replace(azure.nsg.rules[allow], priority=4097)
    with pytest.raises(AssertionError, match="spec allows, cloud denies"):
        assert_equivalent(topology, with_rules(azure, {**azure.nsg.rules, allow: late}))
    # the structural deny moved above the allows blocks everything declared between roles
    early = dataclasses.replace(DENY_VNET_INBOUND, priority=99)
    broken = with_rules(azure, {**azure.nsg.rules, DENY_VNET_INBOUND.name: early})
    assert not azure_allows(broken, "async", "sandbox", "tcp", 808)
    # without the structural denies the default AllowVnetInBound / AllowVnetOutBound let everything through
    for name in ("deny-vnet-inbound", "deny-all-outbound"):
        open_state = with_rules(azure, {k: r for k, r in azure.nsg.rules.items() if k != name})
        assert any(m.cloud and not m.spec for m in azure_mismatches(topology, open_state)), name
    # a wider port list is noticed
    rule = azure.nsg.rules[allow]
    wide = dataclasses.replace(rule, destination_ports=("*",))
    assert azure_mismatches(topology, with_rules(azure, {**azure.nsg.rules, allow: wide}))


def test_azure_default_rules_apply() -> None:
    topology, _, azure = compiled(THREE_TIER)
    assert [r.name for r in AZURE_DEFAULT_RULES if r.access == "Deny"] == ["DenyAllInBound", "DenyAllOutBound"]
    bare = dataclasses.replace(with_rules(azure, {}), egress="open")
    # no custom rules: VNet to VNet allowed, internet inbound denied, outbound open
    assert azure_allows(bare, "app", "db", "tcp", 1)
    assert azure_allows(bare, "10.1.1.1", "db", "udp", 9)
    assert not azure_allows(bare, "203.0.113.5", "db", "tcp", 443)
    assert azure_allows(bare, "db", "8.8.8.8", "tcp", 25)
    assert azure_allows(bare, "168.63.129.16", "db", "tcp", 80)  # AllowAzureLoadBalancerInBound
    # a VNet-prefix choice changes what VirtualNetwork means
    assert not azure_allows(bare, "10.1.1.1", "db", "udp", 9, vnet_prefixes=["192.168.0.0/16"])
    assert AzureModel(bare).allows("fd00::1", "db", "tcp", 22)


def test_aws_new_group_without_rules_allows_nothing() -> None:
    topology, aws, _ = compiled(THREE_TIER)
    bare = dataclasses.replace(aws, rules={})
    model = AwsModel(bare)
    assert not any(model.allows(*p) for p in probe_points(topology)[:2000])
    assert not AwsModel(aws).allows("lb", "app", "gre")  # only an 'all' rule passes another protocol


def test_spec_model_basics() -> None:
    topology = compiled(THREE_TIER)[0]
    model = SpecModel(topology)
    assert model.allows("lb", "app", "tcp", 8080) and not model.allows("lb", "app", "tcp", 8081)
    assert model.allows("198.51.100.7", "bastion", "icmp", (8, 1))  # icmp/8: any code
    assert not model.allows("198.51.100.7", "bastion", "icmpv6", 128)  # IPv4 address, ICMPv6 packet
    with pytest.raises(ValueError, match="neither a role"):
        model.allows("nosuchrole", "app", "tcp", 1)
    with pytest.raises(ValueError, match="at least one endpoint must be a role"):
        model.allows("10.0.0.1", "10.0.0.2", "tcp", 1)
    assert not model.allows("2001:db8:100::1", "bastion", "icmp", 8)  # ICMPv4 with an IPv6 address


def test_probe_addresses_cover_cidr_edges_and_outside() -> None:
    topology = compiled(DISTRIBUTED)[0]
    addrs = probe_addresses(topology)
    for expected in ("10.20.0.0", "10.20.255.255", "10.19.255.255", "10.21.0.0", "10.99.0.0", "10.99.0.255"):
        assert expected in addrs
    assert "0.0.0.0" in addrs and "::" in addrs  # internet, built in
    versions = {ipaddress.ip_address(a).version for a in addrs}
    assert versions == {4, 6}


# --------------------------------------------------------------------------------------------- hypothesis

# Name pools with names designed to collide when joined with '-' (Azure rule names are built that way).
ROLE_POOL = ["web", "db", "app", "a", "b", "a-to-b", "b-to-web", "web-v6", "db-2", "x"]
NET_POOL = ["corp", "ops", "corp-v6", "lab", "a-to", "to-b", "net-2"]
V4_BASES = ["10.0.0.0", "10.1.0.0", "10.1.128.0", "172.16.5.0", "192.168.1.0", "198.51.100.0", "203.0.113.0", "8.8.8.0"]
V6_BASES = ["fd00::", "fd00:0:1::", "2001:db8::", "2001:db8:100::", "2a00:1450::"]
SPECIAL_PORTS = [0, 1, 21, 22, 23, 79, 80, 81, 442, 443, 444, 1433, 3389, 8080, 65534, 65535]


@st.composite
def _cidr(draw, version: int) -> str:
    base = ipaddress.ip_address(draw(st.sampled_from(V4_BASES if version == 4 else V6_BASES)))
    bits = 32 if version == 4 else 128
    prefix = draw(
        st.one_of(st.sampled_from([0, 8, 16, 24, 32] if version == 4 else [0, 32, 48, 64, 128]), st.integers(0, bits))
    )
    offset = draw(st.integers(0, 255))
    return ipaddress.ip_network((int(base) + offset, prefix), strict=False).with_prefixlen


_port = st.one_of(st.sampled_from(SPECIAL_PORTS), st.integers(0, 65535))


@st.composite
def _port_item(draw) -> str:
    kind = draw(st.sampled_from(["tcp", "udp", "tcp", "udp", "range", "icmp", "all"]))
    if kind in ("tcp", "udp"):
        return f"{kind}/{draw(_port)}"
    if kind == "range":
        lo, hi = sorted((draw(_port), draw(_port)))
        return f"{draw(st.sampled_from(['tcp', 'udp']))}/{lo}-{hi}"
    if kind == "icmp":
        return draw(st.sampled_from(["icmp", "icmp/8", "icmp/3:4", "icmp/3", "icmpv6", "icmpv6/128", "icmpv6/1:0"]))
    return "all"


@st.composite
def spec_dicts(draw) -> dict:
    """A random, valid spec: 1-6 roles, 0-4 networks, services, 1-12 flows, open or strict egress."""
    roles = draw(st.lists(st.sampled_from(ROLE_POOL), min_size=1, max_size=6, unique=True))
    nets = draw(st.lists(st.sampled_from(NET_POOL), max_size=4, unique=True))
    networks = {}
    for name in nets:
        v4 = draw(st.lists(_cidr(4), max_size=2, unique=True))
        v6 = draw(st.lists(_cidr(6), max_size=2, unique=True))
        if not v4 and not v6:
            v4 = [draw(_cidr(4))]
        networks[name] = {"ipv4": v4, "ipv6": v6}
    services = {
        f"svc{i}": {"ports": draw(st.lists(_port_item(), min_size=1, max_size=3))}
        for i in range(draw(st.integers(0, 3)))
    }
    if services and draw(st.booleans()):
        services["combo"] = {"services": sorted(services)[:2], "ports": [draw(_port_item())]}
    endpoints = roles + nets + ["internet"]
    flows = []
    for _ in range(draw(st.integers(1, 12))):
        dst = draw(st.lists(st.sampled_from(endpoints), min_size=1, max_size=3, unique=True))
        src = draw(st.lists(st.sampled_from(endpoints), min_size=1, max_size=3, unique=True))
        if all(d not in roles for d in dst):  # networks on both sides carry no rule: the loader refuses that
            src = [s for s in src if s in roles] or [draw(st.sampled_from(roles))]
        items = draw(
            st.lists(st.one_of(_port_item(), st.sampled_from(sorted(services) or ["tcp/443"])), min_size=1, max_size=4)
        )
        flow = {"from": src, "to": dst, "services": items, "allow_exposure": "generated test topology"}
        if draw(st.integers(0, 5)) == 0:
            flow["phase"] = "setup"
        flows.append(flow)
    return {
        "name": "generated",
        "egress": draw(st.sampled_from(["open", "strict"])),
        "networks": networks,
        "roles": {r: {} for r in roles},
        "services": services,
        "flows": flows,
        "targets": {"aws": {"max_rules_per_group": 1000}},
    }


def _load_generated(spec: dict, phase: str | None):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topology.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return load_topology(path, phase=phase)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=spec_dicts(), phase=st.sampled_from([None, "setup"]))
def test_random_topologies_compile_to_equivalent_states(spec: dict, phase: str | None) -> None:
    topology = _load_generated(spec, phase)
    policy = compile_topology(topology)
    probes = probe_points(topology)
    assert_aws_equivalent(topology, AWS.build(policy), probes)
    azure = AZURE.build(policy)
    assert len({r.name for r in azure.nsg.rules.values()}) == len(azure.nsg.rules)
    assert_azure_equivalent(topology, azure, probes)


@settings(max_examples=examples(25), deadline=None)
@given(spec=spec_dicts())
def test_random_topologies_an_extra_rule_is_noticed(spec: dict) -> None:
    """Sanity: opening one more port into a role from one address is always seen, on both clouds."""
    topology = _load_generated(spec, None)
    policy = compile_topology(topology)
    aws, azure = AWS.build(policy), AZURE.build(policy)
    probes = probe_points(topology)
    model = SpecModel(topology)
    denied = [
        (src, dst, port)
        for src, dst, proto, port in probes
        if proto == "udp" and src not in topology.roles and not model.allows(src, dst, proto, port)
    ]
    assume(denied)
    src, role, port = denied[0]
    host = ipaddress.ip_network(src)
    peer = {"cidr_ipv4": host.with_prefixlen} if host.version == 4 else {"cidr_ipv6": host.with_prefixlen}
    extra = SgRule(role, "ingress", "udp", port, port, **peer)
    assert aws_mismatches(topology, dataclasses.replace(aws, rules={**aws.rules, extra.key: extra}), probes)
    nsg_extra = NsgRule(
        name="extra",
        direction="Inbound",
        access="Allow",
        protocol="Udp",
        destination_ports=(str(port),),
        source_prefixes=(host.with_prefixlen,),
        destination_asgs=(role,),
        priority=100,
    )
    assert azure_mismatches(topology, with_rules(azure, {**azure.nsg.rules, "extra": nsg_extra}), probes)
