"""Azure packing: pairs that share their ports share an NSG rule, within Azure's per-rule limits, allowing
exactly what the spec declares; rules keep their names (and priorities) while pairs join them (identity.py; the
property test of one flow added or removed is in test_azure_identity.py)."""

from __future__ import annotations

import ipaddress
from itertools import combinations, product
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cloudports.compile import compile_topology
from cloudports.errors import CloudportsError
from cloudports.spec import load_topology
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure.bound import lower_bound
from cloudports.targets.azure.model import AzureState
from cloudports.targets.azure.pack import Pair
from cloudports.targets.azure.priorities import ONLY_NSG
from tests.semantics import assert_azure_equivalent, azure_allows

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTED = REPO / "examples/dynamics365-distributed/topology.yaml"


def _spec(tmp_path: Path, roles: list[str], flows: list[dict], **more: object) -> Path:
    data = {
        "name": "packing",
        "egress": "strict",
        "roles": {r: {} for r in roles},
        "networks": {
            "corp": {"ipv4": ["10.1.0.0/16"]},
            "lab": {"ipv4": ["10.2.0.0/16"], "ipv6": ["2001:db8:2::/48"]},
        },
        "flows": flows,
        **more,
    }
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _build(path: Path) -> tuple[object, AzureState]:
    topology = load_topology(path)
    return topology, AZURE.build(compile_topology(topology))


def _allow_rules(state: AzureState, direction: str) -> dict:
    return {n: r for n, r in state.nsg.rules.items() if r.access == "Allow" and r.direction == direction}


def test_clients_of_one_server_share_rules_of_at_most_ten_asgs(tmp_path: Path) -> None:
    clients = [f"c{n:02}" for n in range(12)]
    flows = [{"from": c, "to": "db", "services": ["tcp/5432"]} for c in clients]
    topology, state = _build(_spec(tmp_path, [*clients, "db", "other"], flows))
    inbound, outbound = _allow_rules(state, "Inbound"), _allow_rules(state, "Outbound")
    assert sorted(len(r.source_asgs) for r in inbound.values()) == [2, 10]
    assert sorted(len(r.source_asgs) for r in outbound.values()) == [2, 10]  # role sides gathered too
    assert {"in-tcp-5432", "in-tcp-5432-slot2"} == set(inbound)  # named after what they are, not a pair
    assert_azure_equivalent(topology, state)
    assert azure_allows(state, "c11", "db", "tcp", 5432)
    assert not azure_allows(state, "other", "db", "tcp", 5432)
    assert not azure_allows(state, "c01", "db", "tcp", 5433)
    assert len(state.nsg.rules) == 4 + 2 and state.least_rules == 2 + 2  # + the two structural denies


def test_networks_share_a_rule_per_address_family(tmp_path: Path) -> None:
    flows = [{"from": n, "to": "web", "services": ["tcp/443"]} for n in ("corp", "lab")]
    topology, state = _build(_spec(tmp_path, ["web"], flows))
    prefixes = sorted(r.source_prefixes for r in _allow_rules(state, "Inbound").values())
    assert prefixes == [("10.1.0.0/16", "10.2.0.0/16"), ("2001:db8:2::/48",)]  # Azure refuses mixed families
    assert_azure_equivalent(topology, state)


def test_pairs_with_different_ports_or_parameters_stay_apart(tmp_path: Path) -> None:
    flows = [
        {"from": "a", "to": "db", "services": ["tcp/5432"]},
        {"from": "b", "to": "db", "services": ["tcp/5432", "tcp/22"]},
        {"from": "c", "to": "db", "services": ["pg"]},  # 5432 as well, but from a parameter
    ]
    more = {
        "parameters": {"pg_port": {"default": 5432, "description": "PostgreSQL port"}},
        "services": {"pg": {"ports": ["tcp/${pg_port}"]}},
    }
    topology, state = _build(_spec(tmp_path, ["a", "b", "c", "db"], flows, **more))
    inbound = _allow_rules(state, "Inbound")
    assert sorted(r.source_asgs for r in inbound.values()) == [("a",), ("b",), ("c",)]
    assert_azure_equivalent(topology, state)
    # a port from a parameter is written as the parameter: c's 5432 cannot share a's, so the bound counts it apart
    assert state.least_rules == len(state.nsg.rules) == 3 + 3 + 2


