"""Stable Azure rule identity (identity.py): a rule is named after what it is, and one flow added or removed
renames, renumbers and rewrites no rule but those that carried it, on the live path and on the Terraform path."""

from __future__ import annotations

import copy
import ipaddress
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cloudports.compile import compile_topology
from cloudports.spec import load_topology
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure.build import build_azure
from cloudports.targets.azure.emit import read_previous_priorities, read_previous_rules
from cloudports.targets.azure.model import AzureState, NsgRule
from cloudports.targets.azure.priorities import assign_priorities, home_slot, records
from tests.semantics import assert_azure_equivalent
from tests.support.runs import examples
from tests.test_semantics import spec_dicts

Unit = tuple[str, str, str, str, str]  # direction, protocol, source, destination, port entry


def _units(rule: NsgRule) -> set[Unit]:
    """What one allow rule allows, end by end (an ASG, or a CIDR) and port entry by port entry."""
    sources = rule.source_asgs or rule.source_prefixes
    destinations = rule.destination_asgs or rule.destination_prefixes
    return {
        (rule.direction, rule.protocol, s, d, p) for s in sources for d in destinations for p in rule.destination_ports
    }


def _allows(state: AzureState) -> dict[str, NsgRule]:
    return {n: r for n, r in state.nsg.rules.items() if r.access == "Allow"}


def _all_units(state: AzureState) -> set[Unit]:
    return {u for r in _allows(state).values() for u in _units(r)}


def _policy(spec: dict):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topology.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return compile_topology(load_topology(path))


def _live_next(before: AzureState, policy) -> AzureState:
    """The next build as `cloudports apply` makes it: from the rules the NSG holds (backend.desired_for)."""
    nsg = before.nsg
    prios = {nsg.name: {(r.direction, r.name): r.priority for r in nsg.rules.values()}}
    recorded = {nsg.name: records(nsg.rules.values())}
    return build_azure(policy, AZURE.settings(policy.topology), prios, recorded, {nsg.name: list(nsg.rules.values())})


def _cidrs_apart(spec: dict) -> bool:
    """No CIDR in two networks ('internet' is 0.0.0.0/0 and ::/0): a rule's prefixes cannot tell such networks
    apart, nor can this test's units."""
    cidrs = [c for net in spec["networks"].values() for c in net["ipv4"] + net["ipv6"]] + ["0.0.0.0/0", "::/0"]
    return len(cidrs) == len(set(cidrs))


def _changed_by_one_flow(spec: dict, index: int, adding: bool) -> tuple[dict, dict, dict]:
    """(before, after, the flow alone): the spec without flow `index` and the spec, in the order of the change."""
    without = copy.deepcopy(spec)
    del without["flows"][index]
    alone = copy.deepcopy(spec)
    alone["flows"] = [spec["flows"][index]]
    alone["flows"][0].pop("phase", None)
    return (without, spec, alone) if adding else (spec, without, alone)


def assert_identity_kept(before: AzureState, after: AzureState, flow_units: set[Unit]) -> None:
    """Every rule whose units all remain keeps its name, priority and units; only rules that carry a changed
    unit (or a unit of the changed flow), before or after, are written, and new rules for what such a rule carried
    besides."""
    old, new = _allows(before), _allows(after)
    remaining = _all_units(after)
    changed = (_all_units(before) ^ remaining) | flow_units
    for name, rule in old.items():
        if _units(rule) <= remaining:
            assert name in new, f"{name} ({sorted(_units(rule))}) is gone though all it allows remains"
            assert new[name].priority == rule.priority, f"{name} moved"
            assert _units(rule) <= _units(new[name]), f"{name} lost what it allowed"
    # A rule whose ports change is another rule (its name says its ports): what a changed rule carried besides
    # the change moves, to a new rule or into a rule of those ports.
    moved = {u for r in old.values() if _units(r) & changed for u in _units(r)}
    for name in old.keys() | new.keys():
        if old.get(name) != new.get(name):
            was = _units(old[name]) if name in old else set()
            now = _units(new[name]) if name in new else set()
            took_moved = was <= now and bool(now - was) and now - was <= moved
            assert (was | now) & changed or took_moved, f"{name} was written but carried nothing that changed"
    assert len({(r.direction, r.priority) for r in new.values()}) == len(new), "two rules share a priority"


