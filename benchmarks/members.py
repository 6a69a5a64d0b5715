"""Benchmark: placing machines in roles (members) on both local clouds - requests and wall time.

A lab of BENCH_MACHINES machines (default 50) spread over 5 roles, selected by tag, is created on the local moto
server (instances with one interface each) and on the local Resource Manager (NICs), then:

  apply      groups/ASGs, rules and every machine's membership, from nothing
  drift      nothing changed: what reading costs
  regroup    10 machines change role (their tag): one write per machine
  destroy    every machine loses cloudports' group first, then the groups go

Requests are counted on the servers (moto: per EC2 action; ARM: per method and resource type). Then the Azure apply
and destroy again with every long-running operation taking BENCH_LATENCY seconds (default 0.5), one write at a
time (CLOUDPORTS_AZURE_CONCURRENCY=1) against 8 at once.

    python benchmarks/members.py
    BENCH_MACHINES=200 python benchmarks/members.py
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

from moto.core.responses import BaseResponse  # noqa: E402

from cloudports.emulators.arm import ArmServer  # noqa: E402
from cloudports.emulators.aws import boto3_client, create_vpc, start_moto_server  # noqa: E402
from cloudports.pipeline import compile_spec  # noqa: E402
from cloudports.targets.aws import TARGET as AWS  # noqa: E402
from cloudports.targets.azure import TARGET as AZURE  # noqa: E402
from tests.support.azure_live import SUB, sdk_client  # noqa: E402

MACHINES = int(os.environ.get("BENCH_MACHINES", "50"))
LATENCY = float(os.environ.get("BENCH_LATENCY", "0.5"))  # seconds per long-running operation, for the comparison
ROLES = ["web", "app", "db", "jump", "files"]
RG = "rg-bench-members"


def spec(directory: Path) -> Path:
    roles = {r: {"members": {"aws": {"tags": {"Role": r}}, "azure": {"tags": {"role": r}}}} for r in ROLES}
    flows = [{"from": a, "to": b, "services": ["tcp/443", "tcp/5432"]} for a, b in zip(ROLES, ROLES[1:], strict=False)]
    body = {"name": "members", "roles": roles, "flows": flows, "targets": {"azure": {"resource_group": RG}}}
    path = directory / "topology.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


class Steps:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, Counter[str]]] = []

    def run(self, cloud: str, label: str, counts: Callable[[], Counter[str]], work: Callable[[], Any]) -> None:
        counts()
        start = time.perf_counter()
        work()
        self.rows.append((cloud, label, time.perf_counter() - start, counts()))

    def print(self) -> None:
        print(f"\n{MACHINES} machines in {len(ROLES)} roles\n")
        print(f"{'cloud':11} {'step':8} {'wall s':>7} {'requests':>8} {'writes':>6}  by kind")
        for cloud, label, seconds, counts in self.rows:
            writes = sum(n for k, n in counts.items() if not k.startswith(("Describe", "GET")))
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
            print(f"{cloud:11} {label:8} {seconds:7.2f} {sum(counts.values()):8} {writes:6}  {kinds}")


def aws(steps: Steps, path: Path) -> None:
    server = start_moto_server()
    try:
        for name, value in server.env().items():
            os.environ[name] = value
        calls: Counter[str] = Counter()
        original = BaseResponse.call_action

        def counted(response: Any) -> Any:
            calls[response._get_action()] += 1
            return original(response)

        BaseResponse.call_action = counted  # type: ignore[method-assign]

        def take() -> Counter[str]:
            taken = Counter(calls)
            calls.clear()
            return taken

        vpc = create_vpc(server.endpoint_url)
        ec2 = boto3_client(server.endpoint_url)
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")["Subnet"]["SubnetId"]
        for i in range(MACHINES):
            tags = [{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": ROLES[i % len(ROLES)]}]}]
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=tags)
        backend = AWS.open_backend(compile_spec(path), {"vpc_id": vpc}, False)
        steps.run("aws", "apply", take, lambda: backend.apply(backend.plan()))
        steps.run("aws", "drift", take, lambda: backend.plan())
        instances = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        ec2.create_tags(Resources=sorted(instances)[:10], Tags=[{"Key": "Role", "Value": "files"}])
        steps.run("aws", "regroup", take, lambda: backend.apply(backend.plan()))
        steps.run("aws", "destroy", take, lambda: backend.destroy(backend.plan_destroy()))
        BaseResponse.call_action = original  # type: ignore[method-assign]
    finally:
        server.stop()


def azure(steps: Steps, path: Path, latency: float | None = None, concurrency: int = 8) -> None:
    """`latency`: seconds each long-running operation takes on the server (Azure: several); `concurrency`:
    independent writes at once (CLOUDPORTS_AZURE_CONCURRENCY; 1 is one after another)."""
    label = "azure" if latency is None else f"az{latency:g}s×{concurrency}"
    with ArmServer(lro_latency=latency or 0.0) as srv:
        os.environ.update(
            CLOUDPORTS_ARM_ENDPOINT=srv.url,
            CLOUDPORTS_AZURE_TOKEN="bench",
            AZURE_SUBSCRIPTION_ID=SUB,
            CLOUDPORTS_AZURE_POLLING_INTERVAL="0.05" if latency else "0",
            CLOUDPORTS_AZURE_CONCURRENCY=str(concurrency),
        )
        sdk = sdk_client(srv)
        subnet = srv.add_subnet(SUB, RG, "vnet-bench", "servers", "10.8.0.0/20")

        def take() -> Counter[str]:
            found = Counter(f"{method} {kind(path)}" for method, path, _ in srv.request_log)
            srv.clear_request_log()
            return found

        for i in range(MACHINES):
            config = {"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}
            body = {"location": "westeurope", "tags": {"role": ROLES[i % len(ROLES)]}, "properties": {}}
            body["properties"] = {"ipConfigurations": [config]}
            sdk.network_interfaces.begin_create_or_update(RG, f"nic-{i:03d}", body).result()
        backend = AZURE.open_backend(compile_spec(path), {}, False)
        steps.run(label, "apply", take, lambda: backend.apply(backend.plan()))
        if latency is not None:  # the long-running operations' cost: from nothing, and back
            steps.run(label, "destroy", take, lambda: backend.destroy(backend.plan_destroy()))
            return
        steps.run(label, "drift", take, lambda: backend.plan())
        for i in range(10):
            nic = sdk.network_interfaces.get(RG, f"nic-{i:03d}")
            nic.tags = {"role": "files"}
            sdk.network_interfaces.begin_create_or_update(RG, f"nic-{i:03d}", nic).result()
        steps.run(label, "regroup", take, lambda: backend.apply(backend.plan()))
        steps.run(label, "destroy", take, lambda: backend.destroy(backend.plan_destroy()))


def kind(path: str) -> str:
    """The resource type a request is about ("networkInterfaces", "operations", ...), with "list" for a listing."""
    parts = path.split("?")[0].strip("/").split("/")
    if "operations" in parts:
        return "operations"
    at = parts.index("providers") + 2 if "providers" in parts else len(parts) - 1
    return parts[at] + (" list" if len(parts) == at + 1 else "")


def main() -> None:
    steps = Steps()
    with tempfile.TemporaryDirectory() as tmp:
        path = spec(Path(tmp))
        aws(steps, path)
        azure(steps, path)
        for concurrency in (1, 8):  # Azure's writes take seconds: serial against concurrent
            azure(steps, path, latency=LATENCY, concurrency=concurrency)
    steps.print()


if __name__ == "__main__":
    main()
