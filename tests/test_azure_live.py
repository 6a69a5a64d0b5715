"""plan / apply / drift / destroy on Azure through azure-mgmt-network, against cloudports.emulators.arm (local ARM).

cloudports finds the server through its documented environment only (CLOUDPORTS_ARM_ENDPOINT, a static token
in CLOUDPORTS_AZURE_TOKEN, AZURE_SUBSCRIPTION_ID); results are read back with the plain SDK
(tests/support/azure_live.py), not with cloudports' own reader, and judged with Azure's evaluation order
(tests/semantics.py: lowest priority first, default rules included).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from azure.mgmt.network import models

from cloudports.cli import main
from cloudports.emulators.arm import ArmServer
from cloudports.errors import CloudportsError
from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets.azure import TARGET as AZURE
from cloudports.targets.azure import apply as azure_apply
from cloudports.targets.azure import arm as armapi
from cloudports.targets.azure.model import ALLOW_PRIORITIES, NsgRule
from cloudports.targets.azure.normalise import normalise_ports, normalise_rule
from cloudports.targets.azure.priorities import assign_priorities, described, home_slot, recorded_priority
from cloudports.targets.azure.writes import order_rule_writes, rule_properties
from tests.semantics import SpecModel, assert_azure_equivalent, azure_allows, probe_points, with_rules
from tests.support.azure_live import (
    DISTRIBUTED,
    EXAMPLES,
    SUB,
    THREE_TIER,
    add_subnets,
    azure_target,
    live_state,
    methods,
    point_cloudports_at,
    resource_writes,
    rules_right_now,
    sdk_client,
    sdk_rule,
    subnet_nsg,
    write_spec,
    writes,
)

RG = "rg-d365dist"
NSG = "d365dist-nsg"
DC_TCP = "in-tcp-53_88_135_389_445_464_3268_49152-65535"  # what domain members may reach on the dc over TCP


@pytest.fixture(scope="module")
def _lagging_module() -> Iterator[ArmServer]:
    with ArmServer(lro_complete_after=2) as srv:
        yield srv


@pytest.fixture
def lagging(_lagging_module: ArmServer, monkeypatch: pytest.MonkeyPatch, capsys) -> ArmServer:
    """A server whose operations also finish on their own (as Azure's do) 2 s after they start, even when
    nobody polls them (a killed run, a lost answer); the distributed example applied."""
    _lagging_module.reset()
    point_cloudports_at(_lagging_module, monkeypatch)
    add_subnets(_lagging_module, DISTRIBUTED)
    apply(capsys, DISTRIBUTED)
    _lagging_module.clear_request_log()
    return _lagging_module


@pytest.fixture
def sdk(arm: ArmServer) -> Any:
    return sdk_client(arm)


def cli(capsys: pytest.CaptureFixture, *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def apply(capsys, spec: Path, *extra: str) -> None:
    code, out, err = cli(capsys, "apply", spec, "-t", "azure", "--auto-approve", *extra)
    assert code == 0, out + err


def drift(capsys, spec: Path, *extra: str) -> tuple[int, dict]:
    code, out, err = cli(capsys, "drift", spec, "-t", "azure", "-f", "json", *extra)
    assert code in (0, 2), out + err
    return code, json.loads(out)


def categories(report: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for change in report["changes"]:
        found.setdefault(f"{change['kind']}:{change['category']}", set()).add(change["name"])
    return found


def desired(spec: Path, phase: str | None = None):
    return desired_state(compile_spec(spec, phase=phase), "azure")


@pytest.fixture
def distributed(arm: ArmServer, capsys) -> ArmServer:
    """The distributed example applied; request log cleared."""
    add_subnets(arm, DISTRIBUTED)
    apply(capsys, DISTRIBUTED)
    arm.clear_request_log()
    return arm


# ------------------------------------------------------------------------------------ apply the examples


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_apply_example_allows_exactly_the_spec(arm: ArmServer, sdk, capsys, spec: Path) -> None:
    add_subnets(arm, spec)
    target = azure_target(spec)
    code, out, _ = cli(capsys, "plan", spec, "-t", "azure", "--detailed-exitcode")
    assert code == 2 and "create" in out

    apply(capsys, spec)

    live = live_state(sdk, spec)
    want = desired(spec)
    assert live.nsg.rules == want.nsg.rules  # names, priorities, content, descriptions
    assert set(live.asgs) == set(want.asgs)
    assert_azure_equivalent(compile_spec(spec).topology, live)
    for s in target["subnets"]:
        assert subnet_nsg(sdk, target["resource_group"], s["virtual_network"], s["name"]) == target["nsg_name"]

    arm.clear_request_log()
    assert cli(capsys, "plan", spec, "-t", "azure", "--detailed-exitcode")[0] == 0
    code, report = drift(capsys, spec)
    assert code == 0 and report["in_sync"] is True
    assert set(methods(arm)) == {"GET"}


def test_distributed_flows_allowed_and_forbidden(distributed: ArmServer, sdk) -> None:
    live = live_state(sdk, DISTRIBUTED)
    allowed = [
        ("10.20.1.5", "web", "tcp", 5555),  # users -> website port
        ("10.20.1.5", "web", "tcp", 443),
        ("async", "sandbox", "tcp", 808),
        ("web", "sql", "tcp", 1433),
        ("sql", "dc", "udp", 53),
        ("10.99.0.9", "dc", "tcp", 3389),
    ]
    forbidden = [
        ("10.20.1.5", "sql", "tcp", 1433),  # users never reach SQL
        ("10.20.1.5", "web", "tcp", 808),  # 808 only between servers
        ("sql", "sandbox", "tcp", 808),
        ("web", "sql", "udp", 1434),  # setup phase only
        ("web", "203.0.113.9", "tcp", 443),  # strict egress
        ("dc", "web", "tcp", 445),
        ("10.1.2.3", "web", "tcp", 3389),  # admin only from the admin network
    ]
    for probe in allowed:
        assert azure_allows(live, *probe), probe
    for probe in forbidden:
        assert not azure_allows(live, *probe), probe


def test_second_apply_makes_no_write(distributed: ArmServer, capsys) -> None:
    code, out, _ = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 0 and "no changes" in out
    assert writes(distributed) == []


def test_request_counts_apply_and_drift(arm: ArmServer, capsys) -> None:
    add_subnets(arm, DISTRIBUTED)
    apply(capsys, DISTRIBUTED)
    # 5 ASG PUTs + 1 NSG PUT (51 rules inline) + 1 subnet PUT; each LRO polled twice and read once.
    assert resource_writes(arm) == {
        "PUT applicationSecurityGroups": 5,
        "PUT networkSecurityGroups": 1,
        "PUT subnets": 1,
    }
    assert len(arm.request_log) <= 40, arm.request_log
    arm.clear_request_log()
    assert drift(capsys, DISTRIBUTED)[0] == 0
    log = arm.request_log
    assert {m for m, _p, _s in log} == {"GET"}
    # ASG list, NSG list (its 51 rules inline: no securityRules paging), the subnet
    assert len(log) == 3, log


# ----------------------------------------------------------------------------------- out-of-band changes


def _asg_id(sdk, role: str) -> str:
    return sdk.application_security_groups.get(RG, f"d365-distributed-{role}-asg").id


def _rule(sdk, name: str):
    return sdk.security_rules.get(RG, NSG, name)


def _put(sdk, name: str, rule) -> None:
    sdk.security_rules.begin_create_or_update(RG, NSG, name, rule).result()


def _free_priority(sdk, direction: str) -> int:
    taken = {
        r.priority for r in sdk.security_rules.list(RG, NSG) if getattr(r.direction, "value", r.direction) == direction
    }
    return max(p for p in ALLOW_PRIORITIES if p not in taken)


def oob_rule_added(sdk) -> tuple[str, str]:
    rule = sdk_rule(
        priority=_free_priority(sdk, "Inbound"),
        direction="Inbound",
        protocol="Tcp",
        destination_port_range="22",
        source_address_prefix="Internet",
        destination_address_prefix="*",
    )
    _put(sdk, "allow-ssh-from-anywhere", rule)
    return "rule:extra", "allow-ssh-from-anywhere"


def oob_rule_removed(sdk) -> tuple[str, str]:
    sdk.security_rules.begin_delete(RG, NSG, "in-tcp-80_443_1433").result()
    return "rule:missing", "in-tcp-80_443_1433"


def oob_priority_changed(sdk) -> tuple[str, str]:
    rule = _rule(sdk, "in-tcp-80_443_1433")
    rule.priority = _free_priority(sdk, "Inbound")
    _put(sdk, "in-tcp-80_443_1433", rule)
    return "rule:changed", "in-tcp-80_443_1433"


def oob_port_list_changed(sdk) -> tuple[str, str]:
    rule = _rule(sdk, "in-tcp-80_443_1433")
    assert len(rule.destination_port_ranges) == 3
    rule.destination_port_ranges = ["80", "443", "1433", "3306"]
    _put(sdk, "in-tcp-80_443_1433", rule)
    return "rule:changed", "in-tcp-80_443_1433"


def oob_deny_moved_up(sdk) -> tuple[str, str]:
    rule = _rule(sdk, "deny-vnet-inbound")
    rule.priority = 100 if 100 not in {r.priority for r in sdk.security_rules.list(RG, NSG)} else 101
    _put(sdk, "deny-vnet-inbound", rule)
    return "rule:changed", "deny-vnet-inbound"


def oob_asg_deleted(sdk) -> tuple[str, str]:
    # Azure refuses to delete an ASG that rules refer to: remove those rules first, as someone would have to.
    sandbox = _asg_id(sdk, "sandbox").lower()
    for r in list(sdk.security_rules.list(RG, NSG)):
        refs = [*(r.source_application_security_groups or []), *(r.destination_application_security_groups or [])]
        if any(a.id.lower() == sandbox for a in refs):
            sdk.security_rules.begin_delete(RG, NSG, r.name).result()
    sdk.application_security_groups.begin_delete(RG, "d365-distributed-sandbox-asg").result()
    return "asg:missing", "d365-distributed-sandbox-asg"


def oob_priorities_swapped(sdk) -> tuple[str, str]:
    a, b = _rule(sdk, "in-tcp-80_443_1433"), _rule(sdk, DC_TCP)
    pa, pb = a.priority, b.priority
    a.priority = _free_priority(sdk, "Inbound")  # as any client must: step aside first
    _put(sdk, a.name, a)
    b.priority, a.priority = pa, pb
    _put(sdk, b.name, b)
    _put(sdk, a.name, a)
    return "rule:changed", "in-tcp-80_443_1433"


def oob_nsg_deleted(sdk) -> tuple[str, str]:
    oob_subnet_detached(sdk)  # Azure refuses to delete an NSG still associated with a subnet
    sdk.network_security_groups.begin_delete(RG, NSG).result()
    return "nsg:missing", NSG


def oob_extra_asg(sdk) -> tuple[str, str]:
    tags = {"cloudports:topology": "d365-distributed", "cloudports:role": "legacy"}
    body = {"location": "eastus", "tags": tags}
    sdk.application_security_groups.begin_create_or_update(RG, "d365-distributed-legacy-asg", body).result()
    return "asg:extra", "d365-distributed-legacy-asg"


def oob_subnet_detached(sdk) -> tuple[str, str]:
    subnet = sdk.subnets.get(RG, "vnet-d365dist", "snet-servers")
    subnet.network_security_group = None
    sdk.subnets.begin_create_or_update(RG, "vnet-d365dist", "snet-servers", subnet).result()
    return "subnet association:missing", "vnet-d365dist/snet-servers"


@pytest.mark.parametrize(
    "change",
    [
        oob_rule_added,
        oob_rule_removed,
        oob_priority_changed,
        oob_port_list_changed,
        oob_deny_moved_up,
        oob_priorities_swapped,
        oob_asg_deleted,
        oob_subnet_detached,
        oob_nsg_deleted,
        oob_extra_asg,
    ],
    ids=lambda f: f.__name__[4:],
)
def test_out_of_band_change_is_drift_and_apply_repairs_it(distributed: ArmServer, sdk, capsys, change) -> None:
    before = live_state(sdk, DISTRIBUTED)
    category, name = change(sdk)
    distributed.clear_request_log()

    code, report = drift(capsys, DISTRIBUTED)
    assert code == 2
    assert name in categories(report).get(category, set()), report["changes"]
    assert set(methods(distributed)) == {"GET"}

    distributed.clear_request_log()
    apply(capsys, DISTRIBUTED)
    assert [code for *_x, code in distributed.request_log if code >= 400] == []  # no conflict, ever
    assert drift(capsys, DISTRIBUTED)[0] == 0
    after = live_state(sdk, DISTRIBUTED)
    assert after.nsg.rules == before.nsg.rules  # same names, priorities and content as before the change
    assert set(after.asgs) == set(before.asgs)
    assert subnet_nsg(sdk, RG, "vnet-d365dist", "snet-servers") == NSG


def test_changed_rule_reports_what_changed(distributed: ArmServer, sdk, capsys) -> None:
    old = _rule(sdk, "in-tcp-80_443_1433").priority
    oob_priority_changed(sdk)
    oob_port_list_changed(sdk)
    moved = _rule(sdk, "in-tcp-80_443_1433").priority
    _, report = drift(capsys, DISTRIBUTED)
    (change,) = [c for c in report["changes"] if c["name"] == "in-tcp-80_443_1433"]
    assert change["category"] == "changed"
    assert f"priority {moved} -> {old}" in change["reason"]
    assert "destination ports 80,443,1433,3306 -> 80,443,1433" in change["reason"]
    # the table shows the same
    code, out, _ = cli(capsys, "drift", DISTRIBUTED, "-t", "azure")
    assert code == 2 and "changed" in out and "in-tcp-80_443_1433" in out


def test_foreign_rule_on_a_wanted_priority_is_removed_before_the_new_rule_is_written(
    distributed: ArmServer, sdk, capsys, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, DISTRIBUTED, extra_flows=[{"from": "corp", "to": "sql", "services": ["mssql"]}])
    new = desired(spec).nsg.rules["in-tcp-1433"]
    squatter = sdk_rule(
        priority=new.priority,
        direction="Inbound",
        protocol="Udp",
        destination_port_range="9999",
        source_address_prefix="*",
        destination_address_prefix="*",
    )
    _put(sdk, "squatter", squatter)
    distributed.clear_request_log()
    apply(capsys, spec)
    assert [code for *_x, code in distributed.request_log if code >= 400] == []
    assert _rule(sdk, "in-tcp-1433").priority == new.priority
    assert "squatter" not in {r.name for r in sdk.security_rules.list(RG, NSG)}


def test_many_rule_writes_go_as_one_nsg_put(distributed: ArmServer, sdk, capsys, monkeypatch) -> None:
    monkeypatch.setattr(azure_apply, "BULK_THRESHOLD", 8)
    before = live_state(sdk, DISTRIBUTED)
    names = sorted(before.nsg.rules)[:10]
    for name in names:
        sdk.security_rules.begin_delete(RG, NSG, name).result()
    oob_rule_added(sdk)
    distributed.clear_request_log()
    apply(capsys, DISTRIBUTED)
    assert resource_writes(distributed) == {"PUT networkSecurityGroups": 1}
    assert live_state(sdk, DISTRIBUTED).nsg.rules == before.nsg.rules
    assert live_state(sdk, DISTRIBUTED).tags == before.tags


class _Meddler:
    """Wraps the client's network_security_groups: right after cloudports GETs the NSG, someone adds a rule."""

    def __init__(self, inner: Any, sdk: Any) -> None:
        self.inner, self.sdk = inner, sdk

    def get(self, *args: Any, **kwargs: Any) -> Any:
        nsg = self.inner.get(*args, **kwargs)
        oob_rule_added(self.sdk)
        return nsg

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_whole_nsg_put_never_overwrites_a_rule_written_meanwhile(distributed: ArmServer, sdk, monkeypatch) -> None:
    monkeypatch.setattr(azure_apply, "BULK_THRESHOLD", 8)
    for name in sorted(live_state(sdk, DISTRIBUTED).nsg.rules)[:10]:
        sdk.security_rules.begin_delete(RG, NSG, name).result()
    backend = AZURE.open_backend(compile_spec(DISTRIBUTED), {}, False)
    planned = backend.plan()
    monkeypatch.setattr(
        backend.client, "network_security_groups", _Meddler(backend.client.network_security_groups, sdk)
    )
    with pytest.raises(CloudportsError, match="PreconditionFailed"):
        backend.apply(planned)
    assert "allow-ssh-from-anywhere" in {r.name for r in sdk.security_rules.list(RG, NSG)}


def test_creating_the_nsg_never_overwrites_one_created_meanwhile(arm: ArmServer, sdk, capsys) -> None:
    from cloudports.targets.azure.apply import Applier
    from cloudports.targets.azure.diff import diff

    add_subnets(arm, DISTRIBUTED)
    backend = AZURE.open_backend(compile_spec(DISTRIBUTED), {}, False)
    live = backend.read()
    planned = diff(backend.desired_for(live), live, backend.arm)
    [created] = planned.nsgs
    assert created.live is None
    sdk.network_security_groups.begin_create_or_update(RG, NSG, {"location": "eastus"}).result()
    with pytest.raises(CloudportsError, match="PreconditionFailed"):
        Applier(backend.client, backend.arm, backend.desired_for, backend.read)._create_nsg(planned, created, {})


# ------------------------------------------------------------------------------------- priority stability


def test_adding_one_flow_writes_exactly_one_rule(distributed: ArmServer, sdk, capsys, tmp_path: Path) -> None:
    before = {r.name: r.priority for r in sdk.security_rules.list(RG, NSG)}
    spec = write_spec(tmp_path, DISTRIBUTED, extra_flows=[{"from": "corp", "to": "sql", "services": ["mssql"]}])
    apply(capsys, spec)
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _s in writes(distributed)] == [("PUT", "in-tcp-1433")]
    after = {r.name: r.priority for r in sdk.security_rules.list(RG, NSG)}
    assert {k: v for k, v in after.items() if k in before} == before

    # and removing it again deletes exactly that rule
    distributed.clear_request_log()
    apply(capsys, DISTRIBUTED)
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _s in writes(distributed)] == [("DELETE", "in-tcp-1433")]
    assert {r.name: r.priority for r in sdk.security_rules.list(RG, NSG)} == before


