"""Azure packing: pairs that share their ports share an NSG rule, within Azure's per-rule limits, allowing
exactly what the spec declares; rules keep their names (and priorities) while pairs join them (identity.py; the
property test of one flow added or removed is in test_azure_identity.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cloudports.compile import compile_topology
from cloudports.errors import CloudportsError
from cloudports.spec import load_topology
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure.model import AzureState
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


def test_the_lower_bound_is_sound_and_counts_pairs_that_cannot_share(tmp_path: Path) -> None:
    flows = [
        {"from": "a", "to": "db", "services": ["tcp/1"]},
        {"from": "b", "to": "db", "services": ["tcp/1", "tcp/2"]},  # shares port 1 with a: not apart
        {"from": "c", "to": "db", "services": ["tcp/3"]},  # apart from both
        {"from": "lab", "to": "db", "services": ["tcp/1"]},  # a network pair per family: apart from ASG pairs
    ]
    _topology, state = _build(_spec(tmp_path, ["a", "b", "c", "db"], flows))
    inbound = _allow_rules(state, "Inbound")
    assert len(inbound) == 5  # a, b and c apart; lab over IPv4 and over IPv6
    # per direction: {a or b, c} + lab v4 + lab v6 inbound, {a or b, c} outbound (strict egress) + 2 denies
    assert state.least_rules == 4 + 2 + 2 <= len(state.nsg.rules)


def test_the_example_packs_to_a_third_and_reports_its_lower_bound() -> None:
    topology, state = _build(DISTRIBUTED)
    assert len(state.nsg.rules) == 17 and state.least_rules == 15  # 51 rules before packing
    assert AZURE.summary(state) == "5 ASGs, 17 NSG rules (no packing needs fewer than 15)"
    assert_azure_equivalent(topology, state)


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
