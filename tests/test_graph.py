"""`cloudports graph`: every example in every format, filters, phases, exposure marks, determinism, no `dot`."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from cloudports.cli import main
from cloudports.graph.explore import find_mesh
from cloudports.graph.layout import columns
from cloudports.graph.model import build_graph, node_id
from cloudports.graph.render import dot_string
from cloudports.pipeline import compile_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*/topology.yaml"))
FORMATS = ("mermaid", "dot", "svg", "html")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")

TINY = {
    "name": "tiny",
    "networks": {"partner": {"ipv4": ["203.0.113.0/24"]}, "wide": {"ipv4": ["20.0.0.0/6"]}},
    "roles": {"web": {}, "db": {}, "jump": {}},
    "flows": [
        {"from": "internet", "to": "jump", "services": ["tcp/22"], "allow_exposure": "lab, torn down nightly"},
        {"from": "wide", "to": "web", "services": ["tcp/3389"], "description": "wide RDP"},
        {"from": "web", "to": "db", "services": ["tcp/5432"], "phase": "setup"},
        {"from": "partner", "to": "web", "services": ["tcp/443"], "description": 'say "hi" \\ back'},
    ],
}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(TINY, sort_keys=False))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["graph", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def svg_texts(text: str) -> str:
    root = ET.fromstring(text)
    return "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_renders_in_every_format(
    example: Path, fmt: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if fmt == "svg" and shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed")
    code, out, _ = run(capsys, example, "--format", fmt)
    assert code == 0 and out
    target = tmp_path / f"graph.{fmt}"
    assert run(capsys, example, "-f", fmt, "--out", target)[0] == 0
    assert target.read_text(encoding="utf-8") == out  # --out writes exactly what stdout shows
    assert run(capsys, example, "-f", fmt)[1] == out  # deterministic


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_mermaid_and_dot_hold_every_node_and_flow(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = compile_spec(example).topology
    mermaid, dot = run(capsys, example)[1], run(capsys, example, "-f", "dot")[1]
    assert mermaid.splitlines()[3] == "flowchart LR"
    assert dot.startswith("digraph ")
    user_networks = [n for n in topo.networks if n != "internet"]
    for name in [*topo.roles, *user_networks]:
        assert f"{node_id(name)}[" in mermaid or f"{node_id(name)}([" in mermaid
        assert f"  {node_id(name)} [label=" in dot
    for flow in [*topo.flows, *topo.skipped_flows]:
        for src in flow.sources:
            for dst in flow.destinations:
                arrow = "-.->" if flow.phase else "-->"
                edges = [line for line in mermaid.splitlines() if line.startswith(f"    {node_id(src)} {arrow}|")]
                assert any(line.endswith(f"| {node_id(dst)}") and flow.service_names[0] in line for line in edges)
                assert any(
                    line.startswith(f"  {node_id(src)} -> {node_id(dst)} [") and flow.service_names[0] in line
                    for line in dot.splitlines()
                )


@needs_dot
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_svg_is_xml_naming_every_role_and_service(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = compile_spec(example).topology
    code, out, _ = run(capsys, example, "-f", "svg")
    assert code == 0
    texts = svg_texts(out)
    for role in topo.roles:
        assert role in texts.splitlines()
    for flow in [*topo.flows, *topo.skipped_flows]:
        for service in flow.service_names:
            assert service in texts


def test_html_is_one_page_that_needs_nothing_else(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no Graphviz
    out = run(capsys, tiny, "-f", "html")[1]
    assert out.startswith("<!DOCTYPE html>") and out.count("<svg") == 1
    # nothing fetched when it opens: no external script, style, image or font
    assert not re.search(r"""(src|href)\s*=|<link|@import|url\((?!#)""", out)
    assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg)", out)
    svg = out[out.index("<svg") : out.index("</svg>") + len("</svg>")]
    texts = ["".join(t.itertext()) for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}tspan")]
    assert {"web", "db", "jump", "internet", "partner", "wide"} <= set(svg_texts(svg).splitlines())
    assert "tcp/3389" in texts and "tcp/5432" in texts  # edge labels: ports, each once


def test_html_embeds_every_flow_with_its_place_and_exposure(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, tiny, "-f", "html")[1]
    data = json.loads(out.split('<script type="application/json" id="cloudports-data">', 1)[1].split("</script>")[0])
    flows = {(f["from"][0], f["to"][0]): f for f in data["flows"].values()}
    assert set(flows) == {("internet", "jump"), ("wide", "web"), ("web", "db"), ("partner", "web")}
    assert flows[("web", "db")]["phase"] == "setup" and flows[("web", "db")]["at"] == "topology.yaml:24"
    assert flows[("internet", "jump")]["allowed"] == "lab, torn down nightly"
    assert "tcp/3389" in flows[("wide", "web")]["exposure"][0]  # the lint's reason
    assert flows[("partner", "web")]["description"] == 'say "hi" \\ back'
    edge = {(e["members"][0], e["members"][1]): e for e in data["bundles"].values() if e["kind"] == "edge"}
    assert edge.keys() == flows.keys()


def test_role_shows_only_its_ingress_and_egress(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = build_graph(compile_spec(tiny), "web")
    assert {(e.source, e.target) for e in graph.edges} == {
        ("n_wide", "n_web"),
        ("n_web", "n_db"),
        ("n_partner", "n_web"),
    }
    assert [n.name for n in graph.nodes] == ["db", "web", "partner", "wide"]
    mermaid = run(capsys, tiny, "--role", "web")[1]
    assert "n_jump" not in mermaid and "n_internet" not in mermaid


def test_unknown_role_is_a_clear_error(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, tiny, "--role", "wbe")
    assert code == 1 and not out
    assert "--role wbe: no such role" in err and "did you mean 'web'?" in err
    assert "Traceback" not in err


def test_phase_flows_are_dashed_and_named(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for phase in ((), ("--phase", "setup")):  # dashed whether the phase is left out or chosen
        mermaid = run(capsys, tiny, *phase)[1]
        assert '    n_web -.->|"phase: setup<br/>tcp/5432' in mermaid
        assert mermaid.count("-.->") == 1
        dot = run(capsys, tiny, "-f", "dot", *phase)[1]
        (line,) = [x for x in dot.splitlines() if x.startswith("  n_web -> n_db")]
        assert "style=dashed" in line and "phase: setup" in line


def test_exposure_marked_flows_are_red_with_a_warning_sign(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = build_graph(compile_spec(tiny))
    flags = {(e.source, e.target): e.flagged for e in graph.edges}
    assert flags == {
        ("n_internet", "n_jump"): "exposure allowed",  # allow_exposure
        ("n_wide", "n_web"): "exposure warning",  # the lint's warning
        ("n_web", "n_db"): "",
        ("n_partner", "n_web"): "",
    }
    dot = run(capsys, tiny, "-f", "dot")[1].splitlines()
    red = [line for line in dot if "color=" in line and " -> " in line]
    assert len(red) == 2 and all("⚠" in line for line in red)
    mermaid = run(capsys, tiny)[1]
    edges = [line for line in mermaid.splitlines() if "-->" in line or "-.->" in line]
    marked = [i for i, line in enumerate(edges) if "⚠" in line]
    assert len(marked) == 2
    assert f"    linkStyle {','.join(map(str, marked))} stroke:" in mermaid


def test_dot_labels_are_escaped(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dot_string('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    dot = run(capsys, tiny, "-f", "dot")[1]
    assert 'tooltip="say \\"hi\\" \\\\ back"' in dot


@needs_dot
def test_dot_escaping_survives_graphviz(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg = run(capsys, tiny, "-f", "svg")[1]
    titles = [el.get("{http://www.w3.org/1999/xlink}title") for el in ET.fromstring(svg).iter()]
    assert 'say "hi" \\ back' in titles


def test_output_is_deterministic(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("mermaid", "dot"):
        assert run(capsys, tiny, "-f", fmt)[1] == run(capsys, tiny, "-f", fmt)[1]
    reordered = dict(TINY, flows=list(reversed(TINY["flows"])))  # spec order does not matter
    tiny.write_text(yaml.safe_dump(reordered, sort_keys=False))
    graph = build_graph(compile_spec(tiny))
    assert [(e.source, e.target) for e in graph.edges] == sorted((e.source, e.target) for e in graph.edges)


def test_missing_dot_says_how_to_install_it(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, out, err = run(capsys, tiny, "-f", "svg")
    assert code == 1 and not out
    assert "install graphviz (apt-get install graphviz)" in err and "Traceback" not in err


def test_readme_shows_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    example = ROOT / "examples" / "dynamics365-distributed" / "topology.yaml"
    assert run(capsys, example, "--role", "sql")[1] == block


def test_emit_writes_topology_md_beside_the_terraform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples" / "dynamics365-distributed" / "topology.yaml"
    for target in ("aws", "azure"):
        out = tmp_path / target
        assert main(["emit", str(example), "-t", target, "--out", str(out)]) == 0
        capsys.readouterr()
        text = (out / "TOPOLOGY.md").read_text(encoding="utf-8")
        diagram = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
        assert diagram == run(capsys, example)[1]  # the same diagram as `cloudports graph`
        assert "| web | sql | mssql | tcp/1433 |" in text
        assert "| sandbox | sql | mssql, ssrs-http, ssrs-https |" not in text  # one row per flow, as the spec has them
        assert "| admin | network | 10.99.0.0/24 |" in text
        assert "phase" in text and "| setup |" in text  # the setup-phase flows are listed with their phase


def page_data(html_text: str) -> dict:
    return json.loads(
        html_text.split('<script type="application/json" id="cloudports-data">', 1)[1].split("</script>")[0]
    )


def test_live_page_draws_what_the_cloud_holds_with_foreign_groups_marked(
    vpc: str, ec2, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = ROOT / "examples" / "three-tier-web" / "topology.yaml"
    assert main(["apply", str(spec), "-t", "aws", "--vpc-id", vpc, "--auto-approve"]) == 0
    groups = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    foreign = ec2.create_security_group(GroupName="monitoring", Description="not in the spec", VpcId=vpc)["GroupId"]
    out_of_band = [  # a group the spec does not know scrapes app; someone opens RDP on db to the world
        (
            groups["tier3-app"],
            {"IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100, "UserIdGroupPairs": [{"GroupId": foreign}]},
        ),
        (
            groups["tier3-db"],
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ),
    ]
    for group, permission in out_of_band:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])
    page = tmp_path / "live.html"
    args = ["graph", str(spec), "--live", "-t", "aws", "--vpc-id", vpc, "-f", "html", "-o", str(page)]
    assert main(args) == 0
    data = page_data(page.read_text(encoding="utf-8"))
    assert data["nodes"][foreign]["kind"] == "foreign" and data["nodes"]["app"]["kind"] == "role"
    topo = compile_spec(spec).topology
    intended = {(s, d) for f in topo.flows for s in f.sources for d in f.destinations}
    drawn = {tuple(b["members"]) for b in data["bundles"].values() if b["kind"] == "edge"}
    assert drawn == intended | {(foreign, "app"), ("internet", "db")}
    flows = {(f["from"][0], f["to"][0], f["ports"][0]) for f in data["flows"].values()}
    assert {(foreign, "app", "tcp/9100"), ("internet", "db", "tcp/3389")} <= flows
    assert list(data["targets"]) == ["aws"]
    assert f'class="node foreign" id="node-{foreign}"' in page.read_text(encoding="utf-8")


def test_live_needs_a_target_and_the_html_format(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, tiny, "--live", "-f", "html")
    assert code == 1 and "graph --live reads one cloud" in err and "--target aws" in err
    code, _, err = run(capsys, tiny, "--live", "-t", "aws")
    assert code == 1 and "use --format html" in err


def test_a_mesh_is_the_largest_set_that_all_reach_each_other() -> None:
    full = {(a, b) for a in "abcd" for b in "abcd" if a != b}
    assert find_mesh(full) == ("a", "b", "c", "d")
    assert find_mesh(full - {("a", "d")}) == ("a", "b", "c")  # d leaves (ties by name): a, b, c still mesh
    assert find_mesh({("a", "b"), ("b", "a")}) == ()  # two roles both ways are two edges, not a mesh


def test_columns_follow_the_traffic_and_put_broadcasters_next_to_the_networks() -> None:
    roles = ["lb", "app", "db", "bastion", *(f"r{i}" for i in range(6))]
    pairs = [("internet", "lb"), ("lb", "app"), ("app", "db"), ("db", "app")]  # app <-> db: a cycle
    pairs += [("bastion", r) for r in roles if r != "bastion"]  # bastion reaches every other role
    column = columns(roles, ["internet"], pairs)
    assert column["internet"] == 0 and column["bastion"] == 1
    assert column["lb"] == 2 and column["app"] == 3 and column["db"] == 4  # the cycle broken at app (by name)
    assert {column[f"r{i}"] for i in range(6)} == {2}


def test_live_page_on_azure_draws_allow_rules_and_marks_a_foreign_asg(
    arm, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.azure_live import add_subnets, azure_target, sdk_client, sdk_rule

    spec = ROOT / "examples" / "three-tier-web" / "topology.yaml"
    add_subnets(arm, spec)
    assert main(["apply", str(spec), "-t", "azure", "--auto-approve"]) == 0
    settings, sdk = azure_target(spec), sdk_client(arm)
    rg, location = settings["resource_group"], settings["location"]
    foreign = sdk.application_security_groups.begin_create_or_update(rg, "monitoring", {"location": location}).result()
    app = next(a for a in sdk.application_security_groups.list(rg) if a.name == "three-tier-web-app-asg")
    rule = sdk_rule(  # out of band: a group the spec does not know scrapes app
        protocol="Tcp",
        direction="Inbound",
        priority=3900,
        destination_port_range="9100",
        source_application_security_groups=[{"id": foreign.id}],
        destination_application_security_groups=[{"id": app.id}],
    )
    sdk.security_rules.begin_create_or_update(rg, settings["nsg_name"], "scrape", rule).result()
    page = tmp_path / "live.html"
    assert main(["graph", str(spec), "--live", "-t", "azure", "-f", "html", "-o", str(page)]) == 0
    data = page_data(page.read_text(encoding="utf-8"))
    assert data["nodes"]["monitoring"]["kind"] == "foreign"
    topo = compile_spec(spec).topology
    intended = {(s, d) for f in topo.flows for s in f.sources for d in f.destinations}
    drawn = {tuple(b["members"]) for b in data["bundles"].values() if b["kind"] == "edge"}
    assert drawn == intended | {("monitoring", "app")}  # and nothing of the deny rules (VirtualNetwork, *)
    assert "VirtualNetwork" not in data["nodes"] and "*" not in data["nodes"]