def test_removing_a_flow_deletes_its_rules_and_moves_no_other(arm: ArmServer, sdk, capsys, tmp_path: Path) -> None:
    """Regression: a rule pushed off its home slot by another (now in-tcp-88 by in-tcp-150) was moved "back home"
    (one more write, and a priority that no longer matched the emitted Terraform) when the other was removed."""
    add_subnets(arm, DISTRIBUTED)
    app_lb = {"from": "app", "to": "lb", "services": ["tcp/150"]}
    web_sql = {"from": "lb", "to": "sql", "services": ["tcp/88"]}  # its own rule: no other pair has just 88
    data = yaml.safe_load(DISTRIBUTED.read_text())
    roles = {**data["roles"], "app": {}, "lb": {}}
    first = write_spec(tmp_path, DISTRIBUTED, extra_flows=[app_lb, web_sql], roles=roles)
    apply(capsys, first)
    before = {r.name: r.priority for r in sdk.security_rules.list(RG, NSG)}
    assert before["in-tcp-88"] == home_slot("in-tcp-150") + 1 == before["in-tcp-150"] + 1
    arm.clear_request_log()
    apply(capsys, write_spec(tmp_path, DISTRIBUTED, extra_flows=[web_sql], roles=roles))
    gone = {"in-tcp-150", "out-tcp-150"}
    assert sorted((m, p.rsplit("/", 1)[-1]) for m, p, _s in writes(arm)) == [("DELETE", n) for n in sorted(gone)]
    after = {r.name: r.priority for r in sdk.security_rules.list(RG, NSG)}
    assert after == {n: p for n, p in before.items() if n not in gone}


