"""Fault injection for the moto server: write calls that are carried out but whose answer is lost.

On a real network an EC2 answer can be lost after EC2 made the change (a reset connection, a 5xx from a load
balancer): botocore then sends the call again and gets ``InvalidGroup.Duplicate``, ``InvalidPermission.Duplicate``
or ``...NotFound`` for a change that did happen. moto never loses an answer, so cloudports' handling of that case
could not be tested without this.

A WSGI middleware in front of moto: when enabled, a seeded share of write calls (Authorize*, Revoke*, Create*,
Delete*, Modify*, Update*) is passed to moto, and then answered with HTTP 500 ``InternalError`` (which botocore
retries) instead of moto's answer. Only requests from 127.0.0.1 are ever touched, and the control endpoint only
answers 127.0.0.1: this exists for tests and benchmarks on one machine.

Control (JSON over HTTP, so a server in another process can be driven too)::

    POST /moto-api/cloudports/faults {"drop_rate": 0.1, "seed": 7, "operations": [], "limit": null}
    GET  /moto-api/cloudports/faults  -> {"drop_rate": ..., "dropped": ["CreateSecurityGroup", ...]}

``operations`` limits the drops to these actions (empty: every write), ``limit`` caps how many answers are
dropped. ``POST /moto-api/reset`` (moto's own reset) also switches fault injection off.

The same middleware lets a test in this process watch every write a client makes, whatever the client
(Terraform's provider is a Go program cloudports cannot hook): :attr:`FaultInjector.after_write` callbacks run
with the action's name once moto has carried a write out and before its answer is sent, so the client's next
call waits for them.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

LOOPBACK = "127.0.0.1"
CONTROL_PATH = "/moto-api/cloudports/faults"
RESET_PATH = "/moto-api/reset"
WRITE_PREFIXES = ("Authorize", "Revoke", "Create", "Delete", "Modify", "Update")
_LOST = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InternalError</Code>'
    b"<Message>cloudports fault injection: the call was carried out, its answer was dropped</Message>"
    b"</Error></Errors><RequestID>cloudports-fault-injection</RequestID></Response>"
)

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class DropAnswers:
    drop_rate: float = 0.0
    seed: int = 0
    operations: tuple[str, ...] = ()
    limit: int | None = None
    dropped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def wants(self, action: str) -> bool:
        if not action.startswith(WRITE_PREFIXES) or (self.operations and action not in self.operations):
            return False
        if self.limit is not None and len(self.dropped) >= self.limit:
            return False
        return self._random.random() < self.drop_rate


def _json(start_response: StartResponse, status: str, data: dict[str, Any]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


class FaultInjector:
    """The WSGI middleware (see the module docstring)."""

    def __init__(self, app: App):
        self.app = app
        self.faults: DropAnswers | None = None
        self.after_write: list[Callable[[str], None]] = []  # see the module docstring
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        local = environ.get("REMOTE_ADDR") == LOOPBACK
        if path == CONTROL_PATH:
            return self._control(environ, start_response) if local else _json(start_response, "403 Forbidden", {})
        if path == RESET_PATH:
            self.faults = None
        watched = self.faults is not None or self.after_write
        if not watched or not local or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
        with self._lock:
            drop = self.faults is not None and self.faults.wants(action)
            if drop and self.faults is not None:
                self.faults.dropped.append(action)
        if not drop:
            return self._observed(action, environ, start_response)
        for _chunk in self.app(environ, lambda *_a, **_k: lambda _data: None):  # carry the call out ...
            pass
        start_response("500 Internal Server Error", [("Content-Type", "text/xml")])  # ... and lose its answer
        return [_LOST]

    def _observed(self, action: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = list(self.app(environ, start_response))  # moto has carried the call out once this returns
        if action.startswith(WRITE_PREFIXES):
            for callback in list(self.after_write):
                callback(action)
        return answer

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}"
            settings = json.loads(raw)
            self.faults = DropAnswers(
                drop_rate=float(settings.get("drop_rate", 0.0)),
                seed=int(settings.get("seed", 0)),
                operations=tuple(settings.get("operations") or ()),
                limit=settings.get("limit"),
            )
        faults = self.faults or DropAnswers()
        return _json(
            start_response, "200 OK", {"drop_rate": faults.drop_rate, "seed": faults.seed, "dropped": faults.dropped}
        )
