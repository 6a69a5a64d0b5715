"""Many specs at once: `drift SPEC...` and `plan SPEC...` (or a folder of specs), the nightly check of every lab.

Each spec is compiled on its own; specs in one place (an account, region and VPC; a subscription and resource
group) share one read of it and each picks out its own resources (live/shared.py), so a hundred labs in one VPC
cost the API calls of one. The reads run side by side, at most PER_SCOPE at a time against one account and region
(AWS) or subscription (Azure), whose request quotas they share, and at most WORKERS in all. A spec that fails (it
does not compile, its VPC is gone, the credentials are refused) is one failed row, never the end of the run.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.shared import sharing

if TYPE_CHECKING:
    from cloudports.live.backend import Backend
    from cloudports.live.plan import Plan

WORKERS = 8
PER_SCOPE = 4
AHEAD = 32  # specs compiled ahead of their read (each holds its compiled state until read)
_SPEC_KEYS = (re.compile(r"^name\s*:", re.M), re.compile(r"^roles\s*:", re.M))


@dataclass(frozen=True)
class Outcome:
    spec: Path
    plan: Plan | None = None
    error: CloudportsError | None = None


def spec_files(paths: list[Path]) -> list[Path]:
    """The specs named, a folder standing for every spec below it (a YAML file with top-level `name:` and
    `roles:`; includes and catalogs have no `name:`), in path order, each once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            found += [p for p in candidates if _is_spec(p)]
        else:
            found.append(path)
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise CloudportsError([Diagnostic(None, f"no spec found in {where}", "pass spec files or folders with specs")])
    return list(dict.fromkeys(found))


def _is_spec(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")[:65536]
    except OSError:
        return False
    return all(key.search(head) for key in _SPEC_KEYS)


def run_fleet(
    specs: list[Path], open_backend: Callable[[Path], Backend], read: Callable[[Backend], Plan]
) -> list[Outcome]:
    """Every spec's plan (or error), in the order given.

    One thread opens (compiles) the specs in order, up to AHEAD of the reads: while the first spec of a VPC waits
    for the one read they share (seconds, mostly the cloud's), the next ones compile instead of waiting their turn
    behind it."""
    locks: dict[str, threading.BoundedSemaphore] = defaultdict(lambda: threading.BoundedSemaphore(PER_SCOPE))
    guard = threading.Lock()
    ahead = threading.BoundedSemaphore(AHEAD)

    def opened(spec: Path) -> Backend | CloudportsError:
        ahead.acquire()  # released when a reader takes it: at most AHEAD compiled specs wait for their read
        try:
            return open_backend(spec)
        except CloudportsError as exc:
            return _fresh(exc)

    def one(spec: Path, backends: list[Future[Backend | CloudportsError] | None], i: int) -> Outcome:
        future, backends[i] = backends[i], None  # the reader alone holds the backend: freed with its row
        assert future is not None
        try:
            backend = future.result()
        finally:
            ahead.release()
        del future
        if isinstance(backend, CloudportsError):
            return Outcome(spec, error=backend)
        try:
            with guard:
                lock = locks[backend.quota_scope]
            with lock:
                return Outcome(spec, plan=read(backend))
        except CloudportsError as exc:
            return Outcome(spec, error=_fresh(exc))

    workers = min(WORKERS, len(specs))
    with sharing(), ThreadPoolExecutor(max_workers=1) as opener, ThreadPoolExecutor(max_workers=workers) as pool:
        # each task runs in a copy of this thread's context, made here (a worker thread's own is empty): it sees
        # the sharing turned on above
        backends: list[Future[Backend | CloudportsError] | None] = [
            opener.submit(copy_context().run, opened, spec) for spec in specs
        ]
        rows = [pool.submit(copy_context().run, one, spec, backends, i) for i, spec in enumerate(specs)]
        return [row.result() for row in rows]


def _fresh(exc: CloudportsError) -> CloudportsError:
    """A fresh error with the diagnostics only: the one raised holds its traceback (and its context's), and with
    them the frames of the failed read - the backend, its client, what was read - until the end of the command."""
    return CloudportsError(exc.diagnostics)
