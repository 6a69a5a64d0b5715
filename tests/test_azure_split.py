"""One NSG per subnet (targets.azure.subnets[].roles): the spec's checks, which rule goes to which NSG, the
1,000-rule limit per NSG, and apply / drift / query / destroy on the local Resource Manager (cloudports.emulators.arm),
read back with the plain SDK and judged with Azure's evaluation order (tests/semantics.py: the source's subnet's NSG
outbound, the destination's subnet's NSG inbound)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudports.cli import main
from cloudports.emulators.arm import ArmServer
from cloudports.errors import CloudportsError
from cloudports.pipeline import compile_spec, desired_state
from cloudports.targets.azure.build import DENY_ALL_OUTBOUND, DENY_VNET_INBOUND, MAX_RULES
from cloudports.targets.azure.emit import read_previous_priorities
from cloudports.targets.azure.model import AzureState, Nsg
from tests.semantics import AzureModel, assert_azure_equivalent
from tests.support.azure_live import SUB, live_rules, rules_right_now, sdk_client, subnet_nsg

RG = "rg-split"
FRONT, BACK = "split-nsg-front", "split-nsg-back"
PLACED = [{"front": ["web"]}, {"back": ["app", "db"]}]


def spec_data(placement: list[dict[str, list[str]]] = PLACED) -> dict[str, Any]:
    subnets = [{"virtual_network": "vnet", "name": n, "roles": r} for p in placement for n, r in p.items()]
    return {
        "name": "split",
        "egress": "strict",
        "networks": {"office": {"ipv4": ["198.51.100.0/24"]}},
        "roles": {"web": {}, "app": {}, "db": {}},
        "flows": [
            {"from": "office", "to": "web", "services": ["tcp/443"]},
            {"from": "web", "to": "app", "services": ["tcp/8080"]},
            {"from": "app", "to": "db", "services": ["tcp/5432"]},
        ],
        "targets": {"azure": {"location": "westeurope", "resource_group": RG, "subnets": subnets}},
    }


def write(tmp_path: Path, data: dict[str, Any], name: str = "split.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(capsys: pytest.CaptureFixture, *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ------------------------------------------------------------------------------------------- the spec


BAD_SPEC = """\
name: split
roles:
  web: {}
  app: {}
  db: {}
flows:
  - {from: web, to: app, services: [tcp/8080]}
targets:
  azure:
    subnets:
      - virtual_network: vnet
        name: front
        roles: [web, dbb]
      - virtual_network: vnet
        name: back
