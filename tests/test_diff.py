"""`cloudports diff`: hand-made changes with known answers, git revisions, and random edits against the independent
evaluator of tests/semantics.py (every reported change is real at its example; every change it sees is reported)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudports.cli import main
from cloudports.query.change import Change, View, find_changes
from cloudports.spec import load_topology
from cloudports.spec.model import Topology
from tests.semantics import SpecModel, probe_points
from tests.support.runs import examples
from tests.test_semantics import spec_dicts

LAB: dict[str, Any] = {
    "name": "shop",
    "egress": "strict",
    "networks": {"office": {"ipv4": ["10.1.0.0/24"]}},
    "roles": {"web": {}, "app": {}, "db": {}},
    "flows": [
        {"from": "office", "to": "web", "services": ["tcp/443"]},
        {"from": "web", "to": "app", "services": ["tcp/8080"]},
        {"from": "app", "to": "db", "services": ["tcp/5432"]},
    ],
}


def _write(folder: Path, name: str, spec: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _edited(**changes: Any) -> dict[str, Any]:
    return {**yaml.safe_load(yaml.safe_dump(LAB)), **changes}


def _diff(capsys: Any, *args: Any) -> tuple[int, dict[str, Any]]:
    code = main(["diff", *map(str, args), "-f", "json"])
    return code, json.loads(capsys.readouterr().out)


def _rows(document: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(c["change"], c["source"], c["destination"], c["traffic"]) for c in document["changes"]}


def test_widening_a_network_opens_only_the_new_addresses(tmp_path: Path, capsys: Any) -> None:
    old = _write(tmp_path, "old.yaml", LAB)
    new = _write(tmp_path, "new.yaml", _edited(networks={"office": {"ipv4": ["10.1.0.0/23"]}}))
    code, document = _diff(capsys, old, new)
    assert code == 2 and document["command"] == "diff" and document["version"] == 1
    assert _rows(document) == {("opened", "10.1.1.0/24 (office)", "web", "tcp/443")}
    for target in ("aws", "azure"):
        code, judged = _diff(capsys, old, new, "-t", target)
        assert code == 2 and _rows(judged) == _rows(document)


def test_a_new_port_is_opened_with_the_flow_that_opens_it(tmp_path: Path, capsys: Any) -> None:
    flows = [*LAB["flows"][:2], {"from": "app", "to": "db", "services": ["tcp/5432", "tcp/5433"]}]
    code, document = _diff(capsys, _write(tmp_path, "a.yaml", LAB), _write(tmp_path, "b.yaml", _edited(flows=flows)))
    assert code == 2 and _rows(document) == {("opened", "app", "db", "tcp/5433")}
    change = document["changes"][0]
    assert any("b.yaml:" in reason for reason in change["after"]), change
    assert any("no flow lets app reach db" in reason for reason in change["before"]), change


def test_strict_to_open_egress_opens_every_role_to_every_address(tmp_path: Path, capsys: Any) -> None:
    old, new = _write(tmp_path, "a.yaml", LAB), _write(tmp_path, "b.yaml", _edited(egress="open"))
    code, document = _diff(capsys, old, new)
    rows = _rows(document)
    assert code == 2 and all(change == "opened" for change, *_ in rows)
    assert ("opened", "db", "web", "all traffic") not in rows  # web admits nothing from db: ingress still decides
    assert {(s, t) for _, s, d, t in rows if d == "web"} == set()  # nor does anything new reach web
    assert any(s == "db" and d.startswith("0.0.0.0") and t == "all traffic" for _, s, d, t in rows), rows
    code, back = _diff(capsys, new, old)
    assert {(s, d, t) for _, s, d, t in _rows(back)} == {(s, d, t) for _, s, d, t in rows}
    assert all(c["change"] == "closed" for c in back["changes"])


def test_removing_a_flow_another_flow_covers_changes_no_traffic(tmp_path: Path, capsys: Any) -> None:
    covered = _edited(flows=[*LAB["flows"], {"from": "web", "to": "app", "services": ["tcp/8000-8100"]}])
    old = _write(tmp_path, "a.yaml", covered)
    new = _write(tmp_path, "b.yaml", _edited(flows=[LAB["flows"][0], *covered["flows"][2:]]))
    code, document = _diff(capsys, old, new)
    assert code == 0 and document["changes"] == []
    assert main(["diff", str(old), str(new)]) == 0 and "no traffic changes" in capsys.readouterr().out


def test_a_removed_role_closes_its_traffic(tmp_path: Path, capsys: Any) -> None:
    roles = {"web": {}, "app": {}}
    new = _edited(roles=roles, flows=LAB["flows"][:2])
    code, document = _diff(capsys, _write(tmp_path, "a.yaml", LAB), _write(tmp_path, "b.yaml", new))
    assert code == 2 and _rows(document) == {("closed", "app", "db", "tcp/5432")}
    assert document["changes"][0]["after"] == ["no role db on this side"]


def test_a_spec_at_a_git_revision(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    repo = tmp_path / "repo"
    (repo / "lab").mkdir(parents=True)
    spec = _write(repo / "lab", "spec.yaml", LAB)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "lab"], check=True)
    _write(repo / "lab", "spec.yaml", _edited(networks={"office": {"ipv4": ["10.1.0.0/23"]}}))
    monkeypatch.chdir(repo)
    code, document = _diff(capsys, "HEAD:lab/spec.yaml", spec)
    assert code == 2 and _rows(document) == {("opened", "10.1.1.0/24 (office)", "web", "tcp/443")}
    assert main(["diff", "HEAD:lab/nothing.yaml", str(spec)]) == 1
    assert "HEAD:lab/nothing.yaml: no such file at revision HEAD" in capsys.readouterr().err
    assert main(["diff", "no-such-rev:lab/spec.yaml", str(spec)]) == 1
    assert "no-such-rev" in (err := capsys.readouterr().err) and "REV:path" in err and "Traceback" not in err


def test_newly_exposed_risky_ports_are_named(tmp_path: Path, capsys: Any) -> None:
    wide = {**LAB["networks"], "partners": {"ipv4": ["44.0.0.0/7"]}}
    flows = [*LAB["flows"], {"from": "partners", "to": "db", "services": ["tcp/5432"]}]
    code, document = _diff(
        capsys, _write(tmp_path, "a.yaml", LAB), _write(tmp_path, "b.yaml", _edited(networks=wide, flows=flows))
    )
    assert code == 2 and [e["severity"] for e in document["exposures"]] == ["warning"]
    assert "'partners'" in document["exposures"][0]["message"] and "b.yaml:" in document["exposures"][0]["at"]


# --------------------------------------------------------------------------------------------- property


def _judge(topology: Topology) -> Callable[[str, str, str, object], bool]:
    """The independent evaluator for one side (its index built once); a role the side does not have has no
    machines."""
    model = SpecModel(topology)

    def allows(src: str, dst: str, proto: str, port: object) -> bool:
        if any(not _is_address(end) and end not in topology.roles for end in (src, dst)):
            return False
        return model.allows(src, dst, proto, port)

    return allows


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _load(spec: dict[str, Any]) -> Topology:
    with tempfile.TemporaryDirectory() as tmp:
        return load_topology(_write(Path(tmp), "spec.yaml", spec))


def _probe_text(change: Change) -> tuple[str, str, str, object]:
    assert change.example is not None
    probe = change.example
    ends = [str(end.role) if end.role is not None else str(end.addr) for end in (probe.src, probe.dst)]
    return ends[0], ends[1], probe.protocol, probe.port


@settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=spec_dicts(), new=spec_dicts(), keep=st.integers(0, 12))
def test_random_edits_agree_with_the_independent_evaluator(old: dict, new: dict, keep: int) -> None:
    edited = {**old, "flows": old["flows"][:keep] + new["flows"][keep:], "egress": new["egress"]}
    edited["roles"] = {**old["roles"], **new["roles"]}
    edited["networks"] = {**new["networks"], **old["networks"]}
    edited["services"] = {**new["services"], **old["services"]}
    before, after = _load(old), _load(edited)
    changes = find_changes("spec", View.of_intent(before), View.of_intent(after))
    was_allowed, now_allowed = _judge(before), _judge(after)
    for change in changes:  # every reported change is real at its example
        src, dst, proto, port = _probe_text(change)
        assert now_allowed(src, dst, proto, port) == change.opened != was_allowed(src, dst, proto, port)
    reported = {(c.opened, c.source, c.destination) for c in changes}
    for src, dst, proto, port in {*probe_points(before), *probe_points(after)}:
        was, now = was_allowed(src, dst, proto, port), now_allowed(src, dst, proto, port)
        if was != now:  # every change the evaluator sees is reported, for that pair of ends
            role_pair = src in after.roles | before.roles and dst in after.roles | before.roles
            assert not role_pair or (now, src, dst) in reported, (src, dst, proto, port, now)
            assert role_pair or any(o == now and (s == src or d == dst) for o, s, d in reported)


def test_live_against_the_spec_shows_what_a_hand_made_rule_opened(
    tmp_path: Path, capsys: Any, vpc: str, ec2: Any
) -> None:
    spec = _write(tmp_path, "spec.yaml", LAB)
    assert main(["apply", str(spec), "-t", "aws", "--vpc-id", vpc, "--auto-approve"]) == 0
    capsys.readouterr()
    code, document = _diff(capsys, spec, "--live", "-t", "aws", "--vpc-id", vpc)
    assert code == 0 and document["changes"] == [] and document["new"] == "live"
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    db = next(
        g["GroupId"] for g in groups if any(t == {"Key": "cloudports:role", "Value": "db"} for t in g.get("Tags", []))
    )
    ec2.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.1.0.0/24"}]}],
    )
    code, document = _diff(capsys, spec, "--live", "-t", "aws", "--vpc-id", vpc)
    assert code == 2 and _rows(document) == {("opened", "10.1.0.0/24 (office)", "db", "tcp/22")}


def test_markdown_for_a_pull_request_puts_exposures_first(tmp_path: Path, capsys: Any) -> None:
    wide = {**LAB["networks"], "partners": {"ipv4": ["44.0.0.0/7"]}}
    flows = [*LAB["flows"][:2], {"from": ["app", "partners"], "to": "db", "services": ["tcp/5432", "tcp/6432"]}]
    new = _write(tmp_path, "b.yaml", _edited(networks=wide, flows=flows))
    assert main(["diff", str(_write(tmp_path, "a.yaml", LAB)), str(new), "-f", "markdown"]) == 2
    text = capsys.readouterr().out
    assert text.startswith("### cloudports diff: 2 opened, 0 closed\n")
    assert text.index("**Newly exposed risky ports**") < text.index("#### Opened, judged by the spec's intent")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "traffic" not in line]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| app", "db", "tcp/6432"],
        ["| 44.0.0.0/7 (partners)", "db", "tcp/5432, tcp/6432"],
    ]
    assert all("b.yaml:" in row for row in rows)


def test_sarif_reports_the_new_exposures_at_the_new_spec(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    wide = {**LAB["networks"], "partners": {"ipv4": ["44.0.0.0/7"]}}
    flows = [*LAB["flows"], {"from": "partners", "to": "db", "services": ["tcp/5432"]}]
    new = _write(tmp_path, "b.yaml", _edited(networks=wide, flows=flows))
    assert main(["diff", str(_write(tmp_path, "a.yaml", LAB)), str(new), "-f", "sarif"]) == 2
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["exposure/risky-port"] and results[0]["level"] == "warning"
    place = results[0]["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == "b.yaml" and place["region"]["startLine"] > 1
    assert main(["diff", str(new), str(new), "-f", "sarif"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["results"] == []


def _group_id(ec2: Any, vpc: str, role: str) -> str:
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    tag = {"Key": "cloudports:role", "Value": role}
    return next(g["GroupId"] for g in groups if tag in g.get("Tags", []))


def _live(capsys: Any, command: str, spec: Path, vpc: str, *more: str) -> tuple[int, dict[str, Any]]:
    code = main([command, str(spec), "-t", "aws", "--vpc-id", vpc, "--explain", "-f", "json", *more])
    return code, json.loads(capsys.readouterr().out)


def test_plan_and_drift_explain_the_traffic(tmp_path: Path, capsys: Any, vpc: str, ec2: Any) -> None:
    spec = _write(tmp_path, "spec.yaml", LAB)
    assert main(["apply", str(spec), "-t", "aws", "--vpc-id", vpc, "--auto-approve"]) == 0
    capsys.readouterr()
    wider = _write(tmp_path, "wider.yaml", _edited(networks={"office": {"ipv4": ["10.1.0.0/23"]}}))
    _, planned = _live(capsys, "plan", wider, vpc)
    assert planned["changes"] and _rows({"changes": planned["traffic"]}) == {
        ("opened", "10.1.1.0/24 (office)", "web", "tcp/443")
    }
    rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.1.0.0/24"}]}
    ec2.authorize_security_group_ingress(GroupId=_group_id(ec2, vpc, "db"), IpPermissions=[rule])
    code, drifted = _live(capsys, "drift", spec, vpc)
    assert code == 2 and _rows({"changes": drifted["traffic"]}) == {("opened", "10.1.0.0/24 (office)", "db", "tcp/22")}
    _, planned = _live(capsys, "plan", spec, vpc)  # apply would close what the hand-made rule opened
    assert _rows({"changes": planned["traffic"]}) == {("closed", "10.1.0.0/24 (office)", "db", "tcp/22")}
    assert main(["plan", str(spec), "-t", "aws", "--vpc-id", vpc, "--explain"]) == 0
    text = capsys.readouterr().out
    assert "traffic apply would open and close: 0 opened, 1 closed" in text and "db: tcp/22" in text
    assert main(["plan", str(spec), str(spec), "-t", "aws", "--vpc-id", vpc, "--explain"]) == 1
    assert "--explain reads one spec" in capsys.readouterr().err


def test_plan_explain_leaves_kept_rules_out(tmp_path: Path, capsys: Any, vpc: str, ec2: Any) -> None:
    spec = _write(tmp_path, "spec.yaml", LAB)
    assert main(["apply", str(spec), "-t", "aws", "--vpc-id", vpc, "--auto-approve"]) == 0
    rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.1.0.0/24"}]}
    ec2.authorize_security_group_ingress(GroupId=_group_id(ec2, vpc, "db"), IpPermissions=[rule])
    capsys.readouterr()
    _, drifted = _live(capsys, "drift", spec, vpc)
    key = next(c["name"] for c in drifted["changes"] if c["action"] == "remove")
    kept = _write(tmp_path, "kept.yaml", _edited(targets={"aws": {"unmanaged": [key]}}))
    _, planned = _live(capsys, "plan", kept, vpc)
    assert planned["changes"] == [] and planned["traffic"] == [] and [k["name"] for k in planned["kept"]] == [key]


def test_live_azure_against_the_spec_shows_what_a_hand_edit_opened(arm: Any, capsys: Any) -> None:
    from tests.support.azure_live import DISTRIBUTED, add_subnets, sdk_client

    add_subnets(arm, DISTRIBUTED)
    assert main(["apply", str(DISTRIBUTED), "-t", "azure", "--auto-approve"]) == 0
    capsys.readouterr()
    code, document = _diff(capsys, DISTRIBUTED, "--live", "-t", "azure")
    assert code == 0 and document["changes"] == []
    sdk = sdk_client(arm)
    halves = [r for r in sdk.security_rules.list("rg-d365dist", "d365dist-nsg") if "3268" in str(r.name)]
    for rule in sorted(halves, key=lambda r: r.direction != "Inbound"):  # inbound first
        rule.destination_port_ranges = [*rule.destination_port_ranges, "3306"]  # by hand: MySQL on the dc
        sdk.security_rules.begin_create_or_update("rg-d365dist", "d365dist-nsg", rule.name, rule).result()
        if rule.direction == "Inbound":  # strict egress: the inbound half alone opens nothing
            assert _diff(capsys, DISTRIBUTED, "--live", "-t", "azure")[0] == 0
    code, document = _diff(capsys, DISTRIBUTED, "--live", "-t", "azure")
    opened = {(c["source"], c["destination"], c["traffic"]) for c in document["changes"] if c["change"] == "opened"}
    assert code == 2 and opened and all(dst == "dc" and traffic == "tcp/3306" for _src, dst, traffic in opened)
    assert {src for src, _dst, _traffic in opened} >= {"web", "sql"}
    assert all(c["change"] == "opened" for c in document["changes"])


def test_azure_plan_explain_keeps_what_the_spec_keeps(arm: Any, capsys: Any, tmp_path: Path) -> None:
    from tests.support.azure_live import DISTRIBUTED, add_subnets, sdk_client, sdk_rule

    add_subnets(arm, DISTRIBUTED)
    assert main(["apply", str(DISTRIBUTED), "-t", "azure", "--auto-approve"]) == 0
    ssh = sdk_rule(
        priority=150,
        direction="Inbound",
        protocol="Tcp",
        destination_port_range="22",
        source_address_prefix="10.99.0.0/24",
        destination_address_prefix="*",
    )
    sdk_client(arm).security_rules.begin_create_or_update("rg-d365dist", "d365dist-nsg", "allow-ssh", ssh).result()
    capsys.readouterr()
    code = main(["drift", str(DISTRIBUTED), "-t", "azure", "--explain", "-f", "json"])
    drifted = json.loads(capsys.readouterr().out)
    assert code == 2 and drifted["traffic"] and {c["change"] for c in drifted["traffic"]} == {"opened"}
    assert {c["traffic"] for c in drifted["traffic"]} == {"tcp/22"}
    spec = yaml.safe_load(DISTRIBUTED.read_text())
    spec["targets"]["azure"]["unmanaged"] = [{"nsg": "d365dist-nsg", "rule": "allow-ssh"}]
    kept = _write(tmp_path, "kept.yaml", spec)
    assert main(["plan", str(kept), "-t", "azure", "--explain", "-f", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["changes"] == [] and planned["traffic"] == []
    assert main(["plan", str(DISTRIBUTED), "-t", "azure", "--explain", "-f", "json"]) == 0
    closing = json.loads(capsys.readouterr().out)
    assert {(c["change"], c["traffic"]) for c in closing["traffic"]} == {("closed", "tcp/22")}


def test_moving_a_role_to_another_subnet_changes_no_traffic_on_azure(tmp_path: Path, capsys: Any) -> None:
    from tests.test_azure_split import spec_data

    before = _write(tmp_path, "a.yaml", spec_data())
    moved = _write(tmp_path, "b.yaml", spec_data([{"front": ["web", "app"]}, {"back": ["db"]}]))
    code, document = _diff(capsys, before, moved, "-t", "azure")
    assert code == 0 and document["changes"] == []  # the rules move between NSGs, the decisions stay
    narrowed = spec_data([{"front": ["web", "app"]}, {"back": ["db"]}])
    narrowed["flows"][2]["services"] = ["tcp/5433"]
    code, document = _diff(capsys, moved, _write(tmp_path, "c.yaml", narrowed), "-t", "azure")
    assert code == 2 and _rows(document) == {("opened", "app", "db", "tcp/5433"), ("closed", "app", "db", "tcp/5432")}
