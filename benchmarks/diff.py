"""Benchmark: `cloudports diff` (no cloud) of one ordinary change, on the examples and on generated topologies.

The change: the first network widened by one bit, and a new port (tcp/65001) on the first flow. For each topology
it prints the time of the comparison alone (both specs compiled first, not timed; best of --repeat) judged by the
spec's intent and by each target's compiled rules, and the rows found. The generated topologies are those of
benchmarks/compile.py.

    python benchmarks/diff.py                       # examples + 100 and 1,000 flows
    python benchmarks/diff.py --sizes 10000         # other sizes
    python benchmarks/diff.py --repeat 1
    python benchmarks/diff.py --no-examples --cpu --repeat 1 --sizes 1000 3000 10000

The last column is a digest of every row found (as `diff --format json` gives them): a change meant only to be
faster must leave it as it was.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import ipaddress
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from compile import generated_spec  # noqa: E402

from cloudports.compile import CompiledPolicy  # noqa: E402
from cloudports.errors import CloudportsError  # noqa: E402
from cloudports.gcpause import gc_paused  # noqa: E402
from cloudports.pipeline import compile_spec  # noqa: E402
from cloudports.query.change import Change, View, find_changes  # noqa: E402
from cloudports.query.intent import Intent  # noqa: E402
from cloudports.targets import registry  # noqa: E402

JUDGES = ("spec", "aws", "azure")
CLOCK = time.perf_counter  # --cpu: time.process_time


def changed(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its first network one bit wider and a new port on its first flow."""
    new = copy.deepcopy(spec)
    for network in new.get("networks", {}).values():
        blocks = network.get("ipv4") or []
        if blocks:
            wider = ipaddress.ip_network(blocks[0]).supernet()
            network["ipv4"] = [str(wider), *blocks[1:]]
            break
    flow = new["flows"][0]
    flow["services"] = [*flow["services"], "tcp/65001"]
    flow.setdefault("allow_exposure", "benchmark: the new port may face the internet")
    return new


def view(policy: CompiledPolicy, judge: str) -> View:
    if judge == "spec":
        return View.of_intent(policy.topology)
    target = registry.get(judge)
    return View.of_state(policy.topology, target, target.build(policy))


def _timed(old: View, new: View, judge: str, repeat: int) -> tuple[float, list[Change]]:
    best, rows = float("inf"), []
    for _ in range(repeat):
        fresh_old, fresh_new = copy.copy(old), copy.copy(new)  # Intent caches answers: start each run cold
        if judge == "spec":
            fresh_old.reach, fresh_new.reach = Intent(old.topology), Intent(new.topology)
        with gc_paused():  # as the command runs it (cli/diff_commands.py)
            start = CLOCK()
            rows = find_changes(judge, fresh_old, fresh_new)
            best = min(best, CLOCK() - start)
    return best, rows


def row(label: str, spec: dict[str, Any], folder: Path, repeat: int) -> str:
    (folder / "old.yaml").write_text(yaml.safe_dump(spec))
    (folder / "new.yaml").write_text(yaml.safe_dump(changed(spec)))
    before, after = compile_spec(folder / "old.yaml", {}, None), compile_spec(folder / "new.yaml", {}, None)
    cells, answers = [], []
    for judge in JUDGES:
        try:
            old, new = view(before, judge), view(after, judge)
        except CloudportsError:
            cells.append(f"{'refused':>10} {'':>5}")
            continue
        seconds, rows = _timed(old, new, judge, repeat)
        cells.append(f"{seconds * 1000:>8.0f}ms {len(rows):>5}")
        answers += [json.dumps(c.as_dict(), sort_keys=True).replace(str(folder), "DIR") for c in rows]
    digest = hashlib.sha256("".join(answers).encode()).hexdigest()[:8]  # the same rows: the same digest
    return f"{label:<32} {len(before.topology.flows):>6} | " + " | ".join(cells) + f" | {digest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="CPU time of this process instead of wall time")
    parser.add_argument("--no-examples", action="store_true")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter
    head = " | ".join(f"{j + ' time':>10} {'rows':>5}" for j in JUDGES)
    print(f"{'topology':<32} {'flows':>6} | {head} | digest")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for path in [] if args.no_examples else sorted(REPO.glob("examples/*/topology.yaml")):
            spec = yaml.safe_load(path.read_text())
            print(row(path.parent.name, spec, folder, args.repeat))
        for size in args.sizes:
            print(row(f"generated ({size:,} flows)", generated_spec(size), folder, args.repeat))


if __name__ == "__main__":
    main()
