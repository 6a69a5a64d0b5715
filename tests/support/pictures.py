"""Specs drawn by the graph page's tests and docs pictures (tests/test_graph_page.py): a 50-role lab, and the
three-tier-web example with a ping mesh (every server pings every other)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
THREE_TIER = ROOT / "examples" / "three-tier-web" / "topology.yaml"
PING_MESH = {
    "from": ["lb", "app", "db", "bastion"],
    "to": ["lb", "app", "db", "bastion"],
    "services": ["ping"],
    "description": "Every server pings every other (the monitoring agents' reachability checks)",
}


def three_tier_with_ping_mesh() -> dict:
    spec = yaml.safe_load(THREE_TIER.read_text(encoding="utf-8"))
    spec["flows"].append(PING_MESH)
    return spec


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:02d}" for i in range(1, count + 1)]


def fifty_roles() -> dict:
    """A web shop of 50 roles: load balancers, web, API, workers, caches, queues, search, a PostgreSQL cluster
    that replicates every node to every other (a mesh), a bastion, monitoring, backup and two domain controllers."""
    tiers = {
        "lb": _names("lb", 3),
        "web": _names("web", 10),
        "api": _names("api", 8),
        "worker": _names("worker", 8),
        "cache": _names("cache", 3),
        "queue": _names("queue", 3),
        "search": _names("search", 3),
        "db": _names("db", 6),
        "ops": ["bastion", "monitor", "backup", "log", "dc-01", "dc-02"],
    }
    roles = [r for names in tiers.values() for r in names]
    assert len(roles) == 50
    flows = [
        {"from": "internet", "to": tiers["lb"], "services": ["https"], "allow_exposure": "the public shop"},
        {"from": "office", "to": "bastion", "services": ["ssh"]},
        {"from": "partners", "to": "api-01", "services": ["https"]},
        {"from": "bastion", "to": [r for r in roles if r != "bastion"], "services": ["ssh"]},
        {"from": "monitor", "to": [r for r in roles if r != "monitor"], "services": ["node-exporter"]},
        {"from": tiers["db"], "to": tiers["db"], "services": ["postgres", "ping"], "description": "replication"},
        {"from": "backup", "to": tiers["db"], "services": ["postgres"]},
        {"from": ["bastion", "monitor", "backup"], "to": ["dc-01", "dc-02"], "services": ["dns", "kerberos"]},
        {"from": ["log"], "to": "internet", "services": ["https"], "description": "ships logs to the SaaS"},
    ]
    for i, lb in enumerate(tiers["lb"]):
        flows.append({"from": lb, "to": tiers["web"][i * 3 : i * 3 + 4], "services": ["http-alt"]})
    for i, web in enumerate(tiers["web"]):
        flows.append({"from": web, "to": [tiers["api"][i % 8], tiers["api"][(i + 1) % 8]], "services": ["api"]})
    for i, api in enumerate(tiers["api"]):
        ends = [tiers["cache"][i % 3], tiers["queue"][i % 3], tiers["search"][i % 3], tiers["db"][i % 6]]
        flows.append({"from": api, "to": ends, "services": ["app-backends"]})
    for i, worker in enumerate(tiers["worker"]):
        flows.append({"from": worker, "to": [tiers["queue"][i % 3], tiers["db"][i % 6]], "services": ["app-backends"]})
    return {
        "name": "shop-50",
        "description": "A generated web shop of 50 roles (tests/support/pictures.py)",
        "egress": "strict",
        "networks": {"office": {"ipv4": ["198.51.100.0/24"]}, "partners": {"ipv4": ["203.0.113.0/24"]}},
        "roles": {r: {} for r in roles},
        "services": {
            "https": {"ports": ["tcp/443"]},
            "ssh": {"ports": ["tcp/22"]},
            "http-alt": {"ports": ["tcp/8080"]},
            "api": {"ports": ["tcp/9000"]},
            "app-backends": {"ports": ["tcp/6379", "tcp/5672", "tcp/9200", "tcp/5432"]},
            "postgres": {"ports": ["tcp/5432"]},
            "ping": {"ports": ["icmp/8"]},
            "node-exporter": {"ports": ["tcp/9100"]},
            "dns": {"ports": ["udp/53", "tcp/53"]},
            "kerberos": {"ports": ["tcp/88", "udp/88"]},
        },
        "flows": flows,
    }


def write(spec: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "topology.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path
