"""`cloudports query`: answers with reasons and exit codes, and agreement with the independent evaluators of
tests/semantics.py (the product's evaluators live in cloudports/query and cloudports/targets/<cloud>/explain)."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path
from typing import Any

import pytest

from cloudports.cli import main
from cloudports.pipeline import compile_spec, desired_state
from cloudports.query.intent import explain_intent
from cloudports.query.model import Point, Probe
from cloudports.targets import registry
from tests.semantics import AwsModel, AzureModel, SpecModel, _prepare, probe_points

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIST = EXAMPLES / "dynamics365-distributed" / "topology.yaml"
CORP_WEB_LINE = f"{DIST}:36"  # the flow `from: corp, to: web` (users reach the web port)


def run(capsys: Any, *args: str) -> tuple[int, str]:
    code = main(["query", str(DIST), *args])
    return code, capsys.readouterr().out


def run_json(capsys: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, text = run(capsys, *args, "--format", "json")
    return code, json.loads(text)


# ------------------------------------------------------------------------------------ the seed facts


@pytest.mark.parametrize("target", [None, "aws", "azure"])
@pytest.mark.parametrize(
    ("to", "port", "code", "word"), [("web", "tcp/5555", 0, "ALLOWED"), ("sql", "tcp/1433", 3, "DENIED")]
)
def test_seed_corp_users_reach_the_web_port_not_sql(
    capsys: Any, target: str | None, to: str, port: str, code: int, word: str
) -> None:
    extra = ["--target", target] if target else []
    got, text = run(capsys, "--from", "corp", "--to", to, "--port", port, *extra)
    assert (got, word in text) == (code, True), text


def test_intent_names_the_flow_and_its_spec_line(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "corp", "--to", "web", "--port", "tcp/443")
    assert code == 0
    reasons = doc["answers"][0]["reasons"]
    assert [r["ref"] for r in reasons] == [CORP_WEB_LINE]
    assert reasons[0]["direction"] == "ingress" and reasons[0]["admits"]


def test_intent_denial_says_no_flow(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "corp", "--to", "sql", "--port", "tcp/1433")
    assert code == 3 and doc["allowed"] is False
    (reason,) = doc["answers"][0]["reasons"]
    assert not reason["admits"] and "no flow lets corp" in reason["text"]


def test_aws_answer_names_the_rule_key(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "web", "--to", "sql", "--port", "tcp/1433", "-t", "aws")
    assert code == 0
    refs = {(r["direction"], r["ref"]) for r in doc["answers"][0]["reasons"]}
    assert ("ingress", "sql/in/tcp/1433/sg:web") in refs
    assert ("egress", "web/out/tcp/1433/sg:sql") in refs


def test_azure_answer_names_rules_and_priorities_each_direction(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "web", "--to", "sql", "--port", "tcp/1433", "-t", "azure")
    assert code == 0
    reasons = doc["answers"][0]["reasons"]
    assert {r["direction"] for r in reasons} == {"ingress", "egress"}
    assert all(r["admits"] and 100 <= r["priority"] < 4000 for r in reasons)


def test_azure_denial_by_deny_vnet_inbound(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "corp", "--to", "sql", "--port", "tcp/1433", "-t", "azure")
    assert code == 3
    (reason,) = doc["answers"][0]["reasons"]
    assert (reason["ref"], reason["priority"], reason["admits"]) == ("deny-vnet-inbound", 4096, False)


def test_internet_is_stopped_by_azure_deny_all_inbound(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "internet", "--to", "web", "--port", "tcp/443", "-t", "azure")
    assert code == 3 and doc["from"] == "internet"
    assert {(r["ref"], r["priority"]) for r in doc["answers"][0]["reasons"]} == {("DenyAllInBound", 65500)}


def test_internet_denied_by_intent(capsys: Any) -> None:
    code, text = run(capsys, "--from", "internet", "--to", "web", "--port", "tcp/443")
    assert code == 3 and "no flow lets internet" in text


@pytest.mark.parametrize(
    ("target", "marker"),
    [
        (None, "strict egress: no flow from web"),
        ("aws", "strict egress: no egress rule on d365dist-web"),
        ("azure", "deny-all-outbound (priority 4096)"),
    ],
)
def test_strict_egress_stops_the_source(capsys: Any, target: str | None, marker: str) -> None:
    extra = ["--target", target] if target else []
    code, text = run(capsys, "--from", "web", "--to", "internet", "--port", "tcp/443", *extra)
    assert code == 3 and marker in text, text


def test_an_address_inside_a_network_counts_as_that_network(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "10.20.3.4", "--to", "web", "--port", "tcp/443")
    assert code == 0 and doc["from"] == "address 10.20.3.4 (in network corp)"
    assert doc["answers"][0]["reasons"][0]["ref"] == CORP_WEB_LINE
    assert run(capsys, "--from", "10.21.0.1", "--to", "web", "--port", "tcp/443")[0] == 3


def test_azure_icmp_widening_is_explained(capsys: Any) -> None:
    # The spec allows ping (icmp/8) from domain members to the DC; Azure can only allow all ICMP.
    assert run(capsys, "--from", "web", "--to", "dc", "--port", "icmp/0")[0] == 3
    assert run(capsys, "--from", "web", "--to", "dc", "--port", "icmp/0", "-t", "aws")[0] == 3
    code, doc = run_json(capsys, "--from", "web", "--to", "dc", "--port", "icmp/0", "-t", "azure")
    assert code == 0
    texts = " ".join(r["text"] for r in doc["answers"][0]["reasons"])
    assert "cannot filter ICMP by type" in texts and f"{DIST}:80" in texts
    code, doc = run_json(capsys, "--from", "web", "--to", "dc", "--port", "icmp/8", "-t", "azure")
    assert code == 0 and "cannot filter" not in json.dumps(doc)


def test_json_shape(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "corp", "--to", "web", "--port", "tcp/443", "-t", "azure")
    assert code == 0
    assert set(doc) == {"version", "command", "from", "to", "by", "target", "allowed", "answers"}
    assert (doc["from"], doc["to"], doc["target"], doc["allowed"]) == ("network corp", "role web", "azure", True)
    (answer,) = doc["answers"]
    assert set(answer) == {"port", "allowed", "reasons"} and answer["port"] == "tcp/443"
    assert {"direction", "admits", "text"} <= set(answer["reasons"][0])


def test_without_port_lists_every_allowed_range(capsys: Any) -> None:
    for target in ([], ["-t", "aws"], ["-t", "azure"]):
        code, doc = run_json(capsys, "--from", "corp", "--to", "web", *target)
        assert code == 0 and [a["port"] for a in doc["answers"]] == ["tcp/443", "tcp/5555"]
    code, doc = run_json(capsys, "--from", "corp", "--to", "sql")
    assert code == 3 and doc["answers"] == []


def test_listing_ranges_and_icmp(capsys: Any) -> None:
    code, doc = run_json(capsys, "--from", "web", "--to", "dc", "-t", "aws")
    ports = [a["port"] for a in doc["answers"]]
    assert code == 0 and "tcp/49152-65535" in ports and "icmp/8:0" in ports and "icmp (every type)" not in ports
    code, doc = run_json(capsys, "--from", "web", "--to", "dc", "-t", "azure")
    assert "icmp (every type)" in [a["port"] for a in doc["answers"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "wbe", "--to", "web"], "did you mean 'web'"),
        (["--from", "corp", "--to", "web", "--port", "tcp/http"], "tcp/1433"),
        (["--from", "corp", "--to", "web", "--port", "tcp443"], "cannot read port 'tcp443'\n    did you mean tcp/443?"),
        (["--from", "corp", "--to", "web", "--port", "443/UDP"], "did you mean udp/443?"),
        (["--from", "corp", "--to", "web", "--port", "icmp8"], "did you mean icmp/8?"),
        (["--from", "corp", "--to", "web", "--port", "tcp/99999"], "port 99999 is outside 0-65535"),
        (["--from", "corp", "--to", "web", "--port", "icmp/3:300"], "ICMP code 300 is outside 0-255"),
        (["--from", "corp", "--to", "web", "--port", "tcp/9-3"], "did you mean tcp/3-9?"),
        (["--from", "corp", "--to", "web", "--port", "icmp"], "needs an ICMP type"),
        (["--from", "corp", "--to", "admin"], "one side of a query must be a role"),
        (["--from", "corp", "--to", "web", "-t", "gcp"], "unknown target"),
    ],
)
def test_errors_exit_1(capsys: Any, args: list[str], message: str) -> None:
    code = main(["query", str(DIST), *args])
    captured = capsys.readouterr()
    assert code == 1 and message in captured.err + captured.out


# ------------------------------------------------------------------------------------ agreement


def _probe(topology_roles: set[str], raw: tuple[str, str, str, object]) -> Probe:
    s, d, proto, port = _prepare(*raw, topology_roles)

    def point(end: Any) -> Point:
        return Point(role=end.role) if end.role is not None else Point(addr=ipaddress.ip_address(str(end.addr)))

    return Probe(point(s), point(d), proto, port)  # type: ignore[arg-type]


SPECS = sorted(EXAMPLES.glob("*/topology.yaml"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_product_agrees_with_the_independent_evaluators(spec: Path) -> None:
    policy = compile_spec(spec)
    topology = policy.topology
    aws_state, azure_state = desired_state(policy, "aws"), desired_state(policy, "azure")
    models = {
        "intent": SpecModel(topology),
        "aws": AwsModel(aws_state),
        "azure": AzureModel(azure_state),
    }
    product = {
        "intent": lambda p: explain_intent(topology, p),
        "aws": lambda p: registry.get("aws").explain(aws_state, p),
        "azure": lambda p: registry.get("azure").explain(azure_state, p),
    }
    probes = probe_points(topology)
    if spec != DIST:
        probes = random.Random(7).sample(probes, min(len(probes), 3000))
    bad = []
    for raw in probes:
        prepared = _prepare(*raw, set(topology.roles))
        probe = _probe(set(topology.roles), raw)
        for name, model in models.items():
            want = model._allows(*prepared)
            verdict = product[name](probe)
            if verdict.allowed != want:
                bad.append((name, raw, want))
            assert any(r.admits == verdict.allowed for r in verdict.reasons), (name, raw, verdict)
    assert not bad, bad[:10]
