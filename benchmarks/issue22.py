"""Benchmark: issue 22's command-level goals, for this checkout and an earlier one, in one interleaved run.

Every figure is a whole `cloudports` command run as users run it, in a child process with the checkout's folder on
PYTHONPATH, the two checkouts taking turns in every round (so that the machine's load falls on both alike):

* startup: wall time of `cloudports --help` and of `cloudports validate` on the distributed example (goal 1:
  at most 0.12 s and 0.20 s), median over the rounds;
* the 10,000-flow spec of benchmarks/compile.py (roles dealt over 20 Azure subnets): `emit -t aws`, `emit -t
  azure`, and both clouds' Terraform with TOPOLOGY.md (goal 2: at most 0.5 s of CPU): `emit -t aws -t azure`
  where the checkout has it, else the two emits added up (benchmarks/compile.py times the stages), `verify -t aws` and
  `-t azure` (goal 3: at most 1.5 s each), `query --from role0 --to role1` without a port by the intent and by
  each target (goal 3: at most 1 s). Two CPU figures each (user + system, median): the whole process, and the
  command alone (the child imports cloudports.cli and loads the command's module by asking for its help first,
  then times `main()`), which is what benchmarks/verify.py measured before.

The load average is printed before and after. benchmarks/vs_aerleon.py (goal 1's ratios), fleet_live.py (goal 4)
and compile.py (goals 2 and 5) measure the rest.

    git worktree add --detach /tmp/before <commit>   # the earlier checkout
    python benchmarks/issue22.py --before /tmp/before
    python benchmarks/issue22.py --before /tmp/before --rounds 5 --startup-rounds 21
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from compile import generated_spec  # noqa: E402

EXAMPLE = REPO / "examples" / "dynamics365-distributed" / "topology.yaml"
BOTH = "emit -t aws -t azure"
FLOWS, SUBNETS = 10_000, 20

# The child: import the CLI, load the command's module (its help, into /dev/null), then time main() in CPU seconds.
CHILD = """
import contextlib, io, json, os, sys, time
from cloudports.cli import main
argv = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()):
    main([argv[0], "--help"])
start = time.process_time()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(argv)
print(json.dumps({"code": code, "cpu": time.process_time() - start}))
"""


def _env(tree: Path) -> dict[str, str]:
    # Without PYTHONDONTWRITEBYTECODE: the untimed first run writes the bytecode caches an installed package has.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(tree)}


def wall(tree: Path, args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cloudports", *args], env=_env(tree), cwd=tree, capture_output=True)
    return time.perf_counter() - started


def cpu(tree: Path, argv: list[str]) -> tuple[float, float]:
    """(whole process, command alone) CPU seconds of one child."""
    before = os.times()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(argv)], env=_env(tree), cwd=tree, capture_output=True, text=True
    )
    after = os.times()
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"{argv} failed in {tree}:\n{done.stderr[-2000:]}")
    whole = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return whole, json.loads(done.stdout.splitlines()[-1])["cpu"]


def commands(spec: Path, out: Path, both: bool = True) -> dict[str, list[str]]:
    """both: the checkout emits several targets in one command (else the row adds up the two single emits)."""
    query = ["query", str(spec), "--from", "role0", "--to", "role1"]
    return {
        "emit -t aws": ["emit", str(spec), "-t", "aws", "-o", str(out / "aws")],
        "emit -t azure": ["emit", str(spec), "-t", "azure", "-o", str(out / "azure")],
        **({BOTH: ["emit", str(spec), "-t", "aws", "-t", "azure", "-o", str(out / "both")]} if both else {}),
        "verify -t aws": ["verify", str(spec), "-t", "aws"],
        "verify -t azure": ["verify", str(spec), "-t", "azure"],
        "query (intent)": query,
        "query -t aws": [*query, "-t", "aws"],
        "query -t azure": [*query, "-t", "azure"],
    }


def _emits_both(tree: Path) -> bool:
    """Whether the checkout's `emit` takes several targets (its help names DIR/TARGET)."""
    done = subprocess.run(
        [sys.executable, "-m", "cloudports", "emit", "-h"], env=_env(tree), cwd=tree, capture_output=True, text=True
    )
    return "DIR/TARGET" in done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier checkout (its folder)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 10,000-flow commands")
    parser.add_argument("--startup-rounds", type=int, default=15, help="rounds of --help and validate")
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "now": REPO}
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    startup: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in ("--help", "validate")}
    for _ in range(args.startup_rounds + 1):  # the first round is not counted: it writes the bytecode caches
        for name, tree in trees.items():
            startup[(name, "--help")].append(wall(tree, ["--help"]))
            startup[(name, "validate")].append(wall(tree, ["validate", str(EXAMPLE)]))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "generated.yaml"
        spec.write_text(yaml.safe_dump(generated_spec(FLOWS, subnets=SUBNETS), sort_keys=False))
        runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
        both = {name: _emits_both(tree) for name, tree in trees.items()}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for label, cmd in commands(spec, Path(tmp) / name, both[name]).items():
                    runs.setdefault((name, label), []).append(cpu(tree, cmd))
                if not both[name]:
                    aws, azure = runs[(name, "emit -t aws")][-1], runs[(name, "emit -t azure")][-1]
                    runs.setdefault((name, BOTH), []).append((aws[0] + azure[0], aws[1] + azure[1]))
    report(trees, startup, runs)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def report(
    trees: dict[str, Path], startup: dict[tuple[str, str], list[float]], runs: dict[tuple[str, str], list]
) -> None:
    print("\ncommand                            | before            | now               | goal")
    print("-----------------------------------|-------------------|-------------------|------")
    for command, goal in (("--help", "0.12 s"), ("validate", "0.20 s")):
        cells = [f"{statistics.median(startup[(t, command)][1:]):.3f} s wall" for t in trees]
        print(f"{'cloudports ' + command:<34} | {cells[0]:<17} | {cells[1]:<17} | {goal}")
    goals = {BOTH: "0.5 s", "verify -t aws": "1.5 s", "verify -t azure": "1.5 s", "query (intent)": "1 s"}
    goals |= {"query -t aws": "1 s", "query -t azure": "1 s"}
    for label in commands(Path("x"), Path("x")):
        cells = []
        for t in trees:
            whole = statistics.median(w for w, _ in runs[(t, label)])
            alone = statistics.median(a for _, a in runs[(t, label)])
            cells.append(f"{whole:.2f} / {alone:.2f} s")
        print(f"{label + ', 10,000 flows':<34} | {cells[0]:<17} | {cells[1]:<17} | {goals.get(label, '-')}")
    print("(10,000-flow rows: CPU of the whole process / of the command alone, as main() runs it;")
    print(f" '{BOTH}' adds up the two emits where a checkout cannot emit both in one command)")


if __name__ == "__main__":
    sys.exit(main())
