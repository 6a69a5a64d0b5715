"""Benchmark: load + compile, AWS build, Azure build and Terraform emission, for the examples and for generated
topologies of 1,000 to 100,000 flows.

For each topology it prints the wall time of every stage (the median of --repeat runs), the whole pipeline's time
per flow, the peak Python memory of the pipeline (tracemalloc, measured in a further run so that tracing does not
slow the timed ones) in all and per flow, and the rule counts: neutral atomic rules, AWS security-group rules,
Azure NSG rules. Generated topologies stay within the AWS quota (targets.aws.max_rules_per_group is raised to
1,000, the schema's maximum, and rules are spread over enough roles); Azure's 1,000-rules-per-NSG limit is hard,
so when a topology needs more the Azure column says that the build refuses and how many rules it would need.

Specs of 30,000 flows and more are larger than the spec limits (1 MiB per file, 4 MiB and 200,000 values per
spec: spec/yamlpos.py), which bound what hostile input can cost. This process lifts them (LIFTED_LIMITS) so that
the pipeline itself can be measured at that scale; the limits stay as they are for every other use.

    python benchmarks/compile.py                              # examples + 1,000, 10,000 flows, median of 3
    python benchmarks/compile.py --sizes 1000 10000 30000 100000
    python benchmarks/compile.py --repeat 5 --no-examples
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cloudports.compile import compile_topology  # noqa: E402
from cloudports.errors import CloudportsError  # noqa: E402
from cloudports.gcpause import gc_paused  # noqa: E402
from cloudports.graph.markdown import topology_text, write_topology_md  # noqa: E402
from cloudports.spec import load_topology, yamlpos  # noqa: E402
from cloudports.targets.aws import TARGET as AWS  # noqa: E402
from cloudports.targets.aws.emit import emit_aws  # noqa: E402
from cloudports.targets.azure import TARGET as AZURE  # noqa: E402
from cloudports.targets.azure.build import MAX_RULES  # noqa: E402
from cloudports.targets.azure.emit import emit_azure  # noqa: E402

AWS_RULES_PER_GROUP = 1000  # the schema's maximum for targets.aws.max_rules_per_group
FLOWS_PER_ROLE = 200  # keeps every group well under AWS_RULES_PER_GROUP per direction and family
LIFTED_LIMITS = {"MAX_FILE_BYTES": 64 << 20, "MAX_SPEC_BYTES": 64 << 20, "MAX_NODES": 10_000_000}


def generated_spec(flows: int, seed: int = 0, subnets: int = 0) -> dict:
    """A strict-egress topology with `flows` flows: role to role (tcp and udp), network to role, role to network.

    Ports are odd numbers so that they never merge into ranges: every flow yields its own atomic rules.
    `subnets`: that many Azure subnets, the roles dealt out over them in turn (one NSG per subnet).
    """
    rng = random.Random(seed + flows)
    n_roles = max(4, flows // FLOWS_PER_ROLE)
    n_nets = max(2, flows // 100)
    roles = [f"role{i}" for i in range(n_roles)]
    nets = {
        f"net{i}": {"ipv4": [f"10.{100 + i // 256}.{i % 256}.0/24"], "ipv6": [f"fd00:{i:x}::/48"] if i % 2 else []}
        for i in range(n_nets)
    }
    names = list(nets)
    out = []
    for i in range(flows):
        port = 1025 + 2 * (i // 4 % 30000)
        kind = i % 4
        if kind == 0:
            src, dst, svc = rng.choice(roles), rng.choice(roles), f"tcp/{port}"
        elif kind == 1:
            src, dst, svc = rng.choice(names), rng.choice(roles), f"tcp/{port}"
        elif kind == 2:
            src, dst, svc = rng.choice(roles), rng.choice(roles), f"udp/{port}"
        else:
            src, dst, svc = rng.choice(roles), rng.choice(names), f"tcp/{port}"
        out.append({"from": src, "to": dst, "services": [svc], "description": f"generated flow {i}"})
    return {
        "name": f"bench-{flows}",
        "egress": "strict",
        "networks": nets,
        "roles": {r: {"description": f"generated role {r}"} for r in roles},
        "flows": out,
        "targets": {"aws": {"max_rules_per_group": AWS_RULES_PER_GROUP}, **_azure_subnets(roles, subnets)},
    }


def _azure_subnets(roles: list[str], count: int) -> dict:
    if not count:
        return {}
    subnets = [
        {"virtual_network": "vnet", "name": f"snet{i}", "roles": roles[i::count]} for i in range(min(count, len(roles)))
    ]
    return {"azure": {"subnets": subnets}}


@dataclass
class Result:
    name: str
    flows: int = 0
    times: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int | str] = field(default_factory=dict)
    peak_mib: float = 0.0
    azure_refused: str = ""


CLOCK = time.perf_counter  # --cpu: time.process_time


@gc_paused()  # as `cloudports emit` runs (cli/compile_commands.py); the collector catches up after the laps
def _pipeline(path: Path, phase: str | None, times: dict[str, list[float]] | None, result: Result) -> None:
    def lap(stage: str, start: float) -> float:
        now = CLOCK()
        if times is not None:
            times.setdefault(stage, []).append(now - start)
        return now

    t = CLOCK()
    topology = load_topology(path, phase=phase)
    policy = compile_topology(topology)
    t = lap("load+compile", t)
    aws = AWS.build(policy)
    t = lap("aws build", t)
    azure = None
    try:
        azure = AZURE.build(policy)
    except CloudportsError as exc:
        result.azure_refused = _refusal(exc)
    t = lap("azure build", t)
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(tmp) / "aws"] + ([Path(tmp) / "azure"] if azure is not None else [])
        emit_aws(aws, roots[0], phase)
        if azure is not None:
            emit_azure(azure, roots[1], phase)
        t = lap("emit", t)
        for root in roots:  # each `emit -t CLOUD` writes it beside its root
            write_topology_md(root, topology_text(policy))
        lap("TOPOLOGY.md", t)
    result.flows = len(topology.flows)
    result.counts = {
        "neutral": len(policy.rules),
        "aws": len(aws.rules),
        "azure": len(azure.all_rules()) if azure is not None else "-",
    }


def _refusal(exc: CloudportsError) -> str:
    """The Azure build's refusal, in a table cell: what the first problem says, and how many NSGs have one."""
    text = str(exc)
    needed = re.search(r"needs (\d+) rules", text)
    if needed:
        return f"refused: needs {int(needed.group(1)):,} rules > {MAX_RULES:,}"
    asgs = re.findall(r"(\d+) ASGs referenced by NSG", text)
    if asgs:
        return f"refused: {len(asgs)} NSGs reference up to {max(map(int, asgs))} ASGs > 100"
    return "refused: " + text.splitlines()[0][:60]


