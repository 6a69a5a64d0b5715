"""Helpers for the Azure live-backend tests: the local ARM server as a fixture, and reading NSGs back with the SDK.

Everything here reads Azure with the plain azure-mgmt-network client and its own (deliberately simple)
normalisation, so the tests do not check cloudports with cloudports' reader.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudports.emulators.arm import ArmServer
from cloudports.emulators.arm.client import make_network_client
from cloudports.pipeline import compile_spec
from cloudports.targets.azure.model import Asg, AzureState, Nsg, NsgRule
from cloudports.targets.ownership import ROLE_TAG, TOPOLOGY_TAG

SUB = "00000000-0000-0000-0000-00000000c10d"
WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*/topology.yaml"))
DISTRIBUTED = REPO / "examples/dynamics365-distributed/topology.yaml"
THREE_TIER = REPO / "examples/three-tier-web/topology.yaml"


# ----------------------------------------------------------------------------------------------- servers


def point_cloudports_at(srv: ArmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment cloudports reads: http on 127.0.0.1, a static token, no wait between LRO polls."""
    monkeypatch.setenv("CLOUDPORTS_ARM_ENDPOINT", srv.url)
    monkeypatch.setenv("CLOUDPORTS_AZURE_TOKEN", "test-token")
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    monkeypatch.setenv("CLOUDPORTS_AZURE_POLLING_INTERVAL", "0")


def sdk_client(srv: ArmServer) -> Any:
    """The plain SDK client, for out-of-band changes and reading back."""
    return make_network_client(srv.url, SUB, retry_total=0)


# ------------------------------------------------------------------------------------------- spec helpers


def azure_target(spec: Path) -> dict[str, Any]:
    return yaml.safe_load(Path(spec).read_text())["targets"]["azure"]


def add_subnets(srv: ArmServer, spec: Path, prefix_base: int = 1) -> list[str]:
    """Create the subnets the spec names (in the spec's location, as Azure requires for an association)."""
    target = azure_target(spec)
    ids = []
    for n, s in enumerate(target.get("subnets", [])):
        rg = s.get("resource_group") or target["resource_group"]
        prefix = f"10.{prefix_base}.{n}.0/24"
        ids.append(srv.add_subnet(SUB, rg, s["virtual_network"], s["name"], prefix, location=target["location"]))
    return ids


def write_spec(tmp_path: Path, spec: Path, *, extra_flows: list[dict] = (), **changes: Any) -> Path:  # type: ignore[assignment]
    """A copy of an example spec with more flows and/or top-level keys replaced."""
    data = yaml.safe_load(Path(spec).read_text())
    data["flows"] = list(data["flows"]) + list(extra_flows)
    data.update(changes)
    out = tmp_path / f"{data['name']}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


# ------------------------------------------------------------------------------------------- request log


def writes(srv: ArmServer) -> list[tuple[str, str, int]]:
    return [r for r in srv.request_log if r[0] in WRITE_METHODS]


def methods(srv: ArmServer) -> Counter[str]:
    return Counter(m for m, _p, _s in srv.request_log)


def resource_writes(srv: ArmServer) -> Counter[str]:
    """Write requests by resource kind: 'securityRules', 'networkSecurityGroups', 'subnets', ..."""
    out: Counter[str] = Counter()
    for method, path, _status in writes(srv):
        parts = path.split("/")
        out[f"{method} {parts[-2]}"] += 1
    return out


# ---------------------------------------------------------------------------------------- reading back


def _ports(single: Any, plural: Any) -> tuple[str, ...]:
    values = [single] if single else list(plural or [])
    if any(v in ("*", "0-65535") for v in values):
        return ("*",)
    return tuple(sorted(values, key=lambda v: tuple(int(x) for x in v.split("-"))))


def _prefixes(single: Any, plural: Any) -> tuple[str, ...]:
    return tuple(sorted([single] if single else list(plural or [])))


