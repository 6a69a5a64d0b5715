"""Benchmark: `cloudports verify` (no cloud) on the examples and on generated topologies.

For each topology it prints the time of the exhaustive comparison for AWS and for Azure (the states are built
first and not timed), the address cells and endpoint pairs compared, and the differences found (all of them
known limitations for compiled states). The generated topologies are those of benchmarks/compile.py.

    python benchmarks/verify.py                      # examples + 100 and 1,000 flows
    python benchmarks/verify.py --sizes 1000 3000    # other sizes
    python benchmarks/verify.py --repeat 5           # best of 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from compile import generated_spec  # noqa: E402

from cloudports.errors import CloudportsError  # noqa: E402
from cloudports.pipeline import compile_spec  # noqa: E402
from cloudports.query.verify import Report, Side, verify_topology  # noqa: E402
from cloudports.targets import registry  # noqa: E402


def _sides(spec: Path) -> tuple[object, dict[str, Side]]:
    policy = compile_spec(spec, {}, None)
    sides = {}
    for name in ("aws", "azure"):
        target = registry.get(name)
        try:
            state = target.build(policy)
        except CloudportsError:
            continue  # e.g. more rules than one NSG holds
        explain = (lambda t, s: lambda probe: t.explain(s, probe))(target, state)
        sides[name] = Side(name, target.title, target.reachability(state), explain, target.capabilities)
    return policy, sides


def _timed(policy: object, side: Side, repeat: int) -> tuple[float, Report]:
    best, report = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        report = verify_topology(policy.topology, [side])  # type: ignore[attr-defined]
        best = min(best, time.perf_counter() - start)
    assert report is not None
    return best, report


def row(label: str, spec: Path, repeat: int) -> str:
    policy, sides = _sides(spec)
    flows = len(policy.topology.flows)  # type: ignore[attr-defined]
    cells = []
    for name in ("aws", "azure"):
        if name not in sides:
            cells.append(f"{'refused':>10} {'':>6} {'':>6} {'':>5}")
            continue
        seconds, report = _timed(policy, sides[name], repeat)
        cells.append(f"{seconds * 1000:>8.0f}ms {report.cells:>6} {report.pairs:>6} {len(report.differences):>5}")
    return f"{label:<40} {flows:>6} | " + " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    head = " | ".join(f"{name + ' time':>10} {'cells':>6} {'pairs':>6} {'diffs':>5}" for name in ("aws", "azure"))
    print(f"{'topology':<40} {'flows':>6} | {head}")
    for spec in sorted(REPO.glob("examples/*/topology.yaml")):
        print(row(spec.parent.name, spec, args.repeat))
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"generated-{size}.yaml"
            path.write_text(yaml.safe_dump(generated_spec(size)))
            print(row(f"generated ({size:,} flows)", path, args.repeat))


if __name__ == "__main__":
    main()
