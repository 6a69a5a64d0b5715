"""Built-in catalogs reproduce the seed document, and the compile-side CLI commands behave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cloudports.catalogs import CATALOG_DIR, available_catalogs
from cloudports.cli import main
from cloudports.spec import load_topology
from cloudports.spec.model import PortSpec

REPO = Path(__file__).resolve().parent.parent

# The seed's tables (../shared/seed): Table 1 (Full Server) and Table 4 (SQL Server + Reporting Extensions).
SEED_FULL_SERVER = {
    ("tcp", 80), ("tcp", 135), ("tcp", 139), ("tcp", 443), ("tcp", 445),
    ("udp", 123), ("udp", 137), ("udp", 138), ("udp", 445), ("udp", 1025),
}  # fmt: skip
SEED_SQL_REPORTING = {
    ("tcp", 135), ("tcp", 139), ("tcp", 445), ("tcp", 1433),
    ("udp", 123), ("udp", 137), ("udp", 138), ("udp", 445), ("udp", 1025),
}  # fmt: skip


def _all_services(tmp_path: Path, **params) -> dict:
    spec = tmp_path / "all.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "catalog-check",
                "catalogs": available_catalogs(),
                "roles": {"a": {}, "b": {}},
                "flows": [{"from": "a", "to": "b", "services": ["tcp/1"]}],
            }
        )
    )
    return load_topology(spec, {k: str(v) for k, v in params.items()}).services


def _ports(service) -> set[tuple[str, int]]:
    assert all(p.from_port == p.to_port for p in service.ports), "seed rows are single ports"
    return {(p.protocol, p.from_port) for p in service.ports}


def test_dynamics_catalog_reproduces_every_seed_row(tmp_path: Path) -> None:
    services = _all_services(tmp_path)
    assert _ports(services["d365-full-server"]) == SEED_FULL_SERVER
    assert _ports(services["d365-sql-reporting"]) == SEED_SQL_REPORTING
    # UDP 1434 is Setup-only: a service of its own, never part of the steady-state tables
    assert services["mssql-browser"].ports == (PortSpec("udp", 1434, 1434),)
    # TCP 808 in each direction the seed describes, as separate services
    for name in ("d365-async-web-to-sandbox", "d365-sandbox-to-web", "d365-fetch-reports"):
        assert services[name].ports == (PortSpec("tcp", 808, 808),)


def test_configurable_ports_follow_parameters(tmp_path: Path) -> None:
    services = _all_services(tmp_path, d365_web_port=5555, d365_tcp_port=8088, sql_port=14330)
    assert PortSpec("tcp", 5555, 5555) in services["d365-full-server"].ports
    assert services["d365-sandbox-to-web"].ports == (PortSpec("tcp", 8088, 8088),)
    assert PortSpec("tcp", 14330, 14330) in services["d365-sql-reporting"].ports


def test_catalog_entries_carry_sources_and_flags() -> None:
    names: dict[str, str] = {}
    for catalog in available_catalogs():
        data = yaml.safe_load((CATALOG_DIR / f"{catalog}.yaml").read_text())
        for name, svc in data["services"].items():
            assert name not in names, f"{name} defined in {names.get(name)} and {catalog}"
            names[name] = catalog
            assert svc.get("sources"), f"{catalog}/{name} has no source"
            assert set(svc["sources"]) <= set(data["sources"]), f"{catalog}/{name} cites an undefined source"
    for legacy in ("netbios-ns", "netbios-dgm", "netbios-ssn", "d365-blackjack-dcom", "smb-udp"):
        svc = yaml.safe_load((CATALOG_DIR / f"{names[legacy]}.yaml").read_text())["services"][legacy]
        assert svc.get("optional") and svc.get("legacy"), f"{legacy} must be marked optional and legacy"


def test_schema_is_json_schema(capsys) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "cloudports topology spec"
    assert {"roles", "networks", "services", "flows", "targets"} <= set(schema["properties"])


def test_catalog_command(capsys) -> None:
    assert main(["catalog"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in available_catalogs())
    assert main(["catalog", "dynamics365"]) == 0
    assert "d365-fetch-reports" in capsys.readouterr().out
    assert main(["catalog", "dynamics"]) == 1
    assert "did you mean 'dynamics365'" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["aws", "azure"])
def test_show_json_lists_rules_with_origins(target: str, capsys) -> None:
    spec = REPO / "examples" / "dynamics365-full-server" / "topology.yaml"
    assert main(["show", str(spec), "-t", target, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rules"], "no rules shown"
    allow = [r for r in data["rules"] if r.get("access", "Allow") == "Allow"]
    assert all("topology.yaml:" in r["origin"] for r in allow if "open egress" not in r["description"])


def test_phase_setup_adds_udp_1434(capsys) -> None:
    spec = REPO / "examples" / "dynamics365-full-server" / "topology.yaml"
    for phase, expected in ((None, False), ("setup", True)):
        args = ["show", str(spec), "-t", "aws", "--format", "json"] + (["--phase", phase] if phase else [])
        assert main(args) == 0
        rules = json.loads(capsys.readouterr().out)["rules"]
        has_browser = any(
            r["protocol"] == "udp" and r["ports"] == "1434" and r["direction"] == "ingress" for r in rules
        )
        assert has_browser is expected