"""


def test_subnet_roles_are_checked_with_positions(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPEC)
    code, _, err = cli(capsys, "validate", spec, "-t", "azure")
    assert code == 1
    assert f"{spec}:13:22: error: targets.azure: subnet vnet/front: unknown role 'dbb'" in err
    assert "did you mean 'db'?" in err
    assert f"{spec}:14:9: error: targets.azure: subnet vnet/back lists no roles" in err
    for role in ("app", "db"):  # web is placed; app and db are in no subnet
        assert f"role '{role}' is in no subnet" in err and f"add '{role}' to the roles of the subnet" in err
    assert "role 'web' is in no subnet" not in err


def test_subnets_without_roles_keep_one_nsg(tmp_path: Path) -> None:
    data = spec_data()
    for subnet in data["targets"]["azure"]["subnets"]:
        del subnet["roles"]
    state = desired_state(compile_spec(write(tmp_path, data)), "azure")
    assert list(state.nsgs) == ["split-nsg"] and not state.split
    assert [s.name for s in state.nsg.subnets] == ["back", "front"]


# ------------------------------------------------------------------------------------------- the build


def test_each_rule_goes_to_the_nsg_of_its_roles_subnet(tmp_path: Path) -> None:
    policy = compile_spec(write(tmp_path, spec_data()))
    state = desired_state(policy, "azure")
    assert sorted(state.nsgs) == [BACK, FRONT]
    allows = {n: {r for r, rule in nsg.rules.items() if rule.access == "Allow"} for n, nsg in state.nsgs.items()}
    assert allows[FRONT] == {"in-tcp-443", "out-tcp-8080"}
    assert allows[BACK] == {"in-tcp-8080", "out-tcp-5432", "in-tcp-5432"}
    for nsg in state.nsgs.values():  # the structural denies in every NSG
        assert nsg.rules[DENY_VNET_INBOUND.name] == DENY_VNET_INBOUND
        assert nsg.rules[DENY_ALL_OUTBOUND.name] == DENY_ALL_OUTBOUND
    assert [s.key for s in state.nsgs[FRONT].subnets] == ["vnet/front"]
    assert sorted(state.asgs) == ["app", "db", "web"]  # one ASG per role, shared
    assert_azure_equivalent(policy.topology, state)  # judged NSG by NSG, as Azure does


def test_a_role_in_two_subnets_has_its_rules_in_both(tmp_path: Path) -> None:
    policy = compile_spec(write(tmp_path, spec_data([{"front": ["web", "app"]}, {"back": ["app", "db"]}])))
    state = desired_state(policy, "azure")
    for name in (FRONT, BACK):
        assert {"in-tcp-8080", "out-tcp-5432"} <= set(state.nsgs[name].rules)
    assert_azure_equivalent(policy.topology, state)


def _many(tmp_path: Path, count: int, split: bool) -> Path:
    """`count` networks reaching each of two roles, each on a port of its own (so that no two pairs can share an
    NSG rule): 2 x count inbound rules in all, count per role."""
    nets = {f"n{i}": {"ipv4": [f"10.{i // 250}.{i % 250}.0/24"]} for i in range(count)}
    subnets = [{"virtual_network": "vnet", "name": r, **({"roles": [r]} if split else {})} for r in ("a", "b")]
    data = {
        "name": "big",
        "egress": "open",
        "networks": nets,
        "roles": {"a": {}, "b": {}},
        "flows": [
            {"from": net, "to": role, "services": [f"tcp/{base + i}"]}
            for i, net in enumerate(nets)
            for role, base in (("a", 1000), ("b", 20000))
        ],
        "targets": {"azure": {"subnets": subnets}},
    }
    return write(tmp_path, data, f"big-{split}.yaml")


def test_a_topology_one_nsg_cannot_hold_fits_one_nsg_per_subnet(tmp_path: Path) -> None:
    exact = r"the NSG needs 1201 rules \(packed; no packing needs fewer than 1201\); Azure allows 1000 per NSG"
    with pytest.raises(CloudportsError, match=exact) as refused:
        desired_state(compile_spec(_many(tmp_path, 600, split=False)), "azure")
    assert "targets.azure.subnets[].roles" in str(refused.value)
    state = desired_state(compile_spec(_many(tmp_path, 600, split=True)), "azure")
    assert {n: len(nsg.rules) for n, nsg in state.nsgs.items()} == {"big-nsg-a": 601, "big-nsg-b": 601}
    assert sum(len(n.rules) for n in state.nsgs.values()) > MAX_RULES
    # the limit holds per NSG, and the error names the NSG
    with pytest.raises(CloudportsError, match=r"the NSG big-nsg-a \(subnet vnet/a\) needs 1001 rules"):
        desired_state(compile_spec(_many(tmp_path, 1000, split=True)), "azure")


def test_the_generated_benchmark_topology_is_refused_whole_and_fits_split(tmp_path: Path) -> None:
    """benchmarks/compile.py's generated spec of 4,000 flows: 3,209 rules, refused in one NSG; six subnets hold it,
    and each NSG's allow rules are its own roles' (inbound to them, outbound from them)."""
    from benchmarks.compile import generated_spec

    with pytest.raises(CloudportsError, match="needs 3209 rules"):
        desired_state(compile_spec(write(tmp_path, generated_spec(4000), "whole.yaml")), "azure")
    state = desired_state(compile_spec(write(tmp_path, generated_spec(4000, subnets=6))), "azure")
    assert len(state.nsgs) == 6 and sum(len(n.rules) for n in state.nsgs.values()) > 3000
    for nsg in state.nsgs.values():
        assert len(nsg.rules) <= MAX_RULES and nsg.roles
        for rule in (r for r in nsg.rules.values() if r.access == "Allow"):
            own = rule.destination_asgs if rule.direction == "Inbound" else rule.source_asgs
            assert set(own) <= nsg.roles, (nsg.name, rule.name)


def _roles_in_subnets(tmp_path: Path, name: str, placement: list[list[str]], flows: list[dict[str, Any]]) -> Path:
    """A spec with these flows and a subnet per list of roles (one list, empty: one subnet without roles)."""
    subnets = [
        {"virtual_network": "vnet", "name": f"s{i}", **({"roles": roles} if roles else {})}
        for i, roles in enumerate(placement)
    ]
    roles = sorted({r for f in flows for end in (f["from"], f["to"]) for r in ([end] if isinstance(end, str) else end)})
    data = {"name": name, "roles": {r: {} for r in roles}, "flows": flows, "targets": {"azure": {"subnets": subnets}}}
    return write(tmp_path, data, f"{name}.yaml")


def test_the_asg_limit_holds_per_nsg(tmp_path: Path) -> None:
    """60 pairs of roles (a0 -> b0, ...): 120 roles are too many for one NSG, but two subnets of 30 pairs each
    reference 60 ASGs apiece. A hub that 101 roles reach references 102 wherever it sits: refused, by name."""
    pairs = [(f"a{i}", f"b{i}") for i in range(60)]
    flows = [{"from": a, "to": b, "services": ["tcp/443"]} for a, b in pairs]
    with pytest.raises(CloudportsError, match="120 roles; an NSG can reference at most 100 ASGs"):
        desired_state(compile_spec(_roles_in_subnets(tmp_path, "one", [[]], flows)), "azure")
    halves = [[r for p in pairs[:30] for r in p], [r for p in pairs[30:] for r in p]]
    state = desired_state(compile_spec(_roles_in_subnets(tmp_path, "pairs", halves, flows)), "azure")
    assert [len(n.rules) for n in state.nsgs.values()] == [31, 31]  # 30 inbound (egress open) + the deny
    senders = [f"r{i}" for i in range(101)]
    hub = [{"from": senders, "to": "hub", "services": ["tcp/443"]}]
    with pytest.raises(CloudportsError, match="102 ASGs referenced by NSG hub-nsg-s0"):
        desired_state(compile_spec(_roles_in_subnets(tmp_path, "hub", [["hub"], senders], hub)), "azure")


# ------------------------------------------------------------------------------------------- Terraform


def test_emitted_priorities_are_kept_per_nsg(tmp_path: Path, capsys) -> None:
    data = spec_data()
    data["roles"]["web"] = {"members": {"azure": {"network_interfaces": ["nic-web-1"]}}}
    spec, out = write(tmp_path, data), tmp_path / "tf"
    assert cli(capsys, "emit", spec, "-t", "azure", "--out", out)[0] == 0
    # the NICs join the ASGs the root creates (shared by the NSG modules), not a module's
    assert "= azurerm_application_security_group.this[each.value.role].id" in (out / "members.tf").read_text()
    first = read_previous_priorities(out)
    assert sorted(first) == [BACK, FRONT] and ("Inbound", "in-tcp-8080") in first[BACK]
    main_tf = (out / "main.tf").read_text()
    assert "for_each = local.network_security_groups" in main_tf and "application_security_group_ids" in main_tf
    before = (out / "rules.tf").read_bytes()
    assert cli(capsys, "emit", spec, "-t", "azure", "--out", out)[0] == 0
    assert (out / "rules.tf").read_bytes() == before and read_previous_priorities(out) == first


# ------------------------------------------------------------------------------------------- live


@pytest.fixture
def sdk(arm: ArmServer) -> Any:
    for n, subnet in enumerate(("front", "back")):
        arm.add_subnet(SUB, RG, "vnet", subnet, f"10.9.{n}.0/24", location="westeurope")
    return sdk_client(arm)


def _live(sdk: Any, spec: Path) -> AzureState:
    """The spec's NSGs and ASGs as the SDK reads them (not cloudports' reader)."""
    state = desired_state(compile_spec(spec), "azure")
    roles = {a.id.lower(): a.tags["cloudports:role"] for a in sdk.application_security_groups.list(RG)}
    nsgs = {n.name: Nsg(n.name, live_rules(sdk, RG, n.name, roles), roles=n.roles) for n in state.nsgs.values()}
    return AzureState(state.topology, state.location, RG, state.tags, state.asgs, nsgs, state.egress)


def test_apply_drift_query_and_destroy(sdk: Any, tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, spec_data())
    assert cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")[0] == 0
    assert sorted(n.name for n in sdk.network_security_groups.list(RG)) == [BACK, FRONT]
    assert (subnet_nsg(sdk, RG, "vnet", "front"), subnet_nsg(sdk, RG, "vnet", "back")) == (FRONT, BACK)
    live, want = _live(sdk, spec), desired_state(compile_spec(spec), "azure")
    assert {n: nsg.rules for n, nsg in live.nsgs.items()} == {n: nsg.rules for n, nsg in want.nsgs.items()}
    assert_azure_equivalent(compile_spec(spec).topology, live)
    assert cli(capsys, "drift", spec, "-t", "azure")[0] == 0
    for live_flag in ((), ("--live",)):
        code, out, _ = cli(capsys, "verify", spec, "-t", "azure", *live_flag)
        assert code == 0, out
        for src, dst, port, code in (("web", "app", "tcp/8080", 0), ("web", "db", "tcp/5432", 3)):
            args = ("query", spec, "-t", "azure", *live_flag, "--from", src, "--to", dst, "-p", port)
            found, out, _ = cli(capsys, *args)
            assert found == code, out
    # a rule added by hand to one NSG is drift in that NSG, and apply takes it out again
    extra = sdk.security_rules.get(RG, BACK, "in-tcp-8080")
    extra.priority, extra.destination_port_range = 3999, "22"
    sdk.security_rules.begin_create_or_update(RG, BACK, "by-hand", extra).result()
    code, out, _ = cli(capsys, "drift", spec, "-t", "azure")
    assert code == 2 and f"{BACK}/by-hand" in out
    assert cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")[0] == 0
    assert "by-hand" not in {r.name for r in sdk.security_rules.list(RG, BACK)}
    assert cli(capsys, "destroy", spec, "-t", "azure", "--auto-approve")[0] == 0
    assert list(sdk.network_security_groups.list(RG)) == [] and list(sdk.application_security_groups.list(RG)) == []
    assert subnet_nsg(sdk, RG, "vnet", "front") is None


def _flows_hold(state: AzureState, flows: list[tuple[str, str, int]]) -> bool:
    model = AzureModel(state)
    return all(model.allows(src, dst, "tcp", port) for src, dst, port in flows)


def _with_live_rules(state: AzureState, rules: dict[str, dict[str, Any]]) -> AzureState:
    """The state's placement of roles in subnets, with the NSGs' rules as they are now."""
    nsgs = {n: Nsg(n, rules[n], roles=nsg.roles) for n, nsg in state.nsgs.items()}
    return AzureState(state.topology, state.location, RG, state.tags, state.asgs, nsgs, state.egress)


MOVES = {
    "move": [{"front": ["web", "app"]}, {"back": ["db"]}],  # app joins web: front only gains, back only loses
    "swap": [{"front": ["app"]}, {"back": ["web", "db"]}],  # web and app swap: both NSGs gain and lose rules
}


@pytest.mark.parametrize("move", MOVES)
@pytest.mark.parametrize("bulk", [False, True], ids=["rule-by-rule", "whole-nsg-puts"])
def test_moving_a_role_to_another_subnet_adds_before_it_removes(
    sdk: Any, arm: ArmServer, tmp_path: Path, capsys, monkeypatch, bulk: bool, move: str
) -> None:
    """Roles move between subnets: their rules move from one NSG to the other. After every write, each flow
    holds where the machines were or where they go (never nowhere), and there is a moment where it holds in
    both: every NSG's additions come before any NSG's deletions (rule by rule, or as whole-NSG PUTs for an NSG
    with more than BULK_THRESHOLD writes: its additions first, its final rules once every NSG has its
    additions)."""
    from cloudports.targets.azure import apply as azure_apply

    monkeypatch.setattr(azure_apply, "BULK_THRESHOLD", 0 if bulk else 1000)
    before = write(tmp_path, spec_data())
    after = write(tmp_path, spec_data(MOVES[move]), "moved.yaml")
    assert cli(capsys, "apply", before, "-t", "azure", "--auto-approve")[0] == 0
    roles = {a.id.lower(): a.tags["cloudports:role"] for a in sdk.application_security_groups.list(RG)}
    flows = [("198.51.100.7", "web", 443), ("web", "app", 8080), ("app", "db", 5432)]
    old, new = _live(sdk, before), _live(sdk, after)
    seen: list[tuple[str, bool, bool]] = []  # (write, flows hold under the old placement, under the new)
    original = arm.handle

    def watched(method: str, raw_path: str, headers: Any, body: bytes) -> Any:
        result = original(method, raw_path, headers, body)
        if method.upper() in ("PUT", "DELETE") and "/networkSecurityGroups/" in raw_path:
            rules = {n: rules_right_now(arm, RG, n, roles) for n in (FRONT, BACK)}
            write = f"{method.upper()} {raw_path.split('?')[0].rsplit('/', 1)[-1]}"
            seen.append((write, *(_flows_hold(_with_live_rules(s, rules), flows) for s in (old, new))))
        return result

    monkeypatch.setattr(arm, "handle", watched)
    assert cli(capsys, "apply", after, "-t", "azure", "--auto-approve")[0] == 0
    monkeypatch.setattr(arm, "handle", original)
    assert all(o or n for _w, o, n in seen), seen  # never a moment where app's flows hold nowhere
    assert any(o and n for _w, o, n in seen), seen  # the overlap: both placements work
    assert seen[-1][2]
    writes = [w for w, _o, _n in seen]
    if bulk and move == "move":
        # front only gains rules: one PUT now; back only loses some: one PUT once front has them
        assert writes == [f"PUT {FRONT}", f"PUT {BACK}"]
    elif bulk:  # each NSG: its additions, then (after both) its final rules
        assert writes == [f"PUT {BACK}", f"PUT {FRONT}", f"PUT {BACK}", f"PUT {FRONT}"]
    else:
        deletes = [i for i, w in enumerate(writes) if w.startswith("DELETE")]
        puts = [i for i, w in enumerate(writes) if w.startswith("PUT")]
        assert puts and deletes and max(puts) < min(deletes)  # adds, then removes
    assert cli(capsys, "drift", after, "-t", "azure")[0] == 0
    assert_azure_equivalent(compile_spec(after).topology, _live(sdk, after))


def test_turning_one_nsg_into_one_per_subnet_reassociates_before_deleting(sdk: Any, tmp_path: Path, capsys) -> None:
    data = spec_data()
    whole = {
        **data,
        "targets": {
            "azure": {
                **data["targets"]["azure"],
                "subnets": [{k: v for k, v in s.items() if k != "roles"} for s in data["targets"]["azure"]["subnets"]],
            }
        },
    }
    assert cli(capsys, "apply", write(tmp_path, whole, "whole.yaml"), "-t", "azure", "--auto-approve")[0] == 0
    assert [n.name for n in sdk.network_security_groups.list(RG)] == ["split-nsg"]
    spec = write(tmp_path, data)
    code, out, _ = cli(capsys, "plan", spec, "-t", "azure", "-f", "json")
    removed = [c for c in json.loads(out)["changes"] if c["action"] == "remove"]
    assert [(c["kind"], c["name"]) for c in removed] == [("nsg", "split-nsg")]
    assert "the spec no longer has it" in removed[0]["reason"]
    assert cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")[0] == 0
    assert sorted(n.name for n in sdk.network_security_groups.list(RG)) == [BACK, FRONT]
    assert (subnet_nsg(sdk, RG, "vnet", "front"), subnet_nsg(sdk, RG, "vnet", "back")) == (FRONT, BACK)
    assert cli(capsys, "drift", spec, "-t", "azure")[0] == 0


def test_import_reads_one_nsg_per_subnet_back_as_subnet_roles(sdk: Any, tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, spec_data())
    assert cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")[0] == 0
    out = tmp_path / "imported.yaml"
    code, _, err = cli(capsys, "import", "-t", "azure", "--resource-group", RG, "--out", out)
    assert code == 0, err
    subnets = yaml.safe_load(out.read_text())["targets"]["azure"]["subnets"]
    assert {s["name"]: s["roles"] for s in subnets} == {"front": ["web"], "back": ["app", "db"]}
    imported = desired_state(compile_spec(out), "azure")
    assert {n: set(nsg.rules) for n, nsg in imported.nsgs.items()} == {
        n: set(nsg.rules) for n, nsg in desired_state(compile_spec(spec), "azure").nsgs.items()
    }
