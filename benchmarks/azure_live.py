"""Benchmark: cloudports apply / drift on Azure through azure-mgmt-network, against the local ARM server.

Two topologies: the dynamics365-distributed example (51 NSG rules, 5 ASGs) and a generated one of about 900 NSG
rules (30 roles: 14 client networks reaching every role on two TCP ports, and each role reaching the next four on
a TCP range and a UDP port, which strict egress turns into inbound and outbound rules). For each, the wall time
and the ARM requests of every step are printed: a first apply, drift, a no-op apply, one added flow, a few rules
deleted out of band (rule-by-rule repair), many rules deleted out of band (one whole-NSG PUT), and destroy.
Requests are counted on the server (cloudports/emulators/arm), including the long-running-operation polls.

The server answers in microseconds and completes an operation on its second poll, so the times measure
cloudports and the SDK; on Azure each write costs seconds, which is why the write counts matter more.

    python benchmarks/azure_live.py             # BENCH_ROLES / BENCH_NETWORKS change the generated size
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cloudports.emulators.arm import ArmServer  # noqa: E402
from cloudports.emulators.arm.client import make_network_client  # noqa: E402
from cloudports.pipeline import compile_spec, desired_state  # noqa: E402
from cloudports.targets.azure import TARGET as AZURE  # noqa: E402
from cloudports.targets.azure.apply import BULK_THRESHOLD  # noqa: E402

SUB = "00000000-0000-0000-0000-0000000be4c4"
ROLES = int(os.environ.get("BENCH_ROLES", "30"))
NETWORKS = int(os.environ.get("BENCH_NETWORKS", "14"))
WRITES = ("PUT", "PATCH", "DELETE", "POST")


def generate_spec(directory: Path) -> Path:
    networks = {f"n{i:02d}": {"ipv4": [f"10.{100 + i}.0.0/24", f"10.{200 + i}.{i}.0/24"]} for i in range(NETWORKS)}
    roles = {f"r{i:02d}": {"description": f"role {i}"} for i in range(ROLES)}
    flows = [
        {"from": net, "to": sorted(roles), "services": ["tcp/443", "tcp/8443"], "description": f"clients of {net}"}
        for net in networks
    ]
    flows += [
        {
            "from": f"r{i:02d}",
            "to": [f"r{(i + k) % ROLES:02d}" for k in (1, 2, 3, 4)],
            "services": ["tcp/5000-5010", "udp/5353"],
            "description": "ring",
        }
        for i in range(ROLES)
    ]
    spec = {
        "name": "bench",
        "egress": "strict",
        "networks": networks,
        "roles": roles,
        "flows": flows,
        "targets": {
            "azure": {
                "location": "eastus",
                "resource_group": "rg-bench",
                "subnets": [{"virtual_network": "vnet-bench", "name": "snet-bench"}],
            }
        },
    }
    path = directory / "topology.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def with_extra_flow(spec: Path, directory: Path, flow: dict[str, Any]) -> Path:
    data = yaml.safe_load(spec.read_text())
    data["flows"].append(flow)
    path = directory / f"{spec.parent.name}-plus-one.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Bench:
    def __init__(self, srv: ArmServer) -> None:
        self.srv = srv
        self.rows: list[tuple[str, str, float, int, int, str]] = []

    def step(self, topology: str, label: str, run: Callable[[], Any]) -> Any:
        self.srv.clear_request_log()
        start = time.perf_counter()
        value = run()
        seconds = time.perf_counter() - start
        log = self.srv.request_log
        writes = Counter(f"{m} {p.split('/')[-2]}" for m, p, _s in log if m in WRITES)
        shown = ", ".join(f"{n} {k}" for k, n in sorted(writes.items())) or "-"
        self.rows.append((topology, label, seconds, len(log), sum(writes.values()), shown))
        return value

    def print(self) -> None:
        head = f"{'topology':<16} {'step':<34} {'seconds':>8} {'requests':>9} {'writes':>7}  write requests"
        print(head)
        print("-" * len(head))
        for topo, label, seconds, total, writes, shown in self.rows:
            print(f"{topo:<16} {label:<34} {seconds:>8.3f} {total:>9} {writes:>7}  {shown}")


def apply(spec: Path) -> int:
    backend = AZURE.open_backend(compile_spec(spec), {}, False)
    plan = backend.plan()
    return 0 if plan.empty else len(backend.apply(plan).changes)


def drift(spec: Path) -> bool:
    return AZURE.open_backend(compile_spec(spec), {}, False).plan().empty


def destroy(spec: Path) -> int:
    backend = AZURE.open_backend(compile_spec(spec), {}, False)
    return len(backend.destroy(backend.plan_destroy()).changes)


def run(bench: Bench, label: str, spec: Path, extra_flow: dict[str, Any], work: Path) -> None:
    srv, state = bench.srv, desired_state(compile_spec(spec), "azure")
    rg = state.resource_group
    assert rg
    for s in state.nsg.subnets:
        srv.add_subnet(SUB, s.resource_group or rg, s.virtual_network, s.name, "10.0.1.0/24", location=state.location)
    sdk = make_network_client(srv.url, SUB, retry_total=0)
    name = f"{label} ({len(state.nsg.rules)})"

    bench.step(name, "apply (create)", lambda: apply(spec))
    assert bench.step(name, "drift (in sync)", lambda: drift(spec))
    assert bench.step(name, "apply again (no-op)", lambda: apply(spec)) == 0
    plus_one = with_extra_flow(spec, work, extra_flow)
    bench.step(name, "apply one more flow", lambda: apply(plus_one))
    bench.step(name, "apply it away again", lambda: apply(spec))
    rules = sorted(r.name for r in sdk.security_rules.list(rg, state.nsg.name))
    for rule in rules[:5]:
        sdk.security_rules.begin_delete(rg, state.nsg.name, rule).result()
    assert not bench.step(name, "drift (5 rules deleted)", lambda: drift(spec))
    bench.step(name, "apply (repair 5, rule by rule)", lambda: apply(spec))
    many = rules[: max(BULK_THRESHOLD + 1, len(rules) // 4)]  # past the threshold: one whole-NSG PUT
    for rule in many:
        sdk.security_rules.begin_delete(rg, state.nsg.name, rule).result()
    how = "one NSG PUT" if len(many) > BULK_THRESHOLD else "rule by rule: too few rules for a bulk repair"
    bench.step(name, f"apply (repair {len(many)}, {how})", lambda: apply(spec))
    assert bench.step(name, "drift (in sync)", lambda: drift(spec))
    bench.step(name, "destroy", lambda: destroy(spec))


def main() -> None:
    os.environ.update(
        CLOUDPORTS_AZURE_TOKEN="bench",
        AZURE_SUBSCRIPTION_ID=SUB,
        CLOUDPORTS_AZURE_POLLING_INTERVAL="0",
    )
    with ArmServer() as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ["CLOUDPORTS_ARM_ENDPOINT"] = srv.url
        work = Path(tmp)
        bench = Bench(srv)
        distributed = REPO / "examples/dynamics365-distributed/topology.yaml"
        run(bench, "distributed", distributed, {"from": "corp", "to": "sql", "services": ["mssql"]}, work)
        srv.reset()
        generated = generate_spec(work)
        run(bench, "generated", generated, {"from": "r00", "to": "r15", "services": ["tcp/7000"]}, work)
        bench.print()


if __name__ == "__main__":
    main()
