"""Benchmark: cloudports against aerleon (`aclgen`, GCE target) on the same rules, as whole processes.

Both tools get the same atomic rules: "network N may reach group R on tcp/P", over 50 IPv4 /24 networks and 20
groups (cloudports roles, GCE target tags), ports odd so that no tool can merge them into ranges. Two layouts:

* atomic: one port per flow (cloudports) / term (aerleon);
* packed: the same rules as 20 ports per flow / term.

Each round runs every command once, in turn, each as a fresh process writing into an empty folder: aerleon
(`aclgen --policy_file`, one GCE policy) and cloudports (`python -m cloudports emit`, once with `-t aws` and once
with `-t azure`). Times are medians over the rounds; per-rule times divide them by

* the atomic rules (the same count for every tool and layout: the fair unit of work), and
* the rules each tool emitted: GCE firewall rules (one per term, ports listed), AWS security-group rules (one per
  port and peer, plus two open-egress rules per group), Azure NSG rules (ports of one network-to-group pair packed,
  plus the structural deny).

aerleon is not a dependency of cloudports: `pip install -e '.[benchmark]'` brings it.

    python benchmarks/vs_aerleon.py                          # 1,000 and 10,000 rules, 5 rounds
    python benchmarks/vs_aerleon.py --rules 4000 --rounds 7

The last table gives the ratios the issue set a goal for (aerleon's time over cloudports' for the same rules, whole
processes, at least 3x): one per size, layout and cloud.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
NETWORKS, GROUPS, PACK = 50, 20, 20
LAYOUTS = ("atomic", "packed")

Rule = tuple[int, int, int]  # (network, group, port)


def atomic_rules(count: int) -> list[Rule]:
    """`count` rules, PACK per network-to-group pair (so the packed layout has count / PACK flows)."""
    rules = []
    for i in range(count):
        pair, slot = divmod(i, PACK)
        rules.append((pair % NETWORKS, pair // NETWORKS % GROUPS, 1025 + 2 * slot + 64 * (pair // (NETWORKS * GROUPS))))
    return rules


def flows(rules: list[Rule], packed: bool) -> list[tuple[int, int, list[int]]]:
    """(network, group, ports) per flow: one port each, or every port of a network-to-group pair together."""
    if not packed:
        return [(net, group, [port]) for net, group, port in rules]
    grouped: dict[tuple[int, int], list[int]] = {}
    for net, group, port in rules:
        grouped.setdefault((net, group), []).append(port)
    return [(net, group, ports) for (net, group), ports in grouped.items()]


def _cidr(net: int) -> str:
    return f"10.{net // 256}.{net % 256}.0/24"


def cloudports_spec(items: list[tuple[int, int, list[int]]]) -> dict:
    return {
        "name": "vs-aerleon",
        "networks": {f"net{n}": {"ipv4": [_cidr(n)]} for n in range(NETWORKS)},
        "roles": {f"group{g}": {} for g in range(GROUPS)},
        "flows": [
            {"from": f"net{net}", "to": f"group{group}", "services": [f"tcp/{p}" for p in ports]}
            for net, group, ports in items
        ],
        "targets": {"aws": {"max_rules_per_group": 1000}},
    }


def aerleon_inputs(items: list[tuple[int, int, list[int]]]) -> tuple[dict, dict]:
    """(definitions, policy): one network per /24, one service per port, one term per flow."""
    ports = sorted({p for _, _, ps in items for p in ps})
    definitions = {
        "networks": {f"NET{n}": {"values": [{"address": _cidr(n)}]} for n in range(NETWORKS)},
        "services": {f"P{p}": [{"port": p, "protocol": "tcp"}] for p in ports},
    }
    terms = [
        {
            "name": f"f{i}",
            "source-address": f"NET{net}",
            "destination-tag": f"group{group}",
            "protocol": "tcp",
            "destination-port": " ".join(f"P{p}" for p in ports),
            "action": "accept",
        }
        for i, (net, group, ports) in enumerate(items)
    ]
    policy = {"filters": [{"header": {"targets": {"gce": "global/networks/default"}}, "terms": terms}]}
    return definitions, policy


@dataclass
class Tool:
    name: str
    argv: list[str]
    out: Path  # emptied before every run
    count: str  # how to count the emitted rules: "gce", "aws" or "azure"


def write_layout(root: Path, layout: str, items: list[tuple[int, int, list[int]]]) -> list[Tool]:
    base = root / layout
    (base / "def").mkdir(parents=True)
    (base / "pol").mkdir()
    definitions, policy = aerleon_inputs(items)
    (base / "def" / "defs.yaml").write_text(yaml.safe_dump(definitions, sort_keys=False))
    (base / "pol" / "bench.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    spec = base / "topology.yaml"
    spec.write_text(yaml.safe_dump(cloudports_spec(items), sort_keys=False))
    aclgen = [shutil.which("aclgen") or "aclgen", "--definitions_directory", str(base / "def")]
    aclgen += ["--base_directory", str(base / "pol"), "--policy_file", str(base / "pol" / "bench.yaml")]
    cloudports = [sys.executable, "-m", "cloudports", "emit", str(spec)]
    return [
        Tool("aerleon gce", [*aclgen, "--output_directory", str(base / "gce")], base / "gce", "gce"),
        Tool("cloudports aws", [*cloudports, "-t", "aws", "-o", str(base / "aws")], base / "aws", "aws"),
        Tool("cloudports azure", [*cloudports, "-t", "azure", "-o", str(base / "azure")], base / "azure", "azure"),
    ]


def run(tool: Tool) -> float:
    shutil.rmtree(tool.out, ignore_errors=True)
    tool.out.mkdir()
    # Without PYTHONDONTWRITEBYTECODE: the untimed first run writes the bytecode caches (as startup.py does).
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    done = subprocess.run(tool.argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{tool.name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def emitted(tool: Tool) -> int:
    if tool.count == "gce":
        return sum(len(json.loads(p.read_text())) for p in tool.out.glob("*.gce"))
    if tool.count == "aws":  # every rule's value has exactly one ip_protocol attribute
        return len(re.findall(r"^\s+ip_protocol\s+=", (tool.out / "rules.tf").read_text(), re.MULTILINE))
    # the priorities record names every NSG rule, the structural deny rules included
    return len(json.loads((tool.out / "cloudports-priorities.json").read_text())["priorities"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rules", type=int, nargs="+", default=[1000, 10000], help="atomic rules (multiples of 20), each size in turn"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are shown)")
    args = parser.parse_args(argv)
    if not shutil.which("aclgen"):
        raise SystemExit("aclgen not found: pip install -e '.[benchmark]'")
    ratios: list[tuple[int, str, str, float]] = []
    for size in args.rules:
        rules = atomic_rules(size)
        with tempfile.TemporaryDirectory() as tmp:
            tools = {layout: write_layout(Path(tmp), layout, flows(rules, layout == "packed")) for layout in LAYOUTS}
            times: dict[tuple[str, str], list[float]] = {}
            for tool in (t for ts in tools.values() for t in ts):  # one untimed run each (caches warm)
                run(tool)
            for _ in range(args.rounds):
                for layout, ts in tools.items():
                    for tool in ts:
                        times.setdefault((layout, tool.name), []).append(run(tool))
            report(size, args.rounds, tools, times)
            ratios += [
                (size, layout, tool.name, _median(times, layout, "aerleon gce") / _median(times, layout, tool.name))
                for layout, ts in tools.items()
                for tool in ts
                if tool.count != "gce"
            ]
    print("\naerleon's time / cloudports' time (whole processes, medians; the goal is at least 3x)")
    for size, layout, name, ratio in ratios:
        print(f"{size:>7,} rules  {layout:<6}  {name:<16}  {ratio:5.2f}x  {'met' if ratio >= 3 else 'not met'}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _median(times: dict[tuple[str, str], list[float]], layout: str, name: str) -> float:
    return statistics.median(times[(layout, name)])


def report(size: int, rounds: int, tools: dict[str, list[Tool]], times: dict[tuple[str, str], list[float]]) -> None:
    print(f"\n{size:,} atomic rules; {rounds} interleaved rounds; whole processes; medians")
    head = ["layout", "tool", "time", "emitted", "per atomic rule", "per emitted rule"]
    head += ["aerleon / this (atomic, emitted)"]
    rows = []
    for layout, ts in tools.items():
        base = {}
        for tool in ts:
            median = _median(times, layout, tool.name)
            count = emitted(tool)
            per_atomic, per_emitted = median / size, median / count
            if tool.count == "gce":
                base = {"atomic": per_atomic, "emitted": per_emitted}
            ratio = f"{base['atomic'] / per_atomic:.2f}x, {base['emitted'] / per_emitted:.2f}x"
            rows.append(
                [
                    layout,
                    tool.name,
                    f"{median * 1000:,.0f} ms",
                    f"{count:,}",
                    f"{per_atomic * 1e6:,.1f} us",
                    f"{per_emitted * 1e6:,.1f} us",
                    "-" if tool.count == "gce" else ratio,
                ]
            )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