def measure(name: str, path: Path, phase: str | None, repeat: int) -> Result:
    result = Result(name)
    for _ in range(repeat):
        gc.collect()
        _pipeline(path, phase, result.times, result)
    gc.collect()
    tracemalloc.start()
    _pipeline(path, phase, None, result)
    result.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


STAGES = ("load+compile", "aws build", "azure build", "emit", "TOPOLOGY.md")


def _row(r: Result) -> list[str]:
    median = {stage: statistics.median(r.times[stage]) for stage in STAGES}
    total = statistics.median(sum(run) for run in zip(*(r.times[stage] for stage in STAGES), strict=True))
    emit = _ms(median["emit"]) + (" (aws only)" if r.azure_refused else "")
    return [
        r.name,
        f"{r.flows:,}",
        *(_ms(median[stage]) for stage in STAGES[:3]),
        emit,
        _ms(median["TOPOLOGY.md"]),
        _ms(total),
        f"{total / r.flows * 1e6:,.0f} us",
        f"{r.peak_mib:,.1f} MiB",
        f"{r.peak_mib * 1024 / r.flows:,.1f} KiB",
        f"{r.counts['neutral']:,}",
        f"{r.counts['aws']:,}",
        r.azure_refused or str(r.counts["azure"]),
    ]


def report(results: list[Result]) -> None:
    header = ["topology", "flows", "load+compile", "aws build", "azure build", "emit (both)", "TOPOLOGY.md (x2)"]
    header += ["total", "per flow"]
    header += ["peak mem", "per flow", "neutral", "aws rules", "azure rules"]
    rows = [_row(r) for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000], help="generated flow counts")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per topology (the median is shown)")
    parser.add_argument("--no-examples", action="store_true", help="only the generated topologies")
    parser.add_argument("--cpu", action="store_true", help="CPU time of this process instead of wall time")
    parser.add_argument(
        "--azure-subnets",
        type=int,
        default=0,
        metavar="N",
        help="generated topologies: deal their roles over N Azure subnets, one NSG each (0: one NSG)",
    )
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter

    results = []
    if not args.no_examples:
        for path in sorted(REPO.glob("examples/*/topology.yaml")):
            for phase in (None, "setup"):
                name = path.parent.name + (f" --phase {phase}" if phase else "")
                results.append(measure(name, path, phase, args.repeat))
    for name, value in LIFTED_LIMITS.items():
        setattr(yamlpos, name, value)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml writes 100,000 flows in seconds, not minutes
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"generated-{size}.yaml"
            spec = generated_spec(size, subnets=args.azure_subnets)
            path.write_text(yaml.dump(spec, Dumper=dumper, sort_keys=False))
            nsgs = len(spec["targets"].get("azure", {}).get("subnets", [])) or 1
            label = f"generated ({path.stat().st_size / 1024:,.0f} KiB YAML, {nsgs} NSG{'s' if nsgs > 1 else ''})"
            results.append(measure(label, path, None, args.repeat))
    clock = "CPU" if args.cpu else "wall"
    print(f"python {sys.version.split()[0]}; {clock} times, median of {args.repeat}; peak memory: tracemalloc, own run")
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
