"""Same spec, same bytes: any permutation of any list or mapping in a spec (flows, from/to, services, ports,
ipv4/ipv6 blocks, networks/roles/services order, catalogs, includes, subnets, tags) gives identical compiled rules,
`show --format json` (without the spec positions, which legitimately move), emitted Terraform for both clouds and its
TOPOLOGY.md, `graph` in every format (the html page without the spec places it shows), validate's counts (the Azure
bound among them) and its SARIF (without each result's location)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import yaml

from cloudports.cli import main
from cloudports.pipeline import compile_spec

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(REPO.glob("examples/*/topology.yaml"))
SEEDS = range(4)

# Made to hit every place where order could leak: flows with the same peer pair and ports but different
# descriptions, overlapping ranges from different flows, networks sharing a block, ICMP wildcards, a phase.
STRESS = """\
name: perm
description: order-independence stress spec
egress: strict
catalogs: [windows-admin, sql-server]
parameters:
  app_port: 8080
networks:
  corp: {ipv4: [10.20.0.0/16, 10.30.0.0/16, 10.40.0.0/16], ipv6: ["fd00:20::/48", "fd00:30::/48"]}
  vpn: {ipv4: [10.30.0.0/16, 192.168.0.0/24], description: shares a block with corp}
  partners: {ipv4: [203.0.113.0/24, 198.51.100.0/24]}
  wide1: {ipv4: [44.0.0.0/7]}
  wide2: {ipv4: [52.0.0.0/7]}
roles:
  lb: {description: load balancer}
  web: {description: web servers}
  app: {}
  sql: {}
  bastion: {}
services:
  site: {ports: [tcp/443, tcp/80], description: the site}
  admin: {ports: [tcp/22, tcp/3389, icmp/8]}
flows:
  - {from: corp, to: web, services: [site], description: first}
  - {from: corp, to: web, services: [tcp/443], description: second}
  - {from: [vpn, corp], to: [web, app], services: [tcp/8000-8100, tcp/8050-8200], description: third}
  - {from: [corp, vpn], to: app, services: [tcp/8150-8300, udp/53], description: fourth}
  - {from: web, to: app, services: [tcp/8080], description: b}
  - {from: web, to: app, services: ["tcp/${app_port}"], description: a}
  - {from: bastion, to: [web, app, sql], services: [admin, windows-admin], description: admins}
  - {from: partners, to: bastion, services: [tcp/22], description: partners}
  - {from: app, to: internet, services: [tcp/443], description: updates}
  - {from: app, to: internet, services: [tcp/443, tcp/80], description: mirrors}
  - {from: web, to: sql, services: [all], phase: setup, description: setup}
  - {from: web, to: sql, services: [mssql], description: sql}
  - {from: corp, to: web, services: [icmp/8, icmp/0, icmpv6/128], description: ping}
  - {from: corp, to: web, services: [icmp], description: all ping}
  - {from: vpn, to: bastion, services: [icmp/3:4, icmp/3], description: pmtu}
  - {from: internet, to: lb, services: [tcp/80, tcp/443], description: public site}
  - {from: internet, to: lb, services: [tcp/80], description: public site}
  - {from: internet, to: lb, services: [tcp/80, tcp/443, tcp/80], description: public site}
  - {from: [wide1, partners], to: [lb, bastion], services: [tcp/3389], description: remote desktop}
  - {from: wide1, to: [bastion, lb], services: [tcp/3389], description: remote desktop}
  - {from: wide1, to: lb, services: [tcp/22], description: one of two}
  - {from: wide2, to: lb, services: [tcp/22], description: one of two}
targets:
  aws: {region: eu-west-1, name_prefix: perm-, tags: {a: "1", b: "2", c: "3"}}
  azure:
    location: westeurope
    resource_group: rg-perm
    subnets:
      - {virtual_network: vnet, name: snet-a}
      - {virtual_network: vnet, name: snet-b}
      - {virtual_network: vnet2, name: snet-a}
    tags: {a: "1", b: "2"}
