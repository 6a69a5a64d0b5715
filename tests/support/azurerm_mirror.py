"""A filesystem mirror holding the azurerm stand-in (tools/azurerm_schema) next to the real hashicorp/aws, and the
checks of a `terraform show -json` plan against Azure's rules that the provider schema does not carry.

The stand-in is a Python program; Terraform starts providers as executables, so the mirror holds a short shell
script running it with this interpreter (whose environment has the `tf` framework: the test extra).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tools" / "azurerm_schema" / "standin.py"
SCHEMA = REPO / "tools" / "azurerm_schema" / "azurerm.schema.json"
AZURERM = "registry.terraform.io/hashicorp/azurerm"
AZURE_PROTOCOLS = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}
MAX_ASGS_PER_SIDE = 10


def standin_version() -> str:
    return str(json.loads(SCHEMA.read_text())["provider_version"])


def build_mirror(root: Path, aws_mirror: Path | None) -> Path:
    """root as a filesystem mirror: the stand-in as azurerm <version>, and aws linked from aws_mirror."""
    version = standin_version()
    platform = root / AZURERM / version / "linux_amd64"
    platform.mkdir(parents=True, exist_ok=True)
    binary = platform / f"terraform-provider-azurerm_v{version}"
    # HOME: the tf framework caches its TLS certificate under ~/.cache; keep it beside the mirror, not in $HOME.
    home = root.with_name(root.name + "-standin-home")
    home.mkdir(exist_ok=True)
    binary.write_text(f'#!/bin/sh\nHOME="{home}" exec "{sys.executable}" "{STANDIN}" "$@"\n')
    binary.chmod(0o755)
    if aws_mirror is not None:
        _link_files(aws_mirror, root, "registry.terraform.io/hashicorp/aws")
    return root


def _link_files(source: Path, root: Path, provider: str) -> None:
    """Real directories with symlinked files: Terraform's mirror scan does not enter symlinked directories,
    and a link instead of a copy keeps the ~700 MB aws binary where it is."""
    for path in sorted((source / provider).rglob("*")):
        if path.is_file():
            link = root / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(path)


# --------------------------------------------------------------------------------------------------
# Provider-side rules of azurerm_network_security_rule (validation funcs and ExactlyOneOf in azurerm, Azure's API)
# --------------------------------------------------------------------------------------------------


def planned(plan: Mapping[str, Any], resource_type: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(address, after, after_unknown) of every resource of that type the plan creates or updates."""
    for change in plan.get("resource_changes", []):
        if change["type"] == resource_type and set(change["change"]["actions"]) & {"create", "update"}:
            yield change["address"], change["change"]["after"], change["change"].get("after_unknown") or {}


def _present(after: Mapping[str, Any], unknown: Mapping[str, Any], name: str) -> bool:
    """Set in the plan: a known non-empty value, or one known only after apply (e.g. ASG IDs)."""
    value = after.get(name)
    return bool(unknown.get(name)) or (value is not None and value != [] and value != "")


def _count(after: Mapping[str, Any], unknown: Mapping[str, Any], name: str) -> int:
    value = after.get(name) if after.get(name) is not None else unknown.get(name)
    return len(value) if isinstance(value, list) else 0


def rule_problems(address: str, after: Mapping[str, Any], unknown: Mapping[str, Any]) -> list[str]:
    """What Azure or azurerm would refuse in one planned security rule."""
    problems = []
    priority = after.get("priority")
    if not (isinstance(priority, int) and 100 <= priority <= 4096):
        problems.append(f"priority {priority!r} outside 100..4096")
    if after.get("protocol") not in AZURE_PROTOCOLS:
        problems.append(f"protocol {after.get('protocol')!r} not one of {sorted(AZURE_PROTOCOLS)}")
    if len(after.get("description") or "") > 140:
        problems.append(f"description of {len(after['description'])} characters (at most 140)")
    for side in ("source", "destination"):
        forms = [f"{side}_address_prefix", f"{side}_address_prefixes", f"{side}_application_security_group_ids"]
        given = [f for f in forms if _present(after, unknown, f)]
        if len(given) != 1:
            problems.append(f"{side}: exactly one of {', '.join(forms)} expected, got {given or 'none'}")
        asgs = _count(after, unknown, f"{side}_application_security_group_ids")
        if asgs > MAX_ASGS_PER_SIDE:
            problems.append(f"{side}: {asgs} application security groups (at most {MAX_ASGS_PER_SIDE})")
    ports = [f for f in ("destination_port_range", "destination_port_ranges") if _present(after, unknown, f)]
    if len(ports) != 1:
        problems.append(f"exactly one of destination_port_range(s) expected, got {ports or 'none'}")
    return [f"{address}: {p}" for p in problems]


def plan_problems(plan: Mapping[str, Any]) -> list[str]:
    return [p for rule in planned(plan, "azurerm_network_security_rule") for p in rule_problems(*rule)]
