"""Exposure lint: risky Windows/SQL/admin ports must not be open to the internet by accident.

Runs on flows (not merged rules) so that each finding points at the flow that causes it. An explicit
`allow_exposure: <reason>` on the flow turns an error into an accepted, documented risk.
"""

from __future__ import annotations

from cloudports.errors import Problems
from cloudports.spec.model import PortSpec, Topology

# port -> what it is; tcp and udp alike (the seed lists UDP variants of several of them)
SENSITIVE_PORTS: dict[int, str] = {
    22: "SSH",
    135: "MSRPC endpoint mapper",
    137: "NetBIOS name service",
    138: "NetBIOS datagram",
    139: "NetBIOS session",
    445: "SMB",
    1433: "SQL Server",
    1434: "SQL Server Browser / DAC",
    3389: "RDP",
    5985: "WinRM (HTTP)",
    5986: "WinRM (HTTPS)",
}


def _exposed(port: PortSpec) -> list[str]:
    if port.protocol == "all":
        return ["every port"]
    if port.protocol not in ("tcp", "udp"):
        return []
    return [
        f"{name} ({port.protocol}/{p})" for p, name in SENSITIVE_PORTS.items() if port.from_port <= p <= port.to_port
    ]


def _is_world(topology: Topology, name: str) -> bool:
    net = topology.networks.get(name)
    return bool(net) and any(c.prefixlen == 0 for c in net.cidrs)


def lint_exposure(topology: Topology, problems: Problems) -> None:
    http_from_world: dict[str, object] = {}
    https_from_world: set[str] = set()
    for flow in topology.flows:
        world = [s for s in flow.sources if _is_world(topology, s)]
        if not world:
            continue
        roles = [d for d in flow.destinations if topology.is_role(d)]
        findings = sorted({f for port in flow.ports for f in _exposed(port)})
        if findings and roles and not flow.allow_exposure:
            problems.error(
                flow.ports_loc,
                f"{', '.join(findings)} open to '{world[0]}' (any address) on {', '.join(roles)}",
                "restrict the source to a named network, or add 'allow_exposure: <reason>' to the flow",
            )
        for role in roles:
            for port in flow.ports:
                if port.protocol == "tcp" and port.from_port <= 80 <= port.to_port:
                    http_from_world.setdefault(role, flow.ports_loc)
                if port.protocol == "tcp" and port.from_port <= 443 <= port.to_port:
                    https_from_world.add(role)
    for role, loc in http_from_world.items():
        if role in https_from_world:
            problems.warning(
                loc,
                f"plain HTTP (tcp/80) is open to the internet on '{role}' next to HTTPS",
                "serve a redirect from HTTPS only, or drop tcp/80 if no client needs it",
            )
