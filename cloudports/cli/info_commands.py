"""catalog, schema, version: what cloudports knows, without a spec."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cloudports import __version__
from cloudports.cli import common, console
from cloudports.errors import CloudportsError, did_you_mean


def catalog(name: Annotated[str | None, typer.Argument(help="Catalog to list; all when omitted")] = None) -> None:
    """List the built-in service catalogs, or the services of one."""
    from rich.markup import escape
    from rich.table import Table

    from cloudports.catalogs import available_catalogs, describe_catalog
    from cloudports.live.report import add_columns, keep_whole

    names = available_catalogs()
    if name is None:
        table = Table(title="Built-in catalogs")
        add_columns(table, ("catalog", "services", "requires", "description"), common.out)
        for n in names:
            info = describe_catalog(n)
            table.add_row(n, str(len(info["services"])), ", ".join(info["requires"]), escape(info["description"]))
        common.out.print(table, soft_wrap=False)
        return
    if name not in names:
        raise CloudportsError(f"unknown catalog '{name}'; {did_you_mean(name, names)}")
    info = describe_catalog(name)
    table = Table(title=escape(f"{name}: {info['description']}"))
    add_columns(table, ("service", "ports", "flags", "sources", "description"), common.out)
    for svc in info["services"]:
        flags = ", ".join(f for f in ("optional", "legacy") if svc[f])
        ports = " ".join(svc["ports"])
        if svc["members"]:  # composed: its members, then what they expand to
            ports = "= " + " + ".join(svc["members"]) + "\n(" + ", ".join(svc["ports"]) + ")"
        table.add_row(svc["name"], escape(ports), flags, ", ".join(svc["sources"]), escape(svc["description"]))
    keep_whole(table, 0, common.out)
    common.out.print(table, soft_wrap=False)
    if info["parameters"]:
        common.out.print("parameters: " + ", ".join(f"{k}={v}" for k, v in info["parameters"].items()))


def schema() -> None:
    """Print the JSON Schema of the spec format (for editor completion and checking)."""
    from cloudports.spec.schema import spec_json_schema

    common.write_out(json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n")


def version() -> None:
    """Print the cloudports version."""
    console.say(__version__)


COMMANDS = (catalog, schema, version)
