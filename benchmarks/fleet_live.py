"""Benchmark: `cloudports drift FOLDER` of N labs sharing VPCs vs `drift` of one spec, on a local moto server.

N copies of examples/dynamics365-distributed (each under its own name and name prefix) are applied into one VPC,
and again spread over 5 VPCs; then `drift` of one spec and `drift FOLDER` of all N each run in a child process
(the CLI as users run it). For each the wall time, the seconds the server spent answering, the EC2 API calls it
answered and the child's peak RSS are printed. A last row drifts N specs of which all but one are refused (same group
names, no prefix): failed specs must not cost more memory than good ones.

    python benchmarks/fleet_live.py              # N = 20
    BENCH_LABS=100 python benchmarks/fleet_live.py
    BENCH_LABS=100 BENCH_ONE_VPC_ONLY=1 python benchmarks/fleet_live.py   # one spec and N in one VPC only
    BENCH_REPEAT=3 python benchmarks/fleet_live.py          # each drift step 3 times: medians, highest peak
    BENCH_BEFORE=/tmp/old python benchmarks/fleet_live.py   # each step also with the cloudports in /tmp/old
                                                            # (e.g. `git archive <commit> | tar -x -C /tmp/old`)
"""

from __future__ import annotations

import os
import statistics
import subprocess
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

from cloudports.emulators.aws import aws_env_for, create_vpc, start_moto_server  # noqa: E402
from cloudports.pipeline import compile_spec  # noqa: E402
from cloudports.targets.aws import TARGET as AWS  # noqa: E402

LABS = int(os.environ.get("BENCH_LABS", "20"))
ONE_VPC_ONLY = os.environ.get("BENCH_ONE_VPC_ONLY") == "1"  # skip the 5-VPC and refused cases (half the applying)
BEFORE = os.environ.get("BENCH_BEFORE")  # another checkout of cloudports to compare with, on the same labs
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))  # runs of each drift step (the median is shown)
VPCS = 5  # the spread-out case: labs round-robin over this many VPCs
EXAMPLE = REPO / "examples" / "dynamics365-distributed" / "topology.yaml"


class ServerCalls:
    """Every API action the moto server answers, counted, and the seconds the server spent on them (moto's own
    cost, which the child's wall time includes: on EC2 a page of 1,000 rules is a fraction of a second)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0
        original = BaseResponse.call_action

        def call_action(response: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(response)
            finally:
                self.counts[response._get_action()] += 1
                self.seconds += time.perf_counter() - start

        BaseResponse.call_action = call_action  # type: ignore[method-assign, assignment]

    def take(self) -> tuple[Counter[str], float]:
        taken, self.counts, seconds, self.seconds = self.counts, Counter(), self.seconds, 0.0
        return taken, seconds


def write_labs(folder: Path, count: int, vpcs: list[str], prefixed: bool = True) -> list[Path]:
    """`count` copies of the example, lab i in vpcs[i % len(vpcs)], named lab-i (prefix `lab-i-` if prefixed)."""
    base = yaml.safe_load(EXAMPLE.read_text())
    paths = []
    for i in range(count):
        spec = dict(base, name=f"{folder.name}-{i:03d}")
        aws = dict(spec["targets"]["aws"], vpc_id=vpcs[i % len(vpcs)])
        aws.pop("name_prefix", None)
        if prefixed:
            aws["name_prefix"] = f"{folder.name}-{i:03d}-"
        spec["targets"] = {"aws": aws}
        path = folder / f"lab-{i:03d}" / "topology.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        paths.append(path)
    return paths


def apply_all(specs: list[Path]) -> None:
    for spec in specs:
        backend = AWS.open_backend(compile_spec(spec), {}, False)
        backend.apply(backend.plan())


APPLIERS = 2  # child processes applying labs side by side: the server answers one while the other parses


def apply_side_by_side(specs: list[Path], env: dict[str, str]) -> None:
    """apply_all in APPLIERS child processes, each with every APPLIERS-th lab: the labs are built the way users
    build them (plan and apply through the server), and the children parse answers while this process (the
    server) makes the next one."""
    code = f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import fleet_live; "
    code += "from pathlib import Path; fleet_live.apply_all([Path(p) for p in sys.argv[1:]])"
    children = [
        subprocess.Popen([sys.executable, "-c", code, *map(str, specs[i::APPLIERS])], env=env, cwd=specs[0].parent)
        for i in range(APPLIERS)
    ]
    if any(child.wait() for child in children):
        raise SystemExit("applying the labs failed")


# The child reports its own peak (VmHWM, after exec): its rusage would count the pages it shared with this
# process (and moto's state in it) between fork and exec.
PEAK_REPORTER = """
import atexit, os, runpy, sys
def report():
    with open("/proc/self/status") as status, open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(report)