def test_a_joining_pair_keeps_the_rule_and_its_priority(tmp_path: Path) -> None:
    roles = ["b", "c", "db"]
    first = _build(_spec(tmp_path, roles, [{"from": "b", "to": "db", "services": ["tcp/5432"]}]))[1]
    flows = [{"from": r, "to": "db", "services": ["tcp/5432"]} for r in ("b", "c")]
    second = AZURE.build(
        compile_topology(load_topology(_spec(tmp_path, roles, flows))),
        {ONLY_NSG: {(r.direction, r.name): r.priority for r in first.nsg.rules.values()}},
        {ONLY_NSG: list(first.nsg.rules.values())},
    )
    assert second.nsg.rules["in-tcp-5432"].source_asgs == ("b", "c")
    assert second.nsg.rules["in-tcp-5432"].priority == first.nsg.rules["in-tcp-5432"].priority


def test_the_lower_bound_counts_what_cannot_share_a_rule(tmp_path: Path) -> None:
    flows = [
        {"from": "a", "to": "db", "services": ["tcp/1"]},
        {"from": "b", "to": "db", "services": ["tcp/1", "tcp/2"]},  # port 2 from b cannot go with a's port 1
        {"from": "c", "to": "db", "services": ["tcp/3"]},  # apart from both
        {"from": "lab", "to": "db", "services": ["tcp/1"]},  # a network per family: apart from ASG pairs
    ]
    _topology, state = _build(_spec(tmp_path, ["a", "b", "c", "db"], flows))
    inbound = _allow_rules(state, "Inbound")
    assert len(inbound) == 5  # a, b and c apart; lab over IPv4 and over IPv6
    # a rule holding a->db:1 and b->db:2 would allow a->db:2: a, b and c need three rules each way (strict egress),
    # lab two inbound, and the two denies: the packing is optimal
    assert state.least_rules == 3 + 2 + 3 + 2 == len(state.nsg.rules)


def test_the_example_packs_to_a_third_and_is_optimal() -> None:
    topology, state = _build(DISTRIBUTED)
    assert len(state.nsg.rules) == 17 and state.least_rules == 17  # 51 rules before packing
    assert AZURE.summary(state) == "5 ASGs, 17 NSG rules (no packing needs fewer than 17)"
    assert_azure_equivalent(topology, state)


@pytest.mark.parametrize("example", sorted(p.parent.name for p in REPO.glob("examples/*/topology.yaml")))
def test_every_example_packs_within_15_percent_of_the_bound(example: str) -> None:
    _topology, state = _build(REPO / "examples" / example / "topology.yaml")
    assert state.least_rules <= len(state.nsg.rules) <= 1.15 * state.least_rules


def test_too_many_rules_names_the_packed_count_and_the_bound(tmp_path: Path, monkeypatch) -> None:
    from cloudports.targets.azure import build

    roles = [f"r{n:02}" for n in range(40)]
    # 39 pairs, no two with the same ports: nothing packs
    flows = [{"from": roles[i], "to": roles[i + 1], "services": [f"tcp/{1000 + i}"]} for i in range(39)]
    path = _spec(tmp_path, roles, flows)
    assert len(_build(path)[1].nsg.rules) == 2 * 39 + 2
    monkeypatch.setattr(build, "MAX_RULES", 50)  # rather than a spec of 1,000 rules
    # no two pairs share a port, so none can share a rule: the bound is exact
    with pytest.raises(CloudportsError, match=r"needs 80 rules \(packed; no packing needs fewer than 80\)"):
        _build(path)


# The bound against the true minimum, on instances small enough to search: every set of rules that allows exactly
# what is declared, address by address (so a rule may lean on one network's ports for another's addresses).
Triple = tuple[str, str, int]  # source, destination, port