def test_setup_phase_adds_and_removes_its_rules(distributed: ArmServer, sdk, capsys) -> None:
    apply(capsys, DISTRIBUTED, "--phase", "setup")
    live = live_state(sdk, DISTRIBUTED, phase="setup")
    assert azure_allows(live, "web", "sql", "udp", 1434)
    assert azure_allows(live, "web", "sql", "tcp", 445)
    assert drift(capsys, DISTRIBUTED, "--phase", "setup")[0] == 0
    _, report = drift(capsys, DISTRIBUTED)
    assert categories(report) == {
        # UDP 1434, and TCP 445 added to web's ports: rules of their own; web -> sql stays in the rule it shares
        # with async and sandbox for 80, 443 and 1433
        "rule:extra": {"in-udp-1434", "out-udp-1434", "in-tcp-445", "out-tcp-445"},
    }
    apply(capsys, DISTRIBUTED)
    live = live_state(sdk, DISTRIBUTED)
    assert not azure_allows(live, "web", "sql", "udp", 1434)
    assert not azure_allows(live, "web", "sql", "tcp", 445)


# ------------------------------------------------------------------------------ no flow blocked mid-update


def _declared_both(before: Path, after: Path) -> list[tuple]:
    """The probes both specs allow: flows declared before and after the update."""
    old, new = compile_spec(before).topology, compile_spec(after).topology
    old_model, new_model = SpecModel(old), SpecModel(new)
    return [p for p in probe_points(new) if new_model.allows(*p) and old_model.allows(*p)]