def assert_terraform_order_keeps_flows(before: AzureState, after: AzureState) -> None:
    """The emitted Terraform writes the rules marked written_first, then the other rules, then deletes (each step in
    any order): a unit allowed before and after is allowed throughout (by a rule that holds it through the step)."""
    old, new = _allows(before), _allows(after)
    first = after.nsg.written_first

    def held(names: set[str], steady: dict[str, NsgRule]) -> set[Unit]:
        """What the rules of a step hold throughout it (those written, in old and new), and the others."""
        written = {u for n in names & old.keys() & new.keys() for u in _units(old[n]) & _units(new[n])}
        return written | {u for n, r in steady.items() if n not in names for u in _units(r)}

    needed = _all_units(before) & _all_units(after)
    step1 = held(set(first), old)
    step2 = held(set(new) - first, {n: new[n] for n in first} | {n: r for n, r in old.items() if n not in new})
    assert needed <= step1, f"written first, then blocked: {sorted(needed - step1)}"
    assert needed <= step2, f"blocked while the other rules are written: {sorted(needed - step2)}"


def _flow_units(alone: dict) -> set[Unit]:
    policy = _policy(alone)
    return _all_units(AZURE.build(policy)) if policy.rules else set()


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=spec_dicts(), pick=st.integers(0, 11), adding=st.booleans())
def test_one_flow_added_or_removed_keeps_every_other_rule(spec: dict, pick: int, adding: bool) -> None:
    """The live path: built from the rules the NSG holds, as `cloudports apply` and `drift` build."""
    assume(_cidrs_apart(spec))
    first, second, alone = _changed_by_one_flow(spec, pick % len(spec["flows"]), adding)
    before = AZURE.build(_policy(first))
    policy = _policy(second)
    after = _live_next(before, policy)
    assert_identity_kept(before, after, _flow_units(alone))
    assert_azure_equivalent(policy.topology, after)
    assert _live_next(after, policy).nsg.rules == after.nsg.rules  # built again from itself: nothing to write


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=spec_dicts(), pick=st.integers(0, 11), adding=st.booleans())
def test_one_flow_added_or_removed_keeps_every_other_rule_across_emits(spec: dict, pick: int, adding: bool) -> None:
    """The Terraform path: the second emit reads the record the first one left beside the HCL."""
    assume(_cidrs_apart(spec))
    first, second, alone = _changed_by_one_flow(spec, pick % len(spec["flows"]), adding)
    with tempfile.TemporaryDirectory() as out:
        AZURE.emit(_policy(first), Path(out), None)
        before = AZURE.build(_policy(first), read_previous_priorities(Path(out)), read_previous_rules(Path(out)))
        assert before.nsg.rules == AZURE.build(_policy(first)).nsg.rules  # the record alone changes nothing
        policy = _policy(second)
        emitted = AZURE.emit_state(policy, Path(out))  # with the rules written first marked
        AZURE.emit(policy, Path(out), None, emitted)
        after = AZURE.build(policy, read_previous_priorities(Path(out)), read_previous_rules(Path(out)))
    assert_identity_kept(before, after, _flow_units(alone))
    assert_terraform_order_keeps_flows(before, emitted)
    assert_azure_equivalent(policy.topology, after)


def test_rules_are_named_after_what_they_are(tmp_path: Path) -> None:
    """Not after a pair: a rule that lets web and app reach sql is not called after one of them."""
    spec = {
        "name": "names",
        "roles": {"web": {}, "app": {}, "sql": {}},
        "networks": {"corp": {"ipv4": ["10.1.0.0/16"], "ipv6": ["2001:db8:1::/48"]}},
        "flows": [
            {"from": ["web", "app"], "to": "sql", "services": ["tcp/1433"]},
            {"from": "corp", "to": "web", "services": ["tcp/443", "tcp/80"]},
            {"from": "web", "to": "app", "services": ["tcp/1434"]},
        ],
    }
    state = AZURE.build(_policy(spec))
    rules = _allows(state)
    assert sorted(rules) == ["in-tcp-1433", "in-tcp-1434", "in-tcp-80_443", "in-tcp-80_443-v6"]
    assert rules["in-tcp-1433"].source_asgs == ("app", "web")
    assert rules["in-tcp-80_443-v6"].source_prefixes == ("2001:db8:1::/48",)


