"""Control endpoints under /_arm/ (no auth, no api-version): what a test drives over HTTP instead of Python."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .model import Request, Response

if TYPE_CHECKING:
    from .server import ArmServer

Action = Callable[["ArmServer", dict[str, Any]], Response]


def _error(status: int, code: str, message: str) -> Response:
    return status, {}, {"error": {"code": code, "message": message, "details": []}}


def _inject_fault(arm: ArmServer, payload: dict[str, Any]) -> Response:
    # Both spellings of the two-word keys: snake_case as in Python, camelCase as in ARM bodies.
    fault_id = arm.inject_fault(
        payload.get("method", "*"),
        payload.get("path", ".*"),
        status=int(payload.get("status", 429)),
        code=payload.get("code"),
        message=payload.get("message"),
        retry_after=payload.get("retry_after", payload.get("retryAfter")),
        count=int(payload.get("count", 1)),
        async_failure=bool(payload.get("async_failure", payload.get("asyncFailure", False))),
        headers=payload.get("headers"),
        drop_answer=bool(payload.get("drop_answer", payload.get("dropAnswer", False))),
    )
    return 201, {}, {"id": fault_id}


def _add_subnet(arm: ArmServer, payload: dict[str, Any]) -> Response:
    subnet_id = arm.add_subnet(
        payload["subscription"],
        payload.get("resource_group") or payload["resourceGroup"],
        payload["vnet"],
        payload["subnet"],
        payload["prefix"],
        payload.get("location", "westeurope"),
    )
    return 201, {}, {"id": subnet_id}


def _reset(arm: ArmServer, payload: dict[str, Any]) -> Response:
    arm.reset()
    return 200, {}, {"status": "reset"}


def _clear_requests(arm: ArmServer, payload: dict[str, Any]) -> Response:
    arm.clear_request_log()
    return 200, {}, {"status": "cleared"}


def _clear_faults(arm: ArmServer, payload: dict[str, Any]) -> Response:
    arm.clear_faults()
    return 200, {}, {"status": "cleared"}


_ACTIONS: dict[tuple[str, str], Action] = {
    ("GET", "/_arm/health"): lambda arm, _: (200, {}, {"status": "ok", "url": arm.url}),
    ("POST", "/_arm/reset"): _reset,
    ("GET", "/_arm/requests"): lambda arm, _: (200, {}, {"value": arm.requests()}),
    ("DELETE", "/_arm/requests"): _clear_requests,
    ("GET", "/_arm/faults"): lambda arm, _: (200, {}, {"value": arm.faults()}),
    ("DELETE", "/_arm/faults"): _clear_faults,
    ("POST", "/_arm/faults"): _inject_fault,
    ("POST", "/_arm/subnets"): _add_subnet,
    ("POST", "/_arm/operations/complete"): lambda arm, _: (200, {}, {"completed": arm.complete_operations()}),
}


def handle_control(arm: ArmServer, req: Request) -> Response:
    route = req.path.rstrip("/")
    try:
        payload = json.loads(req.body) if req.body.strip() else {}
    except ValueError:
        return _error(400, "InvalidJson", "The body is not JSON.")
    if not isinstance(payload, dict):
        return _error(400, "InvalidJson", "The body must be a JSON object.")
    action = _ACTIONS.get((req.method, route))
    if action is None:
        return _error(404, "NotFound", f"No control endpoint {req.method} {route}.")
    try:
        return action(arm, payload)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        return _error(400, "InvalidControlRequest", str(exc))