@pytest.mark.parametrize("bulk", [False, True], ids=["rule-by-rule", "whole-nsg-put"])
def test_no_declared_flow_is_blocked_between_two_writes(
    distributed: ArmServer, sdk, capsys, tmp_path: Path, monkeypatch, bulk: bool
) -> None:
    """Regression: egress open -> strict wrote deny-all-outbound before the allow rules, blocking every declared
    outbound flow until they landed. After every single write request the NSG must allow every flow declared
    both before and after the update (Azure's evaluation order, default rules included)."""
    opened = write_spec(tmp_path, DISTRIBUTED, egress="open")
    monkeypatch.setattr(azure_apply, "BULK_THRESHOLD", 0 if bulk else 1000)
    seen = _writes_watched(distributed, sdk, capsys, monkeypatch, opened, DISTRIBUTED)
    assert (len(seen) == 1) == bulk  # the whole-NSG PUT is one atomic write


@pytest.mark.parametrize("leaves", [True, False], ids=["pair-leaves-packed-rule", "pair-joins-packed-rule"])
def test_repacking_never_blocks_a_declared_flow(
    distributed: ArmServer, sdk, capsys, tmp_path: Path, monkeypatch, leaves: bool
) -> None:
    """Regression: web -> sql shares in-tcp-80_443_1433 with async and sandbox until TCP 1434 merges with its 1433
    into a range (ports 80, 443, 1433-1434: another rule). Written in name order, the shared rule lost web before
    web's new rule existed. (Going back, web's rule must be deleted only once web is in the shared rule again.)"""
    own = write_spec(tmp_path, DISTRIBUTED, extra_flows=[{"from": "web", "to": "sql", "services": ["tcp/1434"]}])
    before, after = (DISTRIBUTED, own) if leaves else (own, DISTRIBUTED)
    seen = _writes_watched(distributed, sdk, capsys, monkeypatch, before, after)
    names = [name for _m, name, _b in seen]
    assert {"in-tcp-80_443_1433", "in-tcp-80_443_1433-1434"} <= set(names)


def _writes_watched(distributed: ArmServer, sdk, capsys, monkeypatch, before: Path, after: Path) -> list:
    """Applies `before`, then `after` while checking after every NSG write that the flows both declare pass."""
    apply(capsys, before)
    asgs = {a.id.lower(): a.tags["cloudports:role"] for a in sdk.application_security_groups.list(RG)}
    probes = _declared_both(before, after)
    assert len(probes) > 50
    shape = live_state(sdk, DISTRIBUTED)
    seen: list[tuple[str, str, list]] = []  # (method, path, blocked probes) after each NSG write
    original = distributed.handle

    def checked(method: str, raw_path: str, headers: Any, body: bytes) -> Any:
        result = original(method, raw_path, headers, body)
        if method.upper() in ("PUT", "PATCH", "DELETE") and "/networkSecurityGroups/" in raw_path:
            now = with_rules(shape, rules_right_now(distributed, RG, NSG, asgs))
            name = raw_path.split("?")[0].rsplit("/", 1)[-1]
            seen.append((method, name, [p for p in probes if not azure_allows(now, *p)]))
        return result  # (asserted below: an assertion here would only reach the server thread)

    monkeypatch.setattr(distributed, "handle", checked)
    apply(capsys, after)
    assert seen and [(m, name, blocked[:3]) for m, name, blocked in seen if blocked] == []
    assert drift(capsys, after)[0] == 0
    return seen


# ------------------------------------------------------------------------------------ emitted HCL agrees


@pytest.mark.parametrize("spec", [DISTRIBUTED, THREE_TIER], ids=lambda p: p.parent.name)
def test_emitted_hcl_and_applied_nsg_describe_the_same_rules(arm: ArmServer, sdk, capsys, tmp_path, spec) -> None:
    add_subnets(arm, spec)
    assert cli(capsys, "emit", spec, "--target", "azure", "--out", tmp_path / "tf")[0] == 0
    apply(capsys, spec)
    with open(tmp_path / "tf/rules.tf") as f:
        hcl = hcl2.load(f)
    emitted = {k.strip('"'): v for k, v in hcl["locals"][0]["security_rules"].items()}
    live = live_state(sdk, spec).nsg.rules
    with open(tmp_path / "tf/main.tf") as f:  # spec parameters are variables: their defaults are what was applied
        defaults = {n.strip('"'): b.get("default") for v in hcl2.load(f)["variable"] for n, b in v.items()}

    def unquote(value: Any) -> Any:
        if isinstance(value, str):
            variable = re.fullmatch(r"\$\{tostring\(var\.(\w+)\)\}", value)
            return str(defaults[variable.group(1)]) if variable else value.strip('"')
        return [unquote(v) for v in value] if isinstance(value, list) else value

    assert set(emitted) == set(live)
    for name, e in emitted.items():
        e = {k: unquote(v) for k, v in e.items()}
        rule = live[name]
        assert (e["priority"], e["direction"], e["access"], e["protocol"]) == (
            rule.priority,
            rule.direction,
            rule.access,
            rule.protocol,
        ), name
        assert tuple(e["destination_port_ranges"]) == rule.destination_ports, name
        assert tuple(sorted(e.get("source_address_prefixes", []))) == rule.source_prefixes, name
        assert tuple(sorted(e.get("destination_address_prefixes", []))) == rule.destination_prefixes, name
        assert tuple(sorted(e.get("source_application_security_groups", []))) == rule.source_asgs, name
        assert tuple(sorted(e.get("destination_application_security_groups", []))) == rule.destination_asgs, name


# ------------------------------------------------------------------------------------------------- destroy