sys.argv[0] = "cloudports"
runpy.run_module("cloudports", run_name="__main__")
"""


def drift_child(target: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, exit code, peak RSS in MiB) of `cloudports drift TARGET` in a child process."""
    with tempfile.NamedTemporaryFile() as peak:
        start = time.perf_counter()
        code = subprocess.run(
            [sys.executable, "-c", PEAK_REPORTER, "drift", str(target), "-t", "aws", "-f", "json"],
            env={**env, "BENCH_PEAK_FILE": peak.name},
            cwd=target.parent,  # not this checkout: `python -c` puts the working directory first on sys.path
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode
        seconds = time.perf_counter() - start
        return seconds, code, int(Path(peak.name).read_text() or 0) // 1024  # VmHWM is in KiB


def measure(label: str, target: Path, env: dict[str, str], calls: ServerCalls, rows: list) -> None:
    """REPEAT runs of each step (with BEFORE: interleaved with the other checkout's), the median wall time and
    server seconds and the highest peak kept: the machine is shared, one run is noise."""
    runs: dict[str, list[tuple[float, float, int, Counter[str], int]]] = {}
    for _ in range(REPEAT):
        for code_label, code_env in [("", env)] + ([(" (before)", {**env, "PYTHONPATH": BEFORE})] if BEFORE else []):
            calls.take()
            seconds, code, rss = drift_child(target, code_env)
            counts, server = calls.take()
            runs.setdefault(code_label, []).append((seconds, server, code, counts, rss))
            total = sum(counts.values())
            print(f"  {label}{code_label}: {seconds:.2f} s, exit {code}, {total} calls, {rss} MiB", flush=True)
    for code_label, found in runs.items():
        seconds, server = statistics.median(r[0] for r in found), statistics.median(r[1] for r in found)
        _, _, code, counts, _ = found[-1]
        rows.append((label + code_label, seconds, server, code, sum(counts.values()), max(r[4] for r in found), counts))


def main() -> None:
    server = start_moto_server()
    calls = ServerCalls()
    env = {**os.environ, **aws_env_for(server.endpoint_url)}
    os.environ.update(aws_env_for(server.endpoint_url))
    rows: list = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            one_vpc = [create_vpc(server.endpoint_url)]
            five_vpcs = [create_vpc(server.endpoint_url, f"10.{i}.0.0/16") for i in range(1, VPCS + 1)]
            print(
                f"applying {LABS} labs into one VPC{'' if ONE_VPC_ONLY else f' and {LABS} over {VPCS} VPCs'} ...",
                flush=True,
            )
            together = write_labs(work / "one", LABS, one_vpc)
            spread = [] if ONE_VPC_ONLY else write_labs(work / "five", LABS, five_vpcs)
            refused = [] if ONE_VPC_ONLY else write_labs(work / "refused", LABS, one_vpc, prefixed=False)
            start = time.perf_counter()
            apply_side_by_side(together + spread + refused[:1], env)
            print(f"  applied in {time.perf_counter() - start:.0f} s", flush=True)

            measure("drift of one spec", together[0], env, calls, rows)
            measure(f"drift FOLDER, {LABS} labs in 1 VPC", work / "one", env, calls, rows)
            if not ONE_VPC_ONLY:
                measure(f"drift FOLDER, {LABS} labs in {VPCS} VPCs", work / "five", env, calls, rows)
                measure(f"drift FOLDER, {LABS - 1} of {LABS} refused", work / "refused", env, calls, rows)
    finally:
        server.stop()

    print(f"\n{'step':45} {'wall s':>7} {'server s':>8} {'exit':>4} {'API calls':>9} {'peak MiB':>8}  operations")
    for label, seconds, server, code, total, rss, counts in rows:
        ops = ", ".join(f"{op} {n}" for op, n in counts.most_common(4))
        print(f"{label:45} {seconds:7.2f} {server:8.2f} {code:4d} {total:9d} {rss:8d}  {ops}")


if __name__ == "__main__":
    main()
