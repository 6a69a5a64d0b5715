"""Benchmark: `cloudports verify` (no cloud) on the examples and on generated topologies; `query` without a port.

For each topology it prints the time of the exhaustive comparison for AWS and for Azure (the states are built
first and not timed; the garbage collector paused, as the command runs it), the address cells and endpoint pairs
compared, and the differences found (all of them known limitations for compiled states). The generated
topologies are those of benchmarks/compile.py. The last column is a digest of every answer (differences and
notes, as `verify --format json` gives them): a change meant only to be faster must leave it as it was.

    python benchmarks/verify.py                      # examples + 100 and 1,000 flows
    python benchmarks/verify.py --sizes 1000 3000    # other sizes
    python benchmarks/verify.py --repeat 5           # best of 5
    python benchmarks/verify.py --no-examples --cpu --azure-subnets 20 --sizes 1000 3000 10000
    python benchmarks/verify.py --query --no-examples --cpu --sizes 10000   # `query --from role0 --to role1`

--query times `cloudports query SPEC --from role0 --to role1` (no --port: every allowed range is listed) in this
process through `cloudports.cli.main`, spec loading and compiling included, by the spec's intent and by each
target's compiled rules; its digest is of the printed answer.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from compile import LIFTED_LIMITS, generated_spec  # noqa: E402

from cloudports.errors import CloudportsError  # noqa: E402
from cloudports.gcpause import gc_paused  # noqa: E402
from cloudports.pipeline import compile_spec  # noqa: E402
from cloudports.query.verify import Report, Side, verify_topology  # noqa: E402
from cloudports.spec import yamlpos  # noqa: E402
from cloudports.targets import registry  # noqa: E402

CLOCK = time.perf_counter  # --cpu: time.process_time


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
        with gc_paused():  # as the command runs it (cli/verify_commands.py)
            start = CLOCK()
            report = verify_topology(policy.topology, [side])  # type: ignore[attr-defined]
            best = min(best, CLOCK() - start)
    assert report is not None
    return best, report


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def row(label: str, spec: Path, repeat: int) -> str:
    policy, sides = _sides(spec)
    flows = len(policy.topology.flows)  # type: ignore[attr-defined]
    cells, answers = [], []
    for name in ("aws", "azure"):
        if name not in sides:
            cells.append(f"{'refused':>10} {'':>6} {'':>6} {'':>5}")
            continue
        seconds, report = _timed(policy, sides[name], repeat)
        cells.append(f"{seconds * 1000:>8.0f}ms {report.cells:>6} {report.pairs:>6} {len(report.differences):>5}")
        answers.append(json.dumps(report.as_dict(strict=True), sort_keys=True))
    return f"{label:<40} {flows:>6} | " + " | ".join(cells) + f" | {_digest(''.join(answers))}"


def query_row(label: str, spec: Path, repeat: int) -> str:
    from cloudports.cli import main

    cells = []
    for target in (None, "aws", "azure"):
        argv = ["query", str(spec), "--from", "role0", "--to", "role1", *(["-t", target] if target else [])]
        best, printed = float("inf"), ""
        for _ in range(repeat):
            out = io.StringIO()
            start = CLOCK()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                code = main(argv)
            best = min(best, CLOCK() - start)
            printed = out.getvalue().replace(str(spec), "SPEC")  # the spec's reasons name its (temporary) file
        shown = f"{best * 1000:.0f}ms" if code in (0, 3) else f"exit {code}"
        cells.append(f"{shown:>10} {printed.count(chr(10)):>5} {_digest(printed)}")
    return f"{label:<40} | " + " | ".join(cells)


def main() -> None:
    global CLOCK
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="CPU time of this process instead of wall time")
    parser.add_argument("--azure-subnets", type=int, default=0, help="generated specs: Azure subnets (NSGs)")
    parser.add_argument("--no-examples", action="store_true")
    parser.add_argument("--query", action="store_true", help="time `query --from role0 --to role1` instead")
    args = parser.parse_args()
    CLOCK = time.process_time if args.cpu else time.perf_counter
    if args.query:
        head = " | ".join(f"{name:>10} {'lines':>5} {'digest':>8}" for name in ("intent", "aws", "azure"))
        print(f"{'query (no --port)':<40} | {head}")
    else:
        head = " | ".join(f"{name + ' time':>10} {'cells':>6} {'pairs':>6} {'diffs':>5}" for name in ("aws", "azure"))
        print(f"{'topology':<40} {'flows':>6} | {head} | digest")
    measure = query_row if args.query else row
    for spec in [] if args.no_examples else sorted(REPO.glob("examples/*/topology.yaml")):
        print(measure(spec.parent.name, spec, args.repeat), flush=True)
    for name, value in LIFTED_LIMITS.items():  # 30,000 flows and more: past the spec limits (see compile.py)
        setattr(yamlpos, name, value)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"generated-{size}.yaml"
            path.write_text(yaml.safe_dump(generated_spec(size, subnets=args.azure_subnets)))
            print(measure(f"generated ({size:,} flows)", path, args.repeat), flush=True)


if __name__ == "__main__":
    main()
