"""Each catalog added for issue 14 agrees with a checked-in table of its sources' rows.

tests/data/catalog_sources/<catalog>.csv transcribes, row by row, what the Microsoft pages say: the service it
became, the port (at the parameter's default), the parameter that moves it, the direction the page gives, and the
source (id and published URL). The test fails when the catalog and the table disagree:

- every service of the catalog that lists ports (not only composed ones) has at least one row;
- for every service in the table, the table's ports are exactly the service's expanded ports (catalog defaults);
- a row's source is one the service (or, for a composed service, one of its members) cites, with that URL;
- a row's parameter exists, has the row's port as its default, and is what the service's port is written with;
- a row's direction ("A -> B") is written in the service's description.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from cloudports.catalogs import CATALOG_DIR, available_catalogs, expand_ports
from cloudports.spec import load_topology

TABLES = Path(__file__).resolve().parent / "data" / "catalog_sources"
CATALOGS = sorted(p.stem for p in TABLES.glob("*.csv"))
COLUMNS = ["service", "port", "parameter", "direction", "source", "url", "row"]


@cache
def _raw(catalog: str) -> dict:
    return yaml.safe_load((CATALOG_DIR / f"{catalog}.yaml").read_text())


@cache
def _raw_services() -> dict[str, tuple[str, dict]]:
    return {name: (cat, svc) for cat in available_catalogs() for name, svc in _raw(cat)["services"].items()}


@cache
def _expanded(tmp: str) -> dict[str, set[str]]:
    spec = Path(tmp) / "all.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "catalog-sources",
                "catalogs": available_catalogs(),
                "roles": {"a": {}, "b": {}},
                "flows": [{"from": "a", "to": "b", "services": ["tcp/1"]}],
            }
        )
    )
    return {name: {str(p) for p in svc.ports} for name, svc in load_topology(spec, {}).services.items()}


def _rows(catalog: str) -> list[dict[str, str]]:
    with (TABLES / f"{catalog}.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS, f"{catalog}.csv columns must be {COLUMNS}"
        return list(reader)


def _cited(name: str) -> set[tuple[str, str]]:
    """(source id, url) pairs a service cites, through its members for a composed service."""
    catalog, svc = _raw_services()[name]
    sources = _raw(catalog)["sources"]
    cited = {(s, sources[s].get("url", "")) for s in svc.get("sources", [])}
    for member in svc.get("services", []):
        cited |= _cited(member)
    return cited


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def test_every_new_catalog_has_a_source_table() -> None:
    new = {"sharepoint", "exchange", "adfs", "rds", "configmgr", "wsus", "file-services", "sql-server-ha"}
    assert new <= set(CATALOGS), f"missing tables: {sorted(new - set(CATALOGS))}"
    assert set(CATALOGS) <= set(available_catalogs())


@pytest.mark.parametrize("catalog", CATALOGS)
def test_catalog_matches_its_source_table(catalog: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    rows = _rows(catalog)
    raw = _raw(catalog)
    expanded = _expanded(str(tmp_path_factory.getbasetemp()))
    problems: list[str] = []

    leaves = {name for name, svc in raw["services"].items() if svc.get("ports")}
    listed = {row["service"] for row in rows}
    problems += [f"{name}: no row in {catalog}.csv" for name in sorted(leaves - listed)]
    problems += [f"{name}: not a service of {catalog}" for name in sorted(listed - set(raw["services"]))]

    for name in sorted(listed & set(raw["services"])):
        mine = [row for row in rows if row["service"] == name]
        table_ports = {row["port"] for row in mine}
        if table_ports != expanded[name]:
            problems.append(f"{name}: table {sorted(table_ports)} != catalog {sorted(expanded[name])}")
        svc = raw["services"][name]
        written = expand_ports(name, {n: s for n, (_, s) in _raw_services().items()})
        for row in mine:
            where = f"{name} ({row['port']}, {row['row']!r})"
            if (row["source"], row["url"]) not in _cited(name):
                problems.append(f"{where}: source {row['source']} <{row['url']}> is not cited by the service")
            if row["parameter"]:
                param = (raw.get("parameters") or {}).get(row["parameter"])
                protocol, _, number = row["port"].partition("/")
                if param is None:
                    problems.append(f"{where}: no parameter {row['parameter']} in {catalog}")
                elif str(param["default"]) != number:
                    problems.append(f"{where}: {row['parameter']} defaults to {param['default']}, not {number}")
                if f"{protocol}/${{{row['parameter']}}}" not in written:
                    problems.append(f"{where}: the port is not written as {protocol}/${{{row['parameter']}}}")
            if row["direction"] and _words(row["direction"]) not in _words(svc.get("description", "")):
                problems.append(f"{where}: direction {row['direction']!r} is not in the description")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("catalog", [c for c in CATALOGS if any(row["parameter"] for row in _rows(c))])
def test_parameters_move_the_ports(catalog: str, tmp_path: Path) -> None:
    """Overriding every parameter of the table moves the port of every row that names it."""
    rows = [row for row in _rows(catalog) if row["parameter"]]
    spec = tmp_path / "all.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "catalog-params",
                "catalogs": available_catalogs(),
                "roles": {"a": {}, "b": {}},
                "flows": [{"from": "a", "to": "b", "services": ["tcp/1"]}],
            }
        )
    )
    params = sorted({row["parameter"] for row in rows})
    moved = {p: str(40000 + i) for i, p in enumerate(params)}
    services = load_topology(spec, moved).services
    for row in rows:
        protocol = row["port"].partition("/")[0]
        ports = {str(p) for p in services[row["service"]].ports}
        assert f"{protocol}/{moved[row['parameter']]}" in ports, f"{row['service']} ignores {row['parameter']}"