def test_a_widened_network_and_a_new_port_update_rules_in_place() -> None:
    spec = {
        "name": "widen",
        "roles": {"web": {}, "app": {}, "sql": {}},
        "networks": {"corp": {"ipv4": ["10.1.0.0/24"]}, "ops": {"ipv4": ["10.9.0.0/24"]}},
        "flows": [
            {"from": ["corp", "ops"], "to": "web", "services": ["tcp/443"]},
            {"from": "web", "to": "app", "services": ["tcp/8080"]},
            {"from": ["web", "app"], "to": "sql", "services": ["tcp/5432"]},
        ],
    }
    before = AZURE.build(_policy(spec))
    changed = copy.deepcopy(spec)
    changed["networks"]["corp"]["ipv4"] = ["10.1.0.0/23"]
    changed["flows"].append({"from": "app", "to": "sql", "services": ["tcp/5440"]})
    after = _live_next(before, _policy(changed))
    assert set(_allows(before)) <= set(_allows(after))  # nothing deleted: every rule kept its name
    assert _allows(after)["in-tcp-443"].source_prefixes == ("10.1.0.0/23", "10.9.0.0/24")
    assert _allows(after)["in-tcp-5432"] == _allows(before)["in-tcp-5432"]  # app -> sql 5440 is a rule of its own
    assert {n: r.priority for n, r in _allows(before).items()} == {
        n: r.priority for n, r in _allows(after).items() if n in _allows(before)
    }
    assert ipaddress.ip_network("10.1.1.0/24").subnet_of(ipaddress.ip_network("10.1.0.0/23"))


def test_a_new_rule_never_takes_the_slot_of_a_rule_leaving_in_the_same_emit() -> None:
    """Terraform creates and deletes in an order of its own: a new rule on the slot of a rule it deletes in the same
    apply would conflict (SecurityRuleConflict). cloudports apply orders its own writes, so the live path keeps
    home slots."""
    home = home_slot("in-tcp-1434")
    record = {("Inbound", "in-tcp-1433"): home}  # the rule that leaves holds the new one's home slot
    emitted = assign_priorities([("Inbound", "in-tcp-1434")], record)
    assert emitted[("Inbound", "in-tcp-1434")] not in (home, *record.values())
    live = assign_priorities([("Inbound", "in-tcp-1434")], record, {})
    assert live == {("Inbound", "in-tcp-1434"): home}


@pytest.mark.parametrize(
    ("flows", "changed"),
    [
        (
            [{"from": ["a", "b"], "to": ["c", "d"], "services": ["tcp/443"]}],
            [
                {"from": ["a", "b"], "to": "c", "services": ["tcp/443"]},
                {"from": "b", "to": "d", "services": ["tcp/443"]},
            ],
        ),  # b -> d moves to a rule of its own
        (
            [{"from": ["a", "b"], "to": "c", "services": ["tcp/443", "tcp/8443"]}],
            [
                {"from": "a", "to": "c", "services": ["tcp/443", "tcp/8443"]},
                {"from": "b", "to": "c", "services": ["tcp/443"]},
            ],
        ),  # b -> c on 443 moves to in-tcp-443
    ],
    ids=["product-broken", "port-dropped"],
)
def test_the_terraform_order_keeps_a_moving_pair(flows: list[dict], changed: list[dict]) -> None:
    spec = {"name": "moving", "roles": {r: {} for r in "abcd"}, "flows": flows, "egress": "strict"}
    with tempfile.TemporaryDirectory() as out:
        AZURE.emit(_policy(spec), Path(out), None)
        before = AZURE.build(_policy(spec))
        after = AZURE.emit_state(_policy(spec | {"flows": changed}), Path(out))
    assert after.nsg.written_first  # a pair moved
    assert_terraform_order_keeps_flows(before, after)
