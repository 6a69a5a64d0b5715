"""Benchmark: how long `python -m cloudports --help` and `python -m cloudports validate <example>` take, as whole
processes (interpreter start, imports, work, exit), the way a user or a script meets them.

Each round runs every command once, in turn (so that a busy machine slows them alike); the table gives the
median and the fastest run of each. `python -c pass` is measured the same way: the interpreter's own start, which
no change to cloudports can remove (site-packages .pth files included).

    python benchmarks/startup.py                    # 20 rounds
    python benchmarks/startup.py --repeat 50
    python benchmarks/startup.py --root /other/checkout --module cloudports.cli   # an older tree, for comparison
    python -X importtime -m cloudports --help 2> imports.txt                      # where the time goes
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/dynamics365-distributed/topology.yaml"


def commands(module: str) -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "cloudports --help": [sys.executable, "-m", module, "--help"],
        "cloudports validate": [sys.executable, "-m", module, "validate", EXAMPLE],
    }


def child_env(root: Path) -> dict[str, str]:
    """The environment of the measured commands: without PYTHONDONTWRITEBYTECODE, so that the untimed first run
    writes the bytecode caches an installed package has (with it set, every run compiled cloudports' sources
    again: about a third of a `validate`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(root)}


def run_once(argv: list[str], root: Path) -> float:
    env = child_env(root)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}")
    return elapsed


def measure(root: Path, module: str, repeat: int) -> dict[str, list[float]]:
    cmds = commands(module)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for argv in cmds.values():  # one untimed run each: bytecode caches written, files in the page cache
        run_once(argv, root)
    for _ in range(repeat):
        for name, argv in cmds.items():
            times[name].append(run_once(argv, root))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="rounds (each runs every command once)")
    parser.add_argument("--root", type=Path, default=REPO, help="checkout to run (its folder goes on PYTHONPATH)")
    parser.add_argument("--module", default="cloudports", help="module to run with -m")
    args = parser.parse_args(argv)

    times = measure(args.root.resolve(), args.module, args.repeat)
    print(f"python {sys.version.split()[0]}; {args.repeat} rounds; whole processes; times in ms")
    print(f"{'command':22} | {'median':>7} | {'fastest':>7}")
    print(f"{'-' * 22}-|-{'-' * 7}-|-{'-' * 7}")
    for name, values in times.items():
        print(f"{name:22} | {statistics.median(values) * 1000:7.0f} | {min(values) * 1000:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
