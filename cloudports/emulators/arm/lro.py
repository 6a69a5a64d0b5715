"""Long-running operations: Azure-AsyncOperation / Location polling, completion, and per-resource locks.

A write is applied at once (provisioningState Updating or Deleting) and registers an :class:`Operation`; the
operation answers InProgress to the first ``lro_polls`` polls and for at least ``lro_latency`` seconds, then
completes (or after ``lro_complete_after`` seconds, or on ``complete_operations()``). While it runs, other writes
to the same resource get 409/429.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ArmError
from .faults import Faults
from .model import NS, Request, Response, Settings


@dataclass
class Operation:
    id: str
    sub: str
    status_url: str
    locks: set[str]
    targets: list[Any]  # resources whose provisioningState follows the operation's outcome
    on_success: Callable[[], None] | None
    polls_left: int
    created: float
    fail: tuple[str, str] | None = None
    status: str = "InProgress"
    error: dict[str, Any] | None = None


class Operations:
    """The operations started so far, and the two polling endpoints the SDK reads."""

    routes = ("operation", "operation_result")

    def __init__(self, settings: Settings, faults: Faults) -> None:
        self.settings = settings
        self.faults = faults
        self._ops: dict[str, Operation] = {}
        self.peak = 0  # the most operations running at once so far (a test hook: do writes overlap?)

    def clear(self) -> None:
        self._ops.clear()
        self.peak = 0

    def start(
        self,
        req: Request,
        sub: str,
        location: str,
        *,
        lock: str,
        targets: list[Any],
        on_success: Callable[[], None] | None = None,
        delete: bool = False,
    ) -> dict[str, str]:
        """Register a running operation that locks resource id ``lock``; returns the LRO response headers."""
        op_id = str(uuid.uuid4())
        base = f"{req.base}/subscriptions/{sub}/providers/{NS}/locations/{location}"
        status_url = f"{base}/operations/{op_id}?api-version={req.api_version}"
        op = Operation(
            op_id, sub, status_url, {lock.lower()}, targets, on_success, self.settings.lro_polls, time.monotonic()
        )
        op.fail = self.faults.take_async_failure(req.method, req.path)
        self._ops[op_id] = op
        self.peak = max(self.peak, sum(o.status == "InProgress" for o in self._ops.values()))
        headers = {"Azure-AsyncOperation": status_url, "Retry-After": str(self.settings.retry_after)}
        if delete:
            headers["Location"] = f"{base}/operationResults/{op_id}?api-version={req.api_version}"
        return headers

    def finish(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        if op.fail is not None:
            op.status = "Failed"
            op.error = {"code": op.fail[0], "message": op.fail[1], "details": []}
            for target in op.targets:
                target.state = "Failed"
            return
        op.status = "Succeeded"
        for target in op.targets:
            target.state = "Succeeded"
        if op.on_success is not None:
            op.on_success()

    def complete_all(self) -> int:
        """Complete every running operation now; returns how many."""
        running = [op for op in self._ops.values() if op.status == "InProgress"]
        for op in running:
            self.finish(op)
        return len(running)

    def tick(self) -> None:
        """Complete the operations older than ``lro_complete_after`` (called on every ARM request)."""
        after = self.settings.lro_complete_after
        if after is None:
            return
        now = time.monotonic()
        for op in list(self._ops.values()):
            if op.status == "InProgress" and now - op.created >= after:
                self.finish(op)

    def ensure_unlocked(self, resource_id: str) -> None:
        """Refuse a write to a resource while an operation on it runs, as Azure does (409, or 429 if configured)."""
        key = resource_id.lower()
        for op in self._ops.values():
            if op.status == "InProgress" and key in op.locks:
                message = (
                    "Another operation on this or dependent resource is in progress. To retrieve status of the "
                    f"operation use uri: {op.status_url}."
                )
                if self.settings.conflict_status == 429:
                    raise ArmError(429, "RetryableErrorDueToAnotherOperation", message, headers={"Retry-After": "1"})
                raise ArmError(409, "AnotherOperationInProgress", message, headers={"Retry-After": "1"})

    def _advance(self, op: Operation) -> None:
        if op.status != "InProgress" or time.monotonic() - op.created < self.settings.lro_latency:
            return
        if op.polls_left > 0:
            op.polls_left -= 1
        else:
            self.finish(op)

    def _polled(self, sub: str, op_id: str) -> Operation:
        op = self._ops.get(op_id.lower())
        if op is None or op.sub.lower() != sub.lower():
            raise ArmError(404, "NotFound", f"Operation {op_id} was not found.")
        self._advance(op)
        return op

    def operation_get(self, req: Request, sub: str, loc: str, op: str) -> Response:
        """GET .../operations/{id} (Azure-AsyncOperation): the status body."""
        operation = self._polled(sub, op)
        body: dict[str, Any] = {"status": operation.status}
        if operation.error:
            body["error"] = operation.error
        headers = {"Retry-After": str(self.settings.retry_after)} if operation.status == "InProgress" else {}
        return 200, headers, body

    def operation_result_get(self, req: Request, sub: str, loc: str, op: str) -> Response:
        """GET .../operationResults/{id} (Location): 202 while running, 204 when done, the error if failed."""
        operation = self._polled(sub, op)
        if operation.status == "InProgress":
            location = f"{req.base}{req.path}?api-version={req.api_version}"
            return 202, {"Location": location, "Retry-After": str(self.settings.retry_after)}, None
        if operation.status == "Failed":
            error = operation.error or {"code": "InternalServerError", "message": "the operation failed"}
            raise ArmError(400, error["code"], error["message"])
        return 204, {}, None
