"""Fuzz `load_topology` + `compile_spec` with specs mutated from the examples and print figures.

    PYTHONPATH=$PWD python benchmarks/fuzz_spec.py --cases 10000 --seed 1 --workers 2

Each worker is a subprocess with an address-space limit (--mem-mib) and each case has a wall-clock limit
(--timeout); a worker that dies (segfault, out of memory) or overruns is counted against its case and replaced.
The mutator is the one of tests/test_fuzz.py. Outcomes: ok, error (a SpecError/CloudportsError whose
diagnostics all have a place and a hint), unlocated (an error without file:line:col or option name), unhinted
(an error without a hint), crash (any other exception, signature = type and innermost frame), died, timeout.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_fuzz import fuzz_case, make_workdir, run_case  # noqa: E402


def _worker(conn, seed: int, mem_mib: int) -> None:
    limit = mem_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    workdir = make_workdir(Path(tempfile.mkdtemp(prefix="cloudports-fuzz-")))
    while True:
        index = conn.recv()
        if index is None:
            return
        data, options, phase = fuzz_case(seed, index)
        started = time.perf_counter()
        try:
            outcome, detail = run_case(workdir, data, options, phase), ""
        except AssertionError as exc:
            outcome, _, detail = str(exc).partition(": ")
            detail = detail.replace(str(workdir), "")[:160]
        except BaseException as exc:  # noqa: BLE001 - every escape is what we count
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"
            outcome, detail = "crash", f"{type(exc).__name__} at {where}"
        elapsed = time.perf_counter() - started
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send((outcome, detail, elapsed, rss_kib))


class _Slot:
    def __init__(self, seed: int, mem_mib: int):
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=_worker, args=(child, seed, mem_mib), daemon=True)
        self.proc.start()
        self.index: int | None = None
        self.started = 0.0

    def stop(self) -> None:
        self.proc.kill()
        self.proc.join()


def run(cases: int, seed: int, workers: int, timeout: float, mem_mib: int) -> dict:
    slots = [_Slot(seed, mem_mib) for _ in range(workers)]
    pending = list(range(cases))[::-1]
    results: dict[int, tuple] = {}
    while len(results) < cases:
        for n, slot in enumerate(slots):
            if slot.index is None and pending:
                slot.index, slot.started = pending.pop(), time.perf_counter()
                slot.conn.send(slot.index)
            if slot.index is None:
                continue
            if slot.conn.poll(0.002):
                try:
                    results[slot.index] = slot.conn.recv()
                    slot.index = None
                    continue
                except EOFError:
                    results[slot.index] = ("died", f"exit code {slot.proc.exitcode}", 0.0, 0)
            elif time.perf_counter() - slot.started > timeout:
                results[slot.index] = ("timeout", f"over {timeout:.0f} s", timeout, 0)
            elif slot.proc.is_alive():
                continue
            else:
                results[slot.index] = ("died", f"exit code {slot.proc.exitcode}", 0.0, 0)
            slot.stop()
            slots[n] = _Slot(seed, mem_mib)
    for slot in slots:
        slot.conn.send(None)
        slot.proc.join(5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--mem-mib", type=int, default=1024, help="address-space limit per worker")
    args = parser.parse_args()
    started = time.perf_counter()
    results = run(args.cases, args.seed, args.workers, args.timeout, args.mem_mib)
    wall = time.perf_counter() - started
    outcomes = Counter(r[0] for r in results.values())
    signatures = Counter(f"{r[0]}: {r[1]}" for r in results.values() if r[0] not in ("ok", "error"))
    slowest = max(results.items(), key=lambda item: item[1][2])
    peak_mib = max(r[3] for r in results.values()) / 1024
    print(f"cases: {args.cases} (seed {args.seed}) in {wall:.1f} s on {args.workers} workers")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"slowest case: #{slowest[0]} {slowest[1][2]:.3f} s ({slowest[1][0]})")
    print(f"peak worker RSS: {peak_mib:.0f} MiB (limit {args.mem_mib} MiB address space)")
    for signature, count in signatures.most_common(25):
        print(f"  {count:5d}  {signature}")


if __name__ == "__main__":
    main()