def _value(enum: Any) -> str:
    return str(getattr(enum, "value", enum))


def live_asgs(sdk: Any, rg: str, topology: str) -> dict[str, Any]:
    """Role -> ASG (SDK model), for ASGs tagged for the topology."""
    return {
        a.tags[ROLE_TAG]: a for a in sdk.application_security_groups.list(rg) if a.tags.get(TOPOLOGY_TAG) == topology
    }


def live_rules(sdk: Any, rg: str, nsg: str, roles_by_id: dict[str, str]) -> dict[str, NsgRule]:
    """The NSG's security rules as NsgRules (ASG ids -> roles through the role tags)."""
    return as_nsg_rules(sdk.security_rules.list(rg, nsg), roles_by_id)


def rules_right_now(srv: ArmServer, rg: str, nsg: str, roles_by_id: dict[str, str]) -> dict[str, NsgRule]:
    """The NSG's rules as the server holds them this instant (straight through its dispatcher: usable while a
    request is being answered, e.g. from a hook that runs after every write)."""
    from azure.mgmt.network import models

    path = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{nsg}"
    status, _headers, body = srv.handle("GET", path + "?api-version=2024-05-01", {"Authorization": "Bearer t"}, b"")
    assert status == 200, body
    return as_nsg_rules(models.NetworkSecurityGroup(body).security_rules or [], roles_by_id)


def as_nsg_rules(rules: Any, roles_by_id: dict[str, str]) -> dict[str, NsgRule]:
    """SDK SecurityRule models -> NsgRules by name."""

    def asgs(refs: Any) -> tuple[str, ...]:
        return tuple(sorted(roles_by_id.get(r.id.lower(), r.id) for r in refs or []))

    out = {}
    for r in rules:
        out[r.name] = NsgRule(
            name=r.name,
            direction=_value(r.direction),  # type: ignore[arg-type]
            access=_value(r.access),  # type: ignore[arg-type]
            protocol=_value(r.protocol),
            destination_ports=_ports(r.destination_port_range, r.destination_port_ranges),
            source_ports=_ports(r.source_port_range, r.source_port_ranges),
            source_prefixes=_prefixes(r.source_address_prefix, r.source_address_prefixes),
            destination_prefixes=_prefixes(r.destination_address_prefix, r.destination_address_prefixes),
            source_asgs=asgs(r.source_application_security_groups),
            destination_asgs=asgs(r.destination_application_security_groups),
            priority=int(r.priority),
            description=r.description or "",
        )
    return dict(sorted(out.items()))


def live_state(sdk: Any, spec: Path, phase: str | None = None) -> AzureState:
    """The live NSG and ASGs of a spec's topology, read with the SDK into the shared model."""
    topo = compile_spec(spec, phase=phase).topology
    target = topo.targets["azure"]
    rg, nsg_name = target.resource_group, target.nsg_name
    asgs = live_asgs(sdk, rg, topo.name)
    roles_by_id = {a.id.lower(): role for role, a in asgs.items()}
    nsg = sdk.network_security_groups.get(rg, nsg_name)
    return AzureState(
        topology=topo.name,
        location=nsg.location,
        resource_group=rg,
        tags=dict(nsg.tags or {}),
        asgs={role: Asg(role, a.name, tuple(sorted((a.tags or {}).items()))) for role, a in asgs.items()},
        nsgs={nsg.name: Nsg(nsg.name, live_rules(sdk, rg, nsg_name, roles_by_id))},
    )


def subnet_nsg(sdk: Any, rg: str, vnet: str, subnet: str) -> str | None:
    nsg = sdk.subnets.get(rg, vnet, subnet).network_security_group
    return nsg.id.rsplit("/", 1)[-1] if nsg is not None else None


def sdk_rule(**props: Any) -> Any:
    from azure.mgmt.network import models

    props.setdefault("source_port_range", "*")
    props.setdefault("access", "Allow")
    return models.SecurityRule(**props)