def test_destroy_removes_only_what_cloudports_owns(distributed: ArmServer, sdk, capsys) -> None:
    foreign_asg = sdk.application_security_groups.begin_create_or_update(
        RG, "someone-elses-asg", {"location": "eastus"}
    ).result()
    sdk.network_security_groups.begin_create_or_update(RG, "someone-elses-nsg", {"location": "eastus"}).result()
    code, out, _ = cli(capsys, "destroy", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 0, out
    assert {n.name for n in sdk.network_security_groups.list(RG)} == {"someone-elses-nsg"}
    assert {a.name for a in sdk.application_security_groups.list(RG)} == {foreign_asg.name}
    assert subnet_nsg(sdk, RG, "vnet-d365dist", "snet-servers") is None
    # nothing left to destroy
    code, out, _ = cli(capsys, "destroy", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 0 and "nothing to destroy" in out and "matches the spec" not in out


def test_destroy_leaves_an_asg_still_in_use_and_says_so(distributed: ArmServer, sdk, capsys) -> None:
    web = _asg_id(sdk, "web")
    other = {"location": "eastus", "security_rules": []}
    sdk.network_security_groups.begin_create_or_update(RG, "other-nsg", other).result()
    rule = sdk_rule(
        priority=200,
        direction="Inbound",
        protocol="Tcp",
        destination_port_range="443",
        source_address_prefix="*",
        destination_application_security_groups=[models.ApplicationSecurityGroup(id=web)],
    )
    sdk.security_rules.begin_create_or_update(RG, "other-nsg", "uses-web-asg", rule).result()
    code, out, _ = cli(capsys, "destroy", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 0, out
    assert "d365-distributed-web-asg" in out and "in use" in out
    assert {a.name for a in sdk.application_security_groups.list(RG)} == {"d365-distributed-web-asg"}
    assert NSG not in {n.name for n in sdk.network_security_groups.list(RG)}


def test_destroy_keeps_an_nsg_associated_with_a_subnet_the_spec_does_not_name(distributed, sdk, capsys) -> None:
    nsg_id = sdk.network_security_groups.get(RG, NSG).id
    distributed.add_subnet(SUB, RG, "vnet-d365dist", "snet-other", "10.1.9.0/24", location="eastus", nsg_id=nsg_id)
    code, out, _ = cli(capsys, "destroy", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 0, out
    assert "snet-other" in out
    assert subnet_nsg(sdk, RG, "vnet-d365dist", "snet-other") == NSG
    assert subnet_nsg(sdk, RG, "vnet-d365dist", "snet-servers") is None


# -------------------------------------------------------------------------------------------- ownership


def test_subnet_of_a_foreign_nsg_is_not_taken_over(arm: ArmServer, sdk, capsys) -> None:
    foreign = sdk.network_security_groups.begin_create_or_update(RG, "corp-nsg", {"location": "eastus"}).result()
    arm.add_subnet(SUB, RG, "vnet-d365dist", "snet-servers", "10.1.0.0/24", location="eastus", nsg_id=foreign.id)
    arm.clear_request_log()
    code, _out, err = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 1
    assert "snet-servers" in err and "corp-nsg" in err and "will not be taken over" in err
    assert writes(arm) == []


def test_a_second_spec_with_the_same_name_never_touches_the_first(
    distributed: ArmServer, sdk, capsys, tmp_path: Path
) -> None:
    """Regression: two specs sharing `name:` shared the ASGs <topology>-<role>-asg and claimed each other's NSG
    (destroy of the second deleted the first one's NSG). Resources belong to a spec by its full identity."""
    data = yaml.safe_load(DISTRIBUTED.read_text())
    other = write_spec(tmp_path, DISTRIBUTED, targets={"azure": {**data["targets"]["azure"], "nsg_name": "lab-b-nsg"}})
    before = live_state(sdk, DISTRIBUTED)
    assert before.tags["cloudports:spec"] == "d365-distributed;nsg_name=d365dist-nsg"
    assert all(dict(a.tags)["cloudports:spec"] == before.tags["cloudports:spec"] for a in before.asgs.values())
    code, _out, err = cli(capsys, "apply", other, "-t", "azure", "--auto-approve")
    assert code == 1 and "belongs to another spec" in err
    assert "cloudports:spec=d365-distributed;nsg_name=d365dist-nsg" in err
    assert "cloudports:spec=d365-distributed;nsg_name=lab-b-nsg" in err
    code, out, err = cli(capsys, "destroy", other, "-t", "azure", "--auto-approve")
    assert code == 0 and "nothing to destroy" in out, out + err
    assert writes(distributed) == []
    assert live_state(sdk, DISTRIBUTED) == before
    assert drift(capsys, DISTRIBUTED)[0] == 0


def test_resources_of_an_older_version_get_the_spec_tag(distributed: ArmServer, sdk, capsys) -> None:
    for asg in sdk.application_security_groups.list(RG):
        tags = {k: v for k, v in asg.tags.items() if k != "cloudports:spec"}
        sdk.application_security_groups.update_tags(RG, asg.name, {"tags": tags})
    nsg = sdk.network_security_groups.get(RG, NSG)
    sdk.network_security_groups.update_tags(RG, NSG, {"tags": {k: v for k, v in nsg.tags.items() if "spec" not in k}})
    code, report = drift(capsys, DISTRIBUTED)
    assert code == 2 and {c["kind"] for c in report["changes"]} == {"nsg", "asg"}
    apply(capsys, DISTRIBUTED)
    assert drift(capsys, DISTRIBUTED)[0] == 0
    assert sdk.network_security_groups.get(RG, NSG).tags["cloudports:spec"] == "d365-distributed;nsg_name=d365dist-nsg"


def test_untagged_nsg_with_the_spec_name_needs_adopt(arm: ArmServer, sdk, capsys) -> None:
    add_subnets(arm, DISTRIBUTED)
    legacy = sdk_rule(
        priority=150,
        direction="Inbound",
        protocol="*",
        destination_port_range="*",
        source_address_prefix="*",
        destination_address_prefix="*",
    )
    body = {"location": "eastus", "security_rules": [{"name": "allow-all", **dict(legacy)}]}
    sdk.network_security_groups.begin_create_or_update(RG, NSG, body).result()
    code, _out, err = cli(capsys, "plan", DISTRIBUTED, "-t", "azure")
    assert code == 1 and "--adopt" in err and "not tagged" in err
    apply(capsys, DISTRIBUTED, "--adopt")
    assert drift(capsys, DISTRIBUTED)[0] == 0
    assert "allow-all" not in {r.name for r in sdk.security_rules.list(RG, NSG)}


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("SecurityRuleConflict", "run plan again"),
        ("SecurityRuleInvalidPortRange", "check the services' ports"),
        ("SecurityRuleInvalidAddressPrefix", "check the networks' CIDRs"),
    ],
)
def test_azure_validation_errors_are_clear(distributed: ArmServer, sdk, capsys, code: str, hint: str) -> None:
    # A real SecurityRuleConflict needs a rule written between cloudports' read and its write (apply orders its
    # own writes so that it never causes one); injected here like the other validation errors.
    oob_rule_removed(sdk)
    distributed.inject_fault(
        "PUT",
        r"/securityRules/in-tcp-80_443_1433$",
        status=400,
        code=code,
        message=f"Security rule in-tcp-80_443_1433: {code}.",
    )
    exit_code, _out, err = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert exit_code == 1
    assert f"{code} (HTTP 400)" in err and "writing rule" in err and "in-tcp-80_443_1433" in err and hint in err


def test_throttling_429_honours_retry_after(distributed: ArmServer, capsys) -> None:
    distributed.inject_fault("GET", r"/networkSecurityGroups$", status=429, retry_after=1)
    started = time.monotonic()
    code, _report = drift(capsys, DISTRIBUTED)
    assert code == 0
    assert time.monotonic() - started >= 1.0
    statuses = [s for _m, p, s in distributed.request_log if p.endswith("/networkSecurityGroups")]
    assert statuses == [429, 200]


@pytest.mark.parametrize("sdk_retries", ["10", "0"], ids=["by-azure-core", "by-cloudports"])
def test_another_operation_in_progress_is_retried_after_retry_after(
    distributed: ArmServer, sdk, capsys, monkeypatch, sdk_retries: str
) -> None:
    # azure-core retries any error that carries Retry-After; when its retries are used up (here: none at all),
    # cloudports' own bounded retry takes over, honouring Retry-After too, and says so on stderr.
    monkeypatch.setenv("CLOUDPORTS_AZURE_RETRY_TOTAL", sdk_retries)
    oob_rule_removed(sdk)
    distributed.inject_fault(
        "PUT",
        r"/securityRules/in-tcp-80_443_1433$",
        status=409,
        code="AnotherOperationInProgress",
        retry_after=1,
        count=2,
    )
    distributed.clear_request_log()
    started = time.monotonic()
    code, _out, err = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 0, err
    assert time.monotonic() - started >= 2.0
    puts = [s for m, p, s in distributed.request_log if m == "PUT"]
    assert puts == [409, 409, 201]
    assert ("AnotherOperationInProgress, retrying in 1s" in err) == (sdk_retries == "0")
    assert drift(capsys, DISTRIBUTED)[0] == 0


# -------------------------------------------------------------------------------------- interrupted runs


@pytest.mark.parametrize("in_flight", ["delete", "put"])
def test_a_rerun_after_kill_converges_while_the_killed_write_is_still_running(
    lagging: ArmServer, capsys, in_flight: str
) -> None:
    """Regression: after kill -9 during apply, the re-run planned while the killed run's write was still in
    flight and refused ("live state changed since the plan was made") once it landed."""
    sdk = sdk_client(lagging)
    backend = AZURE.open_backend(compile_spec(DISTRIBUTED), {}, False)
    if in_flight == "delete":  # the killed run was deleting a rule the spec no longer has
        oob_rule_added(sdk)
        lagging.complete_operations()
        sdk.security_rules.begin_delete(RG, NSG, "allow-ssh-from-anywhere", polling=False)
    else:  # ... or writing a rule back
        rule = sdk.security_rules.get(RG, NSG, "in-tcp-80_443_1433")
        sdk.security_rules.begin_delete(RG, NSG, "in-tcp-80_443_1433").result()
        sdk.security_rules.begin_create_or_update(RG, NSG, "in-tcp-80_443_1433", rule, polling=False)
    planned = backend.plan()
    lagging.complete_operations()  # the killed run's write lands between plan and apply
    backend.apply(planned)
    assert drift(capsys, DISTRIBUTED)[0] == 0


# ------------------------------------------------------------------------------- lost answers, throttling


def test_a_lost_answer_to_the_nsg_create_is_recognised(lagging: ArmServer, capsys) -> None:
    """Regression: the answer to the NSG PUT was lost, azure-core sent it again and If-None-Match: * made Azure
    answer 412 - to cloudports' own, successful, first attempt."""
    sdk = sdk_client(lagging)
    cli(capsys, "destroy", DISTRIBUTED, "-t", "azure", "--auto-approve")
    lagging.clear_request_log()
    lagging.inject_fault("PUT", rf"/networkSecurityGroups/{NSG}$", drop_answer=True)
    apply(capsys, DISTRIBUTED)
    statuses = [s for m, p, s in lagging.request_log if m == "PUT" and p.endswith(f"/networkSecurityGroups/{NSG}")]
    assert statuses[0] == 0 and statuses[-1] in (412, 409, 201), statuses  # lost, then the retry
    assert drift(capsys, DISTRIBUTED)[0] == 0
    assert live_state(sdk, DISTRIBUTED).nsg.rules == desired(DISTRIBUTED).nsg.rules


def test_a_lost_answer_to_the_whole_nsg_put_is_recognised(lagging: ArmServer, capsys) -> None:
    sdk = sdk_client(lagging)
    before = live_state(sdk, DISTRIBUTED)
    for name in sorted(before.nsg.rules)[:25]:
        sdk.security_rules.begin_delete(RG, NSG, name).result()
    lagging.inject_fault("PUT", rf"/networkSecurityGroups/{NSG}$", drop_answer=True)
    apply(capsys, DISTRIBUTED)
    assert live_state(sdk, DISTRIBUTED).nsg.rules == before.nsg.rules
    assert drift(capsys, DISTRIBUTED)[0] == 0


def test_a_lost_answer_to_a_tag_patch_is_recognised(distributed: ArmServer, capsys) -> None:
    """Regression: azure-core does not re-send a PATCH whose answer was lost, so tagging an existing NSG or ASG
    failed the run although the tags had been written."""
    sdk = sdk_client(distributed)
    nsg = sdk.network_security_groups.get(RG, NSG)
    asg = next(iter(sdk.application_security_groups.list(RG)))
    for operations, name, tags in (
        (sdk.network_security_groups, NSG, nsg.tags),
        (sdk.application_security_groups, asg.name, asg.tags),
    ):
        operations.update_tags(RG, name, {"tags": {k: v for k, v in tags.items() if k != "cloudports:spec"}})
    distributed.inject_fault("PATCH", rf"/networkSecurityGroups/{NSG}$", drop_answer=True)
    distributed.inject_fault("PATCH", rf"/applicationSecurityGroups/{asg.name}$", drop_answer=True)
    apply(capsys, DISTRIBUTED)
    assert drift(capsys, DISTRIBUTED)[0] == 0


def test_a_412_that_is_not_our_write_stays_an_error(lagging: ArmServer, capsys) -> None:
    sdk = sdk_client(lagging)
    cli(capsys, "destroy", DISTRIBUTED, "-t", "azure", "--auto-approve")
    lagging.inject_fault("PUT", rf"/networkSecurityGroups/{NSG}$", status=412, code="PreconditionFailed")
    code, _out, err = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 1 and "PreconditionFailed" in err
    assert NSG not in {n.name for n in sdk.network_security_groups.list(RG)}


@pytest.mark.parametrize(("budget", "ok"), [(None, True), ("3", False)], ids=["default", "total-3"])
def test_throttling_retry_budget_is_the_configured_total(
    distributed: ArmServer, sdk, capsys, monkeypatch, budget: str | None, ok: bool
) -> None:
    """Regression: azure-core gave up after 3 throttled answers to one request (its retry_status default)
    whatever CLOUDPORTS_AZURE_RETRY_TOTAL said. Now the total (default 10) is the budget."""
    if budget is not None:
        monkeypatch.setenv("CLOUDPORTS_AZURE_RETRY_TOTAL", budget)
    oob_rule_removed(sdk)
    distributed.inject_fault("PUT", r"/securityRules/in-tcp-80_443_1433$", status=429, retry_after=0.01, count=5)
    code, _out, err = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert (code == 0) == ok, err
    statuses = [s for m, p, s in distributed.request_log if m == "PUT"]
    assert statuses == ([429] * 5 + [201] if ok else [429] * 4)
    if not ok:
        assert "429" in err and "Retry-After" in err


def test_retry_options_reach_the_client() -> None:
    env = {"AZURE_SUBSCRIPTION_ID": SUB, "CLOUDPORTS_AZURE_RETRY_TOTAL": "12"}
    s = armapi.resolve_settings(subscription=None, resource_group="rg", location="l", arm_endpoint=None, env=env)
    assert armapi.retry_options(s) == {"retry_total": 12, "retry_status": 12}
    env["CLOUDPORTS_AZURE_RETRY_STATUS"] = "4"
    s = armapi.resolve_settings(subscription=None, resource_group="rg", location="l", arm_endpoint=None, env=env)
    assert armapi.retry_options(s) == {"retry_total": 12, "retry_status": 4}
    s = armapi.ArmSettings(SUB, "rg", "l", endpoint="http://127.0.0.1:9", token="t", retry_total=7)
    policy = armapi.network_client(s)._config.retry_policy
    assert (policy.total_retries, policy.status_retries) == (7, 7)


def test_busy_retry_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import HttpResponseError

    class Busy(HttpResponseError):
        def __init__(self) -> None:
            super().__init__("busy")
            self.error = type("E", (), {"code": "AnotherOperationInProgress", "message": "busy"})()

    slept: list[float] = []

    def always_busy() -> None:
        raise Busy()

    with pytest.raises(HttpResponseError):
        armapi.retry_busy(always_busy, max_wait=60, sleep=slept.append)
    assert slept and sum(slept) <= 60


def test_not_found_is_a_clear_message(arm: ArmServer, capsys) -> None:
    # no subnet created: the spec names one that does not exist
    code, _out, err = cli(capsys, "plan", DISTRIBUTED, "-t", "azure")
    assert code == 1 and "vnet-d365dist/snet-servers" in err and "does not exist" in err
    add_subnets(arm, DISTRIBUTED)
    arm.inject_fault("GET", r"/applicationSecurityGroups$", status=404, code="ResourceGroupNotFound", count=1)
    code, _out, err = cli(capsys, "drift", DISTRIBUTED, "-t", "azure")
    assert code == 1 and "ResourceGroupNotFound" in err and "--resource-group" in err


def test_failed_long_running_operation_is_a_clear_message(arm: ArmServer, capsys) -> None:
    add_subnets(arm, DISTRIBUTED)
    arm.inject_fault(
        "PUT", r"/networkSecurityGroups/", status=400, code="InternalServerError", async_failure=True, count=1
    )
    code, _out, err = cli(capsys, "apply", DISTRIBUTED, "-t", "azure", "--auto-approve")
    assert code == 1 and "creating network security group" in err and "InternalServerError" in err


@pytest.mark.parametrize("endpoint", ["http://10.1.2.3:8080", "http://management.example.com", "ftp://127.0.0.1"])
def test_plain_http_only_to_loopback(arm: ArmServer, capsys, monkeypatch, endpoint: str) -> None:
    monkeypatch.setenv("CLOUDPORTS_ARM_ENDPOINT", endpoint)
    code, _out, err = cli(capsys, "drift", DISTRIBUTED, "-t", "azure")
    assert code == 1 and ("refusing plain http" in err or "not an http(s) URL" in err)
    assert arm.request_log == []


def test_settings_come_from_options_then_environment(monkeypatch) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": SUB, "CLOUDPORTS_ARM_ENDPOINT": "http://[::1]:9", "CLOUDPORTS_AZURE_TOKEN": "t"}
    s = armapi.resolve_settings(subscription=None, resource_group="rg", location="eastus", arm_endpoint=None, env=env)
    assert (s.subscription, s.endpoint, s.token, s.polling_interval) == (SUB, "http://[::1]:9", "t", 1.0)
    s = armapi.resolve_settings(
        subscription="other", resource_group="rg", location="eastus", arm_endpoint="https://x.example/", env=env
    )
    assert (s.subscription, s.endpoint) == ("other", "https://x.example")
    with pytest.raises(CloudportsError, match="no subscription"):
        armapi.resolve_settings(subscription=None, resource_group="rg", location="l", arm_endpoint=None, env={})
    with pytest.raises(CloudportsError, match="CLOUDPORTS_AZURE_TOKEN"):
        armapi.resolve_settings(
            subscription=SUB, resource_group="rg", location="l", arm_endpoint="http://127.0.0.1:1", env={}
        )
    assert armapi.credential_scopes("https://management.usgovcloudapi.net") == [
        "https://management.core.usgovcloudapi.net/.default"
    ]
    assert armapi.credential_scopes("https://arm.local.example") == ["https://arm.local.example/.default"]
    # options reach the backend: --resource-group overrides the spec
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    backend = AZURE.open_backend(compile_spec(DISTRIBUTED), {"resource_group": "rg-other"}, False)
    assert backend.arm.resource_group == "rg-other" and backend.base.resource_group == "rg-other"


# ------------------------------------------------------------------------------------- pure functions


def test_normalise_rule_reads_every_spelling() -> None:
    asg = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/applicationSecurityGroups/Web-ASG"
    raw = models.SecurityRule(
        name="r",
        protocol="TCP",
        access="allow",
        direction="inbound",
        priority=120,
        source_port_range="0-65535",
        destination_port_ranges=["443", "80-80", "443"],
        source_address_prefixes=["10.0.0.1/24", "10.1.0.0/16"],
        destination_application_security_groups=[models.ApplicationSecurityGroup(id=asg)],
    )
    rule = normalise_rule(raw, {asg.lower(): "web"})
    assert (rule.protocol, rule.access, rule.direction) == ("Tcp", "Allow", "Inbound")
    assert rule.source_ports == ("*",)
    assert rule.destination_ports == ("80", "443")
    assert rule.source_prefixes == ("10.0.0.0/24", "10.1.0.0/16")
    assert rule.destination_asgs == ("web",)
    assert normalise_ports(["*"]) == ("*",) and normalise_ports(["1000-2000", "22"]) == ("22", "1000-2000")


def test_rule_properties_use_singular_fields_for_one_value() -> None:
    rule = NsgRule("r", "Inbound", "Allow", "Tcp", ("443",), source_prefixes=("Internet",), destination_asgs=("web",))
    props = rule_properties(rule, {"web": "/x/web"})
    assert props["destinationPortRange"] == "443" and props["sourceAddressPrefix"] == "Internet"
    assert props["sourcePortRange"] == "*"
    assert [a["id"] for a in props["destinationApplicationSecurityGroups"]] == ["/x/web"]


def _r(name: str, priority: int, direction: str = "Inbound") -> NsgRule:
    return NsgRule(
        name, direction, "Allow", "Tcp", ("1",), source_prefixes=("*",), destination_prefixes=("*",), priority=priority
    )  # type: ignore[arg-type]


def _replay(live: dict[str, NsgRule], steps) -> None:
    """Carries out the steps on a model of the NSG, failing on any moment two rules share a slot."""
    for step in steps:
        if step.action == "delete":
            live.pop(step.rule.name)
        else:
            live[step.rule.name] = step.rule
        slots = [(r.direction, r.priority) for r in live.values()]
        assert len(slots) == len(set(slots)), step


def test_write_order_never_shares_a_priority() -> None:
    live = {r.name: r for r in (_r("a", 100), _r("b", 101), _r("c", 102), _r("x", 103), _r("o", 100, "Outbound"))}
    puts = [_r("a", 101), _r("b", 100), _r("c", 103), _r("n", 102), _r("o", 101, "Outbound")]  # swap a<->b, chain
    deletes = [live["x"]]
    steps = order_rule_writes(live, puts, deletes)
    model = dict(live)
    _replay(model, steps)
    assert {n: (r.direction, r.priority) for n, r in model.items()} == {r.name: (r.direction, r.priority) for r in puts}
    # one rule stepped aside to break the swap; the new rule n, whose slot frees only after the delete, is
    # written parked first (its flows never wait on the delete) and then moved
    assert sum(s.parked for s in steps) == 2
    assert [s.rule.name for s in steps if s.parked][0] == "n" and steps.index(
        next(s for s in steps if s.parked)
    ) < steps.index(next(s for s in steps if s.action == "delete"))
    # a new rule on a free slot is written before anything is deleted
    assert steps[0].action == "put"


def test_write_order_keeps_flows_that_change_rules() -> None:
    """Two packed rules swap members (x: a, b -> a, c; y: c -> b): whichever is written first would drop a
    flow the other takes over, so a parked copy of one rule's old content holds it until both are written."""

    def rule(name: str, sources: tuple[str, ...], priority: int) -> NsgRule:
        return NsgRule(name, "Inbound", "Allow", "Tcp", ("1",), source_asgs=sources, destination_asgs=("web",),
                       priority=priority)  # fmt: skip

    live = {"x": rule("x", ("a", "b"), 100), "y": rule("y", ("c",), 101)}
    puts = [rule("x", ("a", "c"), 100), rule("y", ("b",), 101)]
    steps = order_rule_writes(live, puts, [])
    model = dict(live)
    for step in steps:
        _replay(model, [step])
        allowed = {s for r in model.values() for s in r.source_asgs}
        assert allowed >= {"a", "b", "c"}, step
    assert {n: r.source_asgs for n, r in model.items()} == {"x": ("a", "c"), "y": ("b",)}  # the copy is gone
    assert [s.action for s in steps] == ["put", "put", "put", "delete"] and steps[0].parked


def test_a_displaced_rule_records_its_priority_and_a_moved_one_goes_back() -> None:
    name = "in-tcp-88"
    home = home_slot(name)
    other = "in-tcp-150"  # shares the home slot, and sorts first
    assert home_slot(other) == home
    both = assign_priorities([("Inbound", other), ("Inbound", name)])
    assert both[("Inbound", name)] != home and described("x", name, both[("Inbound", name)]).endswith("]")
    assert recorded_priority(described("x" * 200, name, both[("Inbound", name)])) == both[("Inbound", name)]
    assert len(described("x" * 200, name, both[("Inbound", name)])) <= 140
    # the neighbour gone: the rule stays; moved by hand: back where its record says; at home: no record needed
    alone = {("Inbound", name): both[("Inbound", name)]}
    assert assign_priorities(alone, alone, alone) == alone
    assert assign_priorities(alone, {("Inbound", name): 3999}, alone) == alone
    assert assign_priorities(alone, {("Inbound", name): 3999}, {}) == {("Inbound", name): home}
    assert described("x", name, home) == "x"


# ------------------------------------------------------------------------------- verify and query, live


def test_verify_and_query_live_judge_effective_reachability(distributed: ArmServer, sdk, capsys) -> None:
    live = ("-t", "azure", "--live")
    code, out, _ = cli(capsys, "verify", DISTRIBUTED, *live)
    assert code == 0 and "azure live rules: equivalent to the spec" in out and "known limitation" in out
    code, out, _ = cli(capsys, "query", DISTRIBUTED, "--from", "web", "--to", "sql", "-p", "tcp/1433", *live)
    assert code == 0 and "in-tcp-80_443_1433" in out
    # 1. priorities swapped between two allow rules: drift, but the same traffic passes
    oob_priorities_swapped(sdk)
    assert drift(capsys, DISTRIBUTED)[0] == 2
    assert cli(capsys, "verify", DISTRIBUTED, *live)[0] == 0
    # 2. SSH from the internet to everything: more traffic passes
    oob_rule_added(sdk)
    code, out, _ = cli(capsys, "verify", DISTRIBUTED, *live, "-f", "json")
    found = [d for d in json.loads(out)["differences"] if not d["limitation"]]
    assert code == 2 and found
    assert {(d["allowed_by"], d["traffic"]) for d in found} == {("azure", "tcp/22")}
    code, out, _ = cli(capsys, "query", DISTRIBUTED, "--from", "internet", "--to", "web", "-p", "tcp/22", *live)
    assert code == 0 and "allow-ssh-from-anywhere" in out
    # 3. a rule removed: the spec's flow no longer passes
    sdk.security_rules.begin_delete(RG, NSG, "in-tcp-80_443_1433").result()
    code, out, _ = cli(capsys, "verify", DISTRIBUTED, *live)
    assert code == 2 and "spec allows, azure does not" in out and "web -> sql: tcp/1433" in out