def _fewest_rules(declared: set[Triple]) -> int:
    """The fewest products sources x destinations x ports, each inside `declared`, that together cover it."""
    sources = sorted({s for s, _d, _p in declared})
    destinations = sorted({d for _s, d, _p in declared})
    ports = sorted({p for _s, _d, p in declared})
    products = [
        frozenset(product(ss, ds, ps))
        for ss in _subsets(sources)
        for ds in _subsets(destinations)
        for ps in _subsets(ports)
        if set(product(ss, ds, ps)) <= declared
    ]
    largest = [r for r in products if not any(r < other for other in products)]

    def cover(left: frozenset[Triple], budget: int) -> bool:
        if not left:
            return True
        if budget == 0:
            return False
        unit = min(left)
        return any(cover(left - r, budget - 1) for r in largest if unit in r)

    return next(n for n in range(len(declared) + 1) if cover(frozenset(declared), n))


def _subsets(items: list) -> list[tuple]:
    return [c for n in range(1, len(items) + 1) for c in combinations(items, n)]


_PORTS = st.sets(st.sampled_from([1, 2, 3]), max_size=3)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), _PORTS, min_size=1, max_size=6))
def test_the_bound_never_exceeds_the_fewest_rules_between_asgs(declared: dict[tuple[str, str], set[int]]) -> None:
    pairs = [
        Pair("Inbound", "Tcp", None, tuple(map(str, sorted(ps))), ("asg", s), ("asg", d), (), ())
        for (s, d), ps in declared.items()
        if ps
    ]
    assume(pairs)
    triples = {(s, d, p) for (s, d), ps in declared.items() for p in ps}
    assert lower_bound(pairs) <= _fewest_rules(triples)


# 10.0.0.0/30 and the CIDRs inside it: networks that nest or coincide
_CIDRS = ["10.0.0.0/30", "10.0.0.0/31", "10.0.0.2/31", "10.0.0.0/32", "10.0.0.1/32", "10.0.0.3/32"]


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.sampled_from("nmo"), st.sets(st.sampled_from(_CIDRS), min_size=1, max_size=2), min_size=1),
    st.dictionaries(st.tuples(st.sampled_from("nmo"), st.sampled_from("xy")), _PORTS, min_size=1, max_size=6),
)
def test_the_bound_never_exceeds_the_fewest_rules_from_overlapping_networks(
    networks: dict[str, set[str]], declared: dict[tuple[str, str], set[int]]
) -> None:
    declared = {(n, role): ps for (n, role), ps in declared.items() if n in networks and ps}
    assume(declared)
    pairs = [
        Pair(
            "Inbound", "Tcp", 4, tuple(map(str, sorted(ps))), ("net", n), ("asg", role), tuple(sorted(networks[n])), ()
        )
        for (n, role), ps in declared.items()
    ]
    addresses = {n: {str(a) for c in cidrs for a in ipaddress.ip_network(c)} for n, cidrs in networks.items()}
    triples = {(a, role, p) for (n, role), ps in declared.items() for a in addresses[n] for p in ps}
    assert lower_bound(pairs) <= _fewest_rules(triples)


def test_a_service_tag_is_the_only_prefix_of_its_rule_side(tmp_path: Path) -> None:
    """Azure refuses a service tag inside a prefix list (SecurityRuleParameterContainsUnsupportedValue): two
    tagged networks with the same ports to the same roles take a rule each, and a CIDR network never joins them."""
    flows = [{"from": net, "to": ["app", "db"], "services": ["udp/8080-8090"]} for net in ("vnet", "inet", "corp")]
    targets = {"azure": {"service_tags": {"vnet": "VirtualNetwork", "inet": "Internet"}}}
    path = _spec(tmp_path, ["app", "db"], flows, targets=targets)
    data = yaml.safe_load(path.read_text())
    data["networks"] |= {"vnet": {"ipv4": ["10.0.0.0/8"]}, "inet": {"ipv4": ["0.0.0.0/0"]}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    _topology, state = _build(path)
    sources = sorted(r.source_prefixes for r in _allow_rules(state, "Inbound").values())
    assert sources == [("10.1.0.0/16",), ("Internet",), ("VirtualNetwork",)]
    for rule in _allow_rules(state, "Inbound").values():
        assert sorted(rule.destination_asgs) == ["app", "db"]
