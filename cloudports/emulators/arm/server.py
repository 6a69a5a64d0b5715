"""The local Azure Resource Manager server for Microsoft.Network security resources (standard library only).

It speaks the REST paths the real ``azure.mgmt.network.NetworkManagementClient`` uses for network security
groups, security rules, default security rules, application security groups, virtual networks, subnets and
network interfaces (plus a minimal Microsoft.Compute virtual machine, written with plain JSON), with Azure's
long-running-operation protocol (Azure-AsyncOperation / Location polling), ``nextLink`` paging, Azure's
documented validation of security rules and NIC IP configurations and a few test hooks (fault injection,
request log).

This module holds the HTTP side and the public :class:`ArmServer`; routing is in routes.py, the resource
types in nsgs.py, security_rules.py, asgs.py, vnets.py, nics.py and vms.py, operations in lro.py, the store
in store.py.
See README.md next to this file for the served paths, the validation and where it is simpler than Azure.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .asgs import AsgHandlers
from .control import handle_control
from .errors import ArmError
from .faults import Faults
from .lro import Operations
from .model import LOOPBACK, Headers, Request, Response, Settings
from .nics import NicHandlers
from .nsgs import NsgHandlers
from .routes import Router
from .security_rules import SecurityRuleHandlers
from .store import Store
from .vms import VmHandlers
from .vnets import VnetHandlers

DROPPED = 0  # the status handle() gives a request whose answer an injected fault loses


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudports-armserver/1.0"
    timeout = 60

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.arm._track(self.request, True)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.arm._track(self.request, False)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.arm.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    def _serve(self) -> None:
        arm: ArmServer = self.server.arm  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = arm.handle(self.command, self.path, self.headers, body)
        if status == DROPPED:  # an injected lost answer: the request was carried out, no answer is sent
            self.close_connection = True
            return
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        headers = {"x-ms-request-id": str(uuid.uuid4()), **headers}
        if data:
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        # Headers and body in one write: two small writes on a keep-alive connection meet the client's
        # delayed ACK (about 40 ms per request).
        self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        if data and self.command != "HEAD":
            self._headers_buffer.append(data)  # type: ignore[attr-defined]
        self.flush_headers()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve


class ArmServer:
    """A Microsoft.Network ARM endpoint on 127.0.0.1 for tests.

    ``with ArmServer() as srv:`` starts it on a free port; point the SDK at ``srv.url``.

    :param port: TCP port on 127.0.0.1 (0 = pick a free one).
    :param page_size: items per list page before a ``nextLink`` is returned.
    :param lro_polls: how many polls of an operation answer ``InProgress`` before it completes.
    :param lro_complete_after: if set, operations also complete on their own after this many seconds.
    :param lro_latency: every operation takes at least this many seconds (polls answer InProgress until then), as
        Azure's do: for measuring what running independent writes concurrently gains.
    :param conflict_status: status for a write while an operation on the resource is running
        (409 ``AnotherOperationInProgress``, or 429 ``RetryableErrorDueToAnotherOperation``).
    :param retry_after: ``Retry-After`` seconds on LRO responses and InProgress polls.
    :param subnets: virtual networks/subnets to pre-create (and re-create on :meth:`reset`); each item is a
        mapping with the keyword arguments of :meth:`add_subnet` or a tuple of its positional arguments.
    :param require_auth: answer 401 when no ``Authorization: Bearer ...`` header is sent.
    :param verbose: print one line per request to stderr.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        page_size: int = 50,
        lro_polls: int = 1,
        lro_complete_after: float | None = None,
        conflict_status: int = 409,
        retry_after: int = 0,
        subnets: Iterable[Mapping[str, Any] | tuple[Any, ...]] = (),
        require_auth: bool = True,
        verbose: bool = False,
        lro_latency: float = 0.0,
    ) -> None:
        self.settings = Settings(
            page_size, lro_polls, lro_complete_after, conflict_status, retry_after, require_auth, lro_latency
        )
        self.port = port
        self.verbose = verbose
        self._seed = [dict(s) if isinstance(s, Mapping) else s for s in subnets]
        self._lock = threading.RLock()  # every request and test hook runs under it: no concurrency inside
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._store = Store()
        self._faults = Faults()
        self._ops = Operations(self.settings, self._faults)
        handler_types = (NsgHandlers, SecurityRuleHandlers, AsgHandlers, VnetHandlers, NicHandlers, VmHandlers)
        handlers = [cls(self.settings, self._store, self._ops) for cls in handler_types]
        self._router = Router(self.settings, self._faults, self._ops, [self._ops, *handlers])
        self._log: list[dict[str, Any]] = []
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ArmServer:
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer((LOOPBACK, self.port), _Handler)
        httpd.daemon_threads = True
        httpd.arm = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="armserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conn_lock:
            open_conns = list(self._conns)
        for conn in open_conns:  # idle keep-alive connections: end them so no request reaches a stopped server
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ArmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, is_open: bool) -> None:
        with self._conn_lock:
            if is_open:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (pass as ``base_url`` to the SDK client)."""
        return f"http://{LOOPBACK}:{self.port}"

    # ------------------------------------------------------------------ test hooks

    def reset(self) -> None:
        """Forget every resource, operation, fault and logged request; re-create the ``subnets`` seed."""
        with self._lock:
            self._store.clear()
            self._ops.clear()
            self._faults.reset()
            self._log.clear()
            for item in self._seed:
                if isinstance(item, dict):
                    self.add_subnet(**item)
                else:
                    self.add_subnet(*item)

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every ARM request so far (control requests under /_arm/ excluded)."""
        with self._lock:
            return [(r["method"], r["path"], r["status"]) for r in self._log]

    def requests(self) -> list[dict[str, Any]]:
        """The request log with details: method, path, query, status, code (error code or None)."""
        with self._lock:
            return [dict(r) for r in self._log]

    def clear_request_log(self) -> None:
        with self._lock:
            self._log.clear()

    def inject_fault(
        self,
        method: str = "*",
        path: str = ".*",
        *,
        status: int = 429,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        count: int = 1,
        async_failure: bool = False,
        headers: Mapping[str, str] | None = None,
        drop_answer: bool = False,
    ) -> int:
        """Make the next ``count`` requests with ``method`` ("*" = any) whose path matches the regex ``path``
        (searched, case-insensitive) fail with ``status`` / ``code`` (and ``Retry-After`` if given).

        With ``async_failure=True`` the matching PUT/DELETE is accepted as usual but its long-running
        operation ends ``Failed`` with ``code``/``message`` (the resource then shows provisioningState Failed).
        With ``drop_answer=True`` the matching request is carried out as usual, but its answer is lost: the
        server closes the connection without a response (a client sees a dropped connection and may retry).
        Returns the fault id.
        """
        with self._lock:
            return self._faults.inject(
                method,
                path,
                status=status,
                code=code,
                message=message,
                retry_after=retry_after,
                count=count,
                async_failure=async_failure,
                headers=headers,
                drop_answer=drop_answer,
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._faults.describe()

    @property
    def peak_operations(self) -> int:
        """The most long-running operations that were running at once since the last reset (0 if none ran)."""
        with self._lock:
            return self._ops.peak

    def complete_operations(self) -> int:
        """Complete every running operation now (as if Azure had finished); returns how many."""
        with self._lock:
            return self._ops.complete_all()

    def add_vnet(
        self,
        subscription: str,
        resource_group: str,
        vnet: str,
        address_prefixes: Iterable[str] = ("10.0.0.0/16",),
        location: str = "westeurope",
    ) -> str:
        """Create (or extend) a virtual network directly; returns its id."""
        with self._lock:
            return self._store.add_vnet(subscription, resource_group, vnet, address_prefixes, location).id

    def add_subnet(
        self,
        subscription: str,
        resource_group: str,
        vnet: str,
        subnet: str,
        prefix: str,
        location: str = "westeurope",
        nsg_id: str | None = None,
    ) -> str:
        """Create a subnet directly (the virtual network too if missing, its address space widened to
        contain ``prefix``); returns the subnet id.  No validation, no LRO: a test fixture helper."""
        with self._lock:
            return self._store.add_subnet(subscription, resource_group, vnet, subnet, prefix, location, nsg_id)

    # ------------------------------------------------------------------ request entry point

    def handle(self, method: str, raw_path: str, headers: Headers, body: bytes) -> Response:
        """Answer one request: (status, headers, JSON body or None); the HTTP handler calls this."""
        split = urlsplit(raw_path)
        path = unquote(split.path)
        query = {k.lower(): v for k, v in parse_qsl(split.query, keep_blank_values=True)}
        host = headers.get("Host") or f"{LOOPBACK}:{self.port}"
        req = Request(method.upper(), path, query, headers, body, f"http://{host}")
        if path.startswith("/_arm/") or path == "/_arm":
            with self._lock:
                return handle_control(self, req)
        with self._lock:
            try:
                result = self._router.dispatch(req)
            except ArmError as err:
                result = (err.status, err.headers, err.body())
            status, _, payload = result
            code = payload.get("error", {}).get("code") if isinstance(payload, dict) and status >= 400 else None
            if self._faults.take_dropped_answer(req.method, path):
                status, code, result = DROPPED, "AnswerDropped", (DROPPED, {}, None)
            self._log.append({"method": req.method, "path": path, "query": split.query, "status": status, "code": code})
            return result
