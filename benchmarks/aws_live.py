"""Benchmark: cloudports apply / drift through boto3 vs terraform apply / plan -refresh-only, same rules, same moto.

A generated topology of about 1,000 rules (20 roles: 40 CIDR sources each on tcp/443, plus a ring of role-to-role
flows on 5 ports, which strict egress turns into ingress and egress rules) is applied to a local moto server
twice - once by cloudports directly, once by `terraform apply` of the HCL `cloudports emit` writes - and the wall
time and the EC2 API calls of each step are printed side by side. API calls are counted on the server, so both
tools are measured the same way. After cloudports' apply, the lab is imported back into a spec (`cloudports
import`) and that spec verified against the live rules (`verify --live`).

    python benchmarks/aws_live.py   # needs moto[server]; terraform + a local AWS provider mirror optional
    BENCH_ROLES=4 python benchmarks/aws_live.py   # a smaller run (50 rules per role)
    BENCH_TERRAFORM=0 python benchmarks/aws_live.py   # without the Terraform steps
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from moto.core.responses import BaseResponse  # noqa: E402
from python_terraform import IsFlagged  # noqa: E402

from cloudports.emulators.aws import aws_env_for, create_vpc, start_moto_server  # noqa: E402
from cloudports.importer.synthesis import build_spec  # noqa: E402
from cloudports.importer.write import spec_text  # noqa: E402
from cloudports.pipeline import compile_spec  # noqa: E402
from cloudports.query.verify import Side, verify_topology  # noqa: E402
from cloudports.targets.aws import TARGET as AWS  # noqa: E402
from tests.support.terraform_env import (  # noqa: E402
    TerraformRunner,
    find_provider_mirror,
    find_terraform,
    terraform_env,
    write_cli_config,
)

ROLES = int(os.environ.get("BENCH_ROLES", "20"))  # 50 rules per role
SOURCES = 40  # CIDR sources per role (ingress only)
RING_PORTS = ["tcp/8000", "tcp/8443", "udp/5353", "tcp/9000-9010", "tcp/6379"]  # role i -> role i+1


# --------------------------------------------------------------------------------------- server-side count


class ServerCalls:
    """Counts every API action the moto server answers (boto3's and Terraform's alike)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        original = BaseResponse.call_action

        def call_action(response: Any) -> Any:
            self.counts[response._get_action()] += 1
            return original(response)

        BaseResponse.call_action = call_action  # type: ignore[method-assign]

    def take(self) -> Counter[str]:
        taken, self.counts = self.counts, Counter()
        return taken


def writes(counts: Counter[str]) -> int:
    return sum(n for op, n in counts.items() if not op.startswith(("Describe", "Get", "List")))


# ------------------------------------------------------------------------------------------------- spec


def generate_spec(directory: Path) -> Path:
    networks = {f"n{i:02d}": {"ipv4": [f"10.{100 + i}.0.0/24"]} for i in range(SOURCES)}
    roles = {f"r{i:02d}": {"description": f"role {i}"} for i in range(ROLES)}
    flows = [
        {"from": sorted(networks), "to": role, "services": ["tcp/443"], "description": f"clients reach {role}"}
        for role in roles
    ]
    flows += [
        {"from": f"r{i:02d}", "to": f"r{(i + 1) % ROLES:02d}", "services": RING_PORTS, "description": "ring"}
        for i in range(ROLES)
    ]
    spec = {
        "name": "bench",
        "egress": "strict",
        "networks": networks,
        "roles": roles,
        "flows": flows,
        # moto enforces 60 rules per direction per group; each group here has 45 inbound and 5 outbound.
        "targets": {"aws": {"name_prefix": "bench-", "max_rules_per_group": 60}},
    }
    path = directory / "topology.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------------------- steps


def timed(label: str, results: list, calls: ServerCalls, step) -> Any:
    calls.take()
    start = time.perf_counter()
    value = step()
    seconds = time.perf_counter() - start
    counts = calls.take()
    results.append((label, seconds, sum(counts.values()), writes(counts), counts))
    return value