"""
SPEC_PLACE = re.compile(rb"[\w.-]+\.yaml:\d+")  # "topology.yaml:12", "part1.yaml:3"
SPLITTABLE = ("networks", "roles", "services", "flows", "parameters")  # sections an included file may carry


def permuted(value, rng: random.Random):
    """Every list shuffled and every mapping's key order shuffled, recursively."""
    if isinstance(value, dict):
        items = [(k, permuted(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        items = [permuted(v, rng) for v in value]
        rng.shuffle(items)
        return items
    return value


def write_variant(spec: Path, out: Path, rng: random.Random) -> Path:
    """The spec permuted, with part of each section moved into two included files (listed in random order)."""
    data = permuted(yaml.safe_load(spec.read_text()), rng)
    parts: list[dict] = [{}, {}]
    for section in SPLITTABLE:
        entries = data.get(section)
        if not entries:
            continue
        for part in parts:
            if isinstance(entries, dict):
                moved = dict(list(entries.items())[: rng.randrange(len(entries) + 1)])
                entries = {k: v for k, v in entries.items() if k not in moved}
            else:
                cut = rng.randrange(len(entries) + 1)
                moved, entries = entries[:cut], entries[cut:]
            if moved:
                part[section] = moved
        data[section] = entries
    out.mkdir(parents=True)
    names = [f"part{i}.yaml" for i, part in enumerate(parts) if part]
    for i, part in enumerate(parts):
        if part:
            (out / f"part{i}.yaml").write_text(yaml.safe_dump(part, sort_keys=False))
    rng.shuffle(names)
    if names:
        data["include"] = names
    path = out / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def phases(spec: Path) -> list[str | None]:
    flows = yaml.safe_load(spec.read_text()).get("flows") or []
    return [None, *sorted({f["phase"] for f in flows if f.get("phase")})]


def outputs(spec: Path, all_phases: list[str | None], work: Path, capsys) -> dict[str, object]:
    """Everything a user sees of a spec, minus the spec positions."""
    result: dict[str, object] = {}
    for phase in all_phases:
        policy = compile_spec(spec, phase=phase)
        result[f"rules {phase}"] = [(r, r.descriptions) for r in policy.rules]
        result[f"warnings {phase}"] = sorted(d.message for d in policy.warnings)
        for target in ("aws", "azure"):
            args = ["-t", target] + (["--phase", phase] if phase else [])
            capsys.readouterr()
            assert main(["show", str(spec), *args, "--format", "json"]) == 0
            shown = json.loads(capsys.readouterr().out)
            result[f"show {target} {phase}"] = [{k: v for k, v in r.items() if k != "origin"} for r in shown["rules"]]
            out = work / f"tf-{target}-{phase}"
            assert main(["emit", str(spec), *args, "--out", str(out)]) == 0
            result[f"emit {target} {phase}"] = {
                str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            }
    return result | pictures(spec, work, capsys)


def pictures(spec: Path, work: Path, capsys) -> dict[str, object]:
    """`graph` in every format, byte for byte, validate's counts, and its SARIF without each result's location (the
    permuted file's lines, which legitimately move)."""
    result: dict[str, object] = {}
    for fmt in ("mermaid", "dot", "svg", "html"):
        out = work / f"graph.{fmt}"
        assert main(["graph", str(spec), "--format", fmt, "--out", str(out)]) == 0
        result[f"graph {fmt}"] = out.read_bytes()
    # the interactive page says where each flow stands in the spec (and the lint's messages name spec lines):
    # those places move with the permutation, nothing else may
    result["graph html"] = SPEC_PLACE.sub(b"FILE:LINE", result["graph html"])
    capsys.readouterr()
    assert main(["validate", str(spec)]) == 0
    result["counts"] = capsys.readouterr().out.split(": ", 1)[1]  # rules and the Azure bound, after the file's path
    main(["validate", str(spec), "--format", "sarif"])
    sarif = json.loads(capsys.readouterr().out)
    for run in sarif["runs"]:
        for finding in run["results"]:
            finding.pop("locations")
    result["sarif"] = sarif
    return result


@pytest.fixture
def stress_spec(tmp_path: Path) -> Path:
    path = tmp_path / "stress" / "topology.yaml"
    path.parent.mkdir()
    path.write_text(STRESS)
    return path


@pytest.mark.parametrize("spec", [*EXAMPLES, "stress"], ids=lambda p: getattr(p, "parent", Path(p)).name)
def test_any_permutation_of_a_spec_gives_the_same_output(spec, tmp_path: Path, capsys, request) -> None:
    if spec == "stress":
        spec = request.getfixturevalue("stress_spec")
    expected = outputs(spec, phases(spec), tmp_path / "original", capsys)
    for seed in SEEDS:
        variant = write_variant(spec, tmp_path / f"variant{seed}", random.Random(seed))
        got = outputs(variant, phases(spec), tmp_path / f"out{seed}", capsys)
        differing = [key for key, value in expected.items() if got[key] != value]
        assert not differing, f"seed {seed}: {differing} differ"