def run_cloudports(spec: Path, vpc: str, calls: ServerCalls, results: list) -> int:
    policy = compile_spec(spec)

    def apply() -> int:
        backend = AWS.open_backend(policy, {"vpc_id": vpc}, False)
        return len(backend.apply(backend.plan()).changes)

    def drift() -> bool:
        return AWS.open_backend(policy, {"vpc_id": vpc}, False).plan().empty

    def apply_again() -> int:
        backend = AWS.open_backend(policy, {"vpc_id": vpc}, False)
        plan = backend.plan()
        return 0 if plan.empty else len(backend.apply(plan).changes)

    def import_lab() -> int:
        spec_data, notes = build_spec(AWS.import_lab({"vpc_id": vpc}))
        imported.write_text(spec_text(spec_data, notes, vpc))
        return len(notes)

    def verify_live() -> bool:
        state = AWS.open_backend(compile_spec(imported), {"vpc_id": vpc}, True).read_state()
        side = Side("aws", AWS.title, AWS.reachability(state), lambda p: AWS.explain(state, p), AWS.capabilities)
        return verify_topology(compile_spec(imported).topology, [side]).equivalent()

    imported = spec.with_name("imported.yaml")
    changes = timed("cloudports apply", results, calls, apply)
    assert timed("cloudports drift", results, calls, drift), "drift after apply"
    assert timed("cloudports apply (no-op)", results, calls, apply_again) == 0
    assert timed("cloudports import", results, calls, import_lab) == 0, "import approximated"
    assert timed("cloudports verify --live (imported)", results, calls, verify_live), "imported spec differs"
    return changes


def run_terraform(spec: Path, vpc: str, endpoint: str, work: Path, calls: ServerCalls, results: list) -> bool:
    binary, mirror = find_terraform(), find_provider_mirror("aws")
    if not binary or not mirror:
        print("terraform or a local hashicorp/aws mirror is missing: skipping the Terraform side")
        return False
    from cloudports.cli import main

    root = work / "tf"
    assert main(["emit", str(spec), "-t", "aws", "-o", str(root)]) == 0
    tf = TerraformRunner(root, terraform_env(write_cli_config(work / "cli", mirror), aws_env_for(endpoint)))
    assert tf.init()[0] == 0
    code, _, err = timed("terraform apply", results, calls, lambda: tf.apply({"vpc_id": vpc}, parallelism=10))
    assert code == 0, err
    # Right after an apply, refresh-only exits 2: it fills in the groups' computed inline ingress/egress
    # attributes, which Terraform recorded empty because the rules were created after the groups.
    code, _, err = timed(
        "terraform plan -refresh-only", results, calls, lambda: tf.plan({"vpc_id": vpc}, refresh_only=IsFlagged)
    )
    assert code in (0, 2), err
    results[-1] = (f"{results[-1][0]} (exit {code})", *results[-1][1:])
    # And cloudports agrees that what Terraform made is the spec.
    policy = compile_spec(spec)
    assert timed(
        "cloudports drift (after terraform)",
        results,
        calls,
        lambda: AWS.open_backend(policy, {"vpc_id": vpc}, False).plan().empty,
    )
    return True


def main() -> None:
    server = start_moto_server()
    calls = ServerCalls()
    results: list = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            spec = generate_spec(work)
            policy = compile_spec(spec)
            backend = AWS.open_backend(policy, {"vpc_id": "vpc-00000000"}, False)
            rules, groups = len(backend.desired.rules), len(backend.desired.groups)
            print(f"topology: {groups} security groups, {rules} rules; moto at {server.endpoint_url}\n")

            os.environ.update(aws_env_for(server.endpoint_url))  # boto3's standard chain finds moto
            run_cloudports(spec, create_vpc(server.endpoint_url), calls, results)
            server.reset()
            if os.environ.get("BENCH_TERRAFORM", "1") != "0":  # BENCH_TERRAFORM=0: cloudports' steps only
                run_terraform(spec, create_vpc(server.endpoint_url), server.endpoint_url, work, calls, results)
    finally:
        server.stop()

    print(f"{'step':38} {'wall s':>8} {'API calls':>10} {'writes':>7}  top operations")
    for label, seconds, total, wrote, counts in results:
        top = ", ".join(f"{op} {n}" for op, n in counts.most_common(4))
        print(f"{label:38} {seconds:8.2f} {total:10d} {wrote:7d}  {top}")


if __name__ == "__main__":
    main()
