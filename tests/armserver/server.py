"""A local Azure Resource Manager server for Microsoft.Network security resources (stdlib only).

It speaks the REST paths the real ``azure.mgmt.network.NetworkManagementClient`` uses for network security
groups, security rules, default security rules, application security groups, virtual networks and subnets,
with Azure's long-running-operation protocol (Azure-AsyncOperation / Location polling), ``nextLink`` paging,
Azure's documented validation of security rules and a few test hooks (fault injection, request log).

See README.md next to this file for the served paths, the validation and the places where it is simpler
than Azure.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ArmError, bad_request
from .validation import (
    canonical_location,
    check_rule_set,
    parse_ip_prefix,
    parse_resource_id,
    rule_asg_ids,
    validate_name,
    validate_rule,
    validate_subscription,
)

NS = "Microsoft.Network"
NSG_TYPE = f"{NS}/networkSecurityGroups"
RULE_TYPE = f"{NSG_TYPE}/securityRules"
DEFAULT_RULE_TYPE = f"{NSG_TYPE}/defaultSecurityRules"
ASG_TYPE = f"{NS}/applicationSecurityGroups"
VNET_TYPE = f"{NS}/virtualNetworks"
SUBNET_TYPE = f"{VNET_TYPE}/subnets"

LOOPBACK = "127.0.0.1"

# The six default rules (name, direction, priority, source, destination, access, description).
DEFAULT_RULES = [
    ("AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", "Inbound", 65500, "*", "*", "Deny", "Deny all inbound traffic"),
    ("AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny", "Deny all outbound traffic"),
]  # fmt: skip


def _etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def _rg_prefix(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{NS}"


# --------------------------------------------------------------------------------------------- model


@dataclass
class Rule:
    name: str
    props: dict[str, Any]
    state: str = "Succeeded"


@dataclass
class Nsg:
    sub: str
    rg: str
    name: str
    location: str
    tags: dict[str, str]
    rules: dict[str, Rule] = field(default_factory=dict)  # lower-case name -> rule, in order
    flush_connection: bool = False
    etag: str = field(default_factory=_etag)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "Succeeded"

    @property
    def id(self) -> str:
        return f"{_rg_prefix(self.sub, self.rg)}/networkSecurityGroups/{self.name}"


@dataclass
class Asg:
    sub: str
    rg: str
    name: str
    location: str
    tags: dict[str, str]
    etag: str = field(default_factory=_etag)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "Succeeded"

    @property
    def id(self) -> str:
        return f"{_rg_prefix(self.sub, self.rg)}/applicationSecurityGroups/{self.name}"


@dataclass
class Subnet:
    name: str
    prefix: str
    nsg_id: str | None = None
    state: str = "Succeeded"


@dataclass
class Vnet:
    sub: str
    rg: str
    name: str
    location: str
    tags: dict[str, str]
    address_prefixes: list[str]
    subnets: dict[str, Subnet] = field(default_factory=dict)
    etag: str = field(default_factory=_etag)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "Succeeded"

    @property
    def id(self) -> str:
        return f"{_rg_prefix(self.sub, self.rg)}/virtualNetworks/{self.name}"

    def subnet_id(self, subnet: Subnet) -> str:
        return f"{self.id}/subnets/{subnet.name}"


@dataclass
class Operation:
    id: str
    sub: str
    status_url: str
    locks: set[str]
    targets: list[Any]
    on_success: Callable[[], None] | None
    polls_left: int
    created: float
    fail: tuple[str, str] | None = None
    status: str = "InProgress"
    error: dict[str, Any] | None = None


@dataclass
class Fault:
    """The next ``count`` requests matching method + path regex fail (or, with async_failure, their LRO fails)."""

    id: int
    method: str
    path: re.Pattern[str]
    status: int
    code: str
    message: str
    retry_after: float | None
    count: int
    async_failure: bool
    headers: dict[str, str]

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method in ("*", method.upper()) and bool(self.path.search(path))

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "retry_after": self.retry_after,
            "count": self.count,
            "async_failure": self.async_failure,
        }


@dataclass
class Request:
    """What a handler gets: the parsed request."""

    method: str
    path: str  # the path as sent (decoded), without the query
    query: dict[str, str]  # lower-case keys
    headers: Mapping[str, str]
    body: bytes
    base: str  # scheme://host:port the client used
    api_version: str = ""

    def json_object(self) -> dict[str, Any]:
        if not self.body.strip():
            raise bad_request("InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise bad_request(
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: '{exc}'.",
            ) from None
        if not isinstance(value, dict):
            raise bad_request("InvalidRequestContent", "The request content must be a JSON object.")
        return value


Response = tuple[int, dict[str, str], Any]

# --------------------------------------------------------------------------------------------- routing

_P = "subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
_ROUTES: list[tuple[str, str]] = [
    ("subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}/operations/{op}", "operation"),
    ("subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}/operationResults/{op}", "operation_result"),
    ("subscriptions/{sub}/providers/Microsoft.Network/networkSecurityGroups", "nsg_list_sub"),
    ("subscriptions/{sub}/providers/Microsoft.Network/applicationSecurityGroups", "asg_list_sub"),
    (f"{_P}/networkSecurityGroups", "nsg_list"),
    (f"{_P}/networkSecurityGroups/{{nsg}}", "nsg"),
    (f"{_P}/networkSecurityGroups/{{nsg}}/securityRules", "rule_list"),
    (f"{_P}/networkSecurityGroups/{{nsg}}/securityRules/{{rule}}", "rule"),
    (f"{_P}/networkSecurityGroups/{{nsg}}/defaultSecurityRules", "default_rule_list"),
    (f"{_P}/networkSecurityGroups/{{nsg}}/defaultSecurityRules/{{rule}}", "default_rule"),
    (f"{_P}/applicationSecurityGroups", "asg_list"),
    (f"{_P}/applicationSecurityGroups/{{asg}}", "asg"),
    (f"{_P}/virtualNetworks", "vnet_list"),
    (f"{_P}/virtualNetworks/{{vnet}}", "vnet"),
    (f"{_P}/virtualNetworks/{{vnet}}/subnets", "subnet_list"),
    (f"{_P}/virtualNetworks/{{vnet}}/subnets/{{subnet}}", "subnet"),
]
_COMPILED = [([seg for seg in pattern.split("/")], name) for pattern, name in _ROUTES]


def _match(segments: list[str]) -> tuple[str, dict[str, str]] | None:
    for pattern, name in _COMPILED:
        if len(pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    break
                params[want[1:-1]] = got
            elif want.lower() != got.lower():
                break
        else:
            return name, params
    return None


# --------------------------------------------------------------------------------------------- HTTP


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
        self._headers_buffer.append(b"\r\n")
        if data and self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve


# --------------------------------------------------------------------------------------------- server


class ArmServer:
    """A Microsoft.Network ARM endpoint on 127.0.0.1 for tests.

    ``with ArmServer() as srv:`` starts it on a free port; point the SDK at ``srv.url``.

    :param port: TCP port on 127.0.0.1 (0 = pick a free one).
    :param page_size: items per list page before a ``nextLink`` is returned.
    :param lro_polls: how many polls of an operation answer ``InProgress`` before it completes.
    :param lro_complete_after: if set, operations also complete on their own after this many seconds.
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
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        if conflict_status not in (409, 429):
            raise ValueError("conflict_status must be 409 or 429")
        self.port = port
        self.page_size = page_size
        self.lro_polls = lro_polls
        self.lro_complete_after = lro_complete_after
        self.conflict_status = conflict_status
        self.retry_after = retry_after
        self.require_auth = require_auth
        self.verbose = verbose
        self._seed = [dict(s) if isinstance(s, Mapping) else s for s in subnets]
        self._lock = threading.RLock()
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
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

    def _clear(self) -> None:
        self._nsgs: dict[tuple[str, str, str], Nsg] = {}
        self._asgs: dict[tuple[str, str, str], Asg] = {}
        self._vnets: dict[tuple[str, str, str], Vnet] = {}
        self._ops: dict[str, Operation] = {}
        self._faults: list[Fault] = []
        self._fault_ids = 0
        self._log: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Forget every resource, operation, fault and logged request; re-create the ``subnets`` seed."""
        with self._lock:
            self._clear()
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
    ) -> int:
        """Make the next ``count`` requests with ``method`` ("*" = any) whose path matches the regex ``path``
        (searched, case-insensitive) fail with ``status`` / ``code`` (and ``Retry-After`` if given).

        With ``async_failure=True`` the matching PUT/DELETE is accepted as usual but its long-running
        operation ends ``Failed`` with ``code``/``message`` (the resource then shows provisioningState Failed).
        Returns the fault id.
        """
        if code is None:
            code = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}.get(
                status, "InjectedFault"
            )
        with self._lock:
            self._fault_ids += 1
            fault = Fault(
                id=self._fault_ids,
                method=method.upper(),
                path=re.compile(path, re.IGNORECASE),
                status=status,
                code=code,
                message=message or f"Injected fault {code}.",
                retry_after=retry_after,
                count=count,
                async_failure=async_failure,
                headers=dict(headers or {}),
            )
            self._faults.append(fault)
            return fault.id

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults if f.count > 0]

    def complete_operations(self) -> int:
        """Complete every running operation now (as if Azure had finished); returns how many."""
        with self._lock:
            running = [op for op in self._ops.values() if op.status == "InProgress"]
            for op in running:
                self._finish(op)
            return len(running)

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
            key = (subscription.lower(), resource_group.lower(), vnet.lower())
            net = self._vnets.get(key)
            if net is None:
                net = Vnet(subscription, resource_group, vnet, canonical_location(location), {}, [])
                self._vnets[key] = net
            for prefix in address_prefixes:
                if prefix not in net.address_prefixes:
                    net.address_prefixes.append(prefix)
            return net.id

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
            key = (subscription.lower(), resource_group.lower(), vnet.lower())
            net = self._vnets.get(key)
            if net is None:
                self.add_vnet(subscription, resource_group, vnet, (), location)
                net = self._vnets[key]
            sub_net = parse_ip_prefix(prefix)
            if sub_net is not None and not any(
                (n := parse_ip_prefix(p)) is not None and n.version == sub_net.version and sub_net.subnet_of(n)  # type: ignore[arg-type]
                for p in net.address_prefixes
            ):
                wide = sub_net.supernet(new_prefix=min(sub_net.prefixlen, 16 if sub_net.version == 4 else 48))
                net.address_prefixes.append(str(wide))
            entry = Subnet(subnet, prefix, nsg_id)
            net.subnets[subnet.lower()] = entry
            net.etag = _etag()
            return net.subnet_id(entry)

    # ------------------------------------------------------------------ request entry point

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Response:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        query = {k.lower(): v for k, v in parse_qsl(split.query, keep_blank_values=True)}
        host = headers.get("Host") or f"{LOOPBACK}:{self.port}"
        req = Request(method.upper(), path, query, headers, body, f"http://{host}")
        if path.startswith("/_arm/") or path == "/_arm":
            with self._lock:
                return self._control(req)
        with self._lock:
            try:
                result = self._dispatch(req)
            except ArmError as err:
                result = (err.status, err.headers, err.body())
            status, _, payload = result
            code = payload.get("error", {}).get("code") if isinstance(payload, dict) and status >= 400 else None
            self._log.append({"method": req.method, "path": path, "query": split.query, "status": status, "code": code})
            return result

    def _dispatch(self, req: Request) -> Response:
        if self.require_auth:
            auth = req.headers.get("Authorization") or ""
            if not auth:
                raise ArmError(
                    401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
                )
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                )
        api_version = req.query.get("api-version", "")
        if not api_version:
            raise bad_request(
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        req.api_version = api_version
        for fault in self._faults:
            if not fault.async_failure and fault.matches(req.method, req.path):
                fault.count -= 1
                extra = dict(fault.headers)
                if fault.retry_after is not None:
                    extra["Retry-After"] = f"{fault.retry_after:g}"
                raise ArmError(fault.status, fault.code, fault.message, headers=extra)
        self._tick()

        segments = req.path.strip("/").split("/")
        found = _match(segments)
        if found is None:
            raise self._no_route(segments, api_version)
        name, params = found
        validate_subscription(params["sub"])
        handler = getattr(self, f"_{name}_{req.method.lower()}", None)
        if handler is None:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested resource does not support http method '{req.method}'."
            )
        return handler(req, **params)

    @staticmethod
    def _no_route(segments: list[str], api_version: str) -> ArmError:
        low = [s.lower() for s in segments]
        if "providers" in low:
            i = low.index("providers")
            if len(low) > i + 2 and low[i + 1] == NS.lower():
                return ArmError(
                    404,
                    "InvalidResourceType",
                    f"The resource type '{'/'.join(segments[i + 2 :: 2])}' could not be found in the namespace "
                    f"'{NS}' for api version '{api_version}'.",
                )
        return ArmError(404, "NotFound", f"The requested path '/{'/'.join(segments)}' is not served by this server.")

    # ------------------------------------------------------------------ operations

    def _tick(self) -> None:
        if self.lro_complete_after is None:
            return
        now = time.monotonic()
        for op in list(self._ops.values()):
            if op.status == "InProgress" and now - op.created >= self.lro_complete_after:
                self._finish(op)

    def _start_op(
        self,
        req: Request,
        sub: str,
        location: str,
        *,
        locks: set[str],
        targets: list[Any],
        on_success: Callable[[], None] | None = None,
        delete: bool = False,
    ) -> dict[str, str]:
        """Register a running operation; returns the LRO response headers."""
        op_id = str(uuid.uuid4())
        base = f"{req.base}/subscriptions/{sub}/providers/{NS}/locations/{location}"
        status_url = f"{base}/operations/{op_id}?api-version={req.api_version}"
        op = Operation(op_id, sub, status_url, locks, targets, on_success, self.lro_polls, time.monotonic())
        for fault in self._faults:
            if fault.async_failure and fault.matches(req.method, req.path):
                fault.count -= 1
                op.fail = (fault.code, fault.message)
                break
        self._ops[op_id] = op
        headers = {"Azure-AsyncOperation": status_url, "Retry-After": str(self.retry_after)}
        if delete:
            headers["Location"] = f"{base}/operationResults/{op_id}?api-version={req.api_version}"
        return headers

    def _finish(self, op: Operation) -> None:
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

    def _advance(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        if op.polls_left > 0:
            op.polls_left -= 1
        else:
            self._finish(op)

    def _find_op(self, sub: str, op_id: str) -> Operation:
        op = self._ops.get(op_id.lower())
        if op is None or op.sub.lower() != sub.lower():
            raise ArmError(404, "NotFound", f"Operation {op_id} was not found.")
        return op

    def _operation_get(self, req: Request, sub: str, loc: str, op: str) -> Response:
        operation = self._find_op(sub, op)
        self._advance(operation)
        body: dict[str, Any] = {"status": operation.status}
        if operation.error:
            body["error"] = operation.error
        headers = {"Retry-After": str(self.retry_after)} if operation.status == "InProgress" else {}
        return 200, headers, body

    def _operation_result_get(self, req: Request, sub: str, loc: str, op: str) -> Response:
        operation = self._find_op(sub, op)
        self._advance(operation)
        if operation.status == "InProgress":
            location = f"{req.base}{req.path}?api-version={req.api_version}"
            return 202, {"Location": location, "Retry-After": str(self.retry_after)}, None
        if operation.status == "Failed":
            assert operation.error is not None
            raise ArmError(400, operation.error["code"], operation.error["message"])
        return 204, {}, None

    def _ensure_unlocked(self, key: str) -> None:
        for op in self._ops.values():
            if op.status == "InProgress" and key in op.locks:
                message = (
                    "Another operation on this or dependent resource is in progress. To retrieve status of the "
                    f"operation use uri: {op.status_url}."
                )
                if self.conflict_status == 429:
                    raise ArmError(429, "RetryableErrorDueToAnotherOperation", message, headers={"Retry-After": "1"})
                raise ArmError(409, "AnotherOperationInProgress", message, headers={"Retry-After": "1"})

    @staticmethod
    def _preconditions(req: Request, current_etag: str | None) -> None:
        if_match = req.headers.get("If-Match")
        if if_match is not None and (current_etag is None or (if_match.strip() != "*" and if_match != current_etag)):
            raise ArmError(
                412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met."
            )
        if_none = req.headers.get("If-None-Match")
        if if_none is not None and current_etag is not None and (if_none.strip() == "*" or if_none == current_etag):
            raise ArmError(
                412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met."
            )

    # ------------------------------------------------------------------ shared helpers

    def _page(self, req: Request, items: list[dict[str, Any]]) -> Response:
        token = req.query.get("$skiptoken", "0")
        if not token.isdigit():
            raise bad_request("InvalidSkipToken", f"The skip token '{token}' is invalid.")
        start = int(token)
        end = start + self.page_size
        body: dict[str, Any] = {"value": items[start:end]}
        if end < len(items):
            body["nextLink"] = f"{req.base}{req.path}?api-version={req.api_version}&$skipToken={end}"
        return 200, {}, body

    @staticmethod
    def _location(body: dict[str, Any]) -> str:
        location = body.get("location")
        if not location or not isinstance(location, str):
            raise bad_request("LocationRequired", "The location property is required for this definition.")
        return canonical_location(location)

    @staticmethod
    def _tags(body: dict[str, Any]) -> dict[str, str]:
        tags = body.get("tags")
        if tags is None:
            return {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise bad_request("InvalidRequestContent", "The tags must be a JSON object of string values.")
        return dict(tags)

    @staticmethod
    def _properties(body: dict[str, Any], type_name: str) -> dict[str, Any]:
        props = body.get("properties")
        if props is None:
            return {}
        if not isinstance(props, dict):
            raise bad_request("InvalidRequestContent", f"The properties of a {type_name} must be a JSON object.")
        return props

    @staticmethod
    def _check_location_unchanged(kind: str, name: str, rg: str, current: str, wanted: str) -> None:
        if current != wanted:
            raise bad_request(
                "InvalidResourceLocation",
                f"The resource '{name}' already exists in location '{current}' in resource group '{rg}'. A resource "
                f"with the same name cannot be created in location '{wanted}'. Please select a new resource name.",
            )

    @staticmethod
    def _not_found(type_name: str, name: str, rg: str) -> ArmError:
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{type_name}/{name}' under resource group '{rg}' was not found. For more details "
            "please go to https://aka.ms/ARMResourceNotFoundFix",
        )

    def _get_nsg(self, sub: str, rg: str, name: str) -> Nsg:
        nsg = self._nsgs.get((sub.lower(), rg.lower(), name.lower()))
        if nsg is None:
            raise self._not_found(NSG_TYPE, name, rg)
        return nsg

    @staticmethod
    def _lock_key(resource_id: str) -> str:
        return resource_id.lower()

    def _resolve_asg(self, ref_id: Any, path: str, *, location: str, referrer: str) -> str:
        parsed = parse_resource_id(ref_id)
        if parsed is None:
            raise bad_request(
                "LinkedInvalidPropertyId",
                f"Property id '{ref_id if ref_id is not None else ''}' at path '{path}' is invalid. Expect fully "
                "qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
                "'/providers/{resourceProviderNamespace}/'.",
            )
        asg = None
        if (
            parsed["ns"].lower() == NS.lower()
            and parsed["type"].lower() == "applicationsecuritygroups"
            and not parsed["ctype"]
        ):
            asg = self._asgs.get((parsed["sub"].lower(), parsed["rg"].lower(), parsed["name"].lower()))
        if asg is None or asg.location != location:
            raise bad_request(
                "InvalidResourceReference",
                f"Resource {ref_id} referenced by resource {referrer} was not found. Please make sure that the "
                "referenced resource exists, and that both resources are in the same region.",
            )
        return asg.id

    def _nsg_subnets(self, nsg: Nsg) -> list[str]:
        wanted = nsg.id.lower()
        return [
            net.subnet_id(s)
            for net in self._vnets.values()
            for s in net.subnets.values()
            if s.nsg_id is not None and s.nsg_id.lower() == wanted
        ]

    # ------------------------------------------------------------------ rendering

    def _render_rule(self, nsg: Nsg, rule: Rule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "id": f"{nsg.id}/securityRules/{rule.name}",
            "etag": nsg.etag,
            "type": RULE_TYPE,
            "properties": {"provisioningState": rule.state, **json.loads(json.dumps(rule.props))},
        }

    @staticmethod
    def _render_default_rules(nsg: Nsg) -> list[dict[str, Any]]:
        out = []
        for name, direction, priority, source, destination, access, description in DEFAULT_RULES:
            out.append(
                {
                    "name": name,
                    "id": f"{nsg.id}/defaultSecurityRules/{name}",
                    "etag": nsg.etag,
                    "type": DEFAULT_RULE_TYPE,
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": description,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": source,
                        "destinationAddressPrefix": destination,
                        "access": access,
                        "priority": priority,
                        "direction": direction,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": [],
                    },
                }
            )
        return out

    def _render_nsg(self, nsg: Nsg) -> dict[str, Any]:
        props: dict[str, Any] = {
            "provisioningState": nsg.state,
            "resourceGuid": nsg.guid,
            "flushConnection": nsg.flush_connection,
            "securityRules": [self._render_rule(nsg, r) for r in nsg.rules.values()],
            "defaultSecurityRules": self._render_default_rules(nsg),
        }
        subnets = self._nsg_subnets(nsg)
        if subnets:
            props["subnets"] = [{"id": s} for s in subnets]
        return {
            "name": nsg.name,
            "id": nsg.id,
            "etag": nsg.etag,
            "type": NSG_TYPE,
            "location": nsg.location,
            "tags": dict(nsg.tags),
            "properties": props,
        }

    @staticmethod
    def _render_asg(asg: Asg) -> dict[str, Any]:
        return {
            "name": asg.name,
            "id": asg.id,
            "etag": asg.etag,
            "type": ASG_TYPE,
            "location": asg.location,
            "tags": dict(asg.tags),
            "properties": {"provisioningState": asg.state, "resourceGuid": asg.guid},
        }

    @staticmethod
    def _render_subnet(net: Vnet, subnet: Subnet) -> dict[str, Any]:
        props: dict[str, Any] = {"provisioningState": subnet.state, "addressPrefix": subnet.prefix}
        if subnet.nsg_id:
            props["networkSecurityGroup"] = {"id": subnet.nsg_id}
        return {
            "name": subnet.name,
            "id": net.subnet_id(subnet),
            "etag": net.etag,
            "type": SUBNET_TYPE,
            "properties": props,
        }

    def _render_vnet(self, net: Vnet) -> dict[str, Any]:
        return {
            "name": net.name,
            "id": net.id,
            "etag": net.etag,
            "type": VNET_TYPE,
            "location": net.location,
            "tags": dict(net.tags),
            "properties": {
                "provisioningState": net.state,
                "resourceGuid": net.guid,
                "addressSpace": {"addressPrefixes": list(net.address_prefixes)},
                "subnets": [self._render_subnet(net, s) for s in net.subnets.values()],
            },
        }

    # ------------------------------------------------------------------ network security groups

    def _nsg_list_sub_get(self, req: Request, sub: str) -> Response:
        items = [self._render_nsg(n) for n in self._nsgs.values() if n.sub.lower() == sub.lower()]
        return self._page(req, items)

    def _nsg_list_get(self, req: Request, sub: str, rg: str) -> Response:
        items = [
            self._render_nsg(n)
            for n in self._nsgs.values()
            if (n.sub.lower(), n.rg.lower()) == (sub.lower(), rg.lower())
        ]
        return self._page(req, items)

    def _nsg_get(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        return 200, {}, self._render_nsg(self._get_nsg(sub, rg, nsg))

    def _nsg_put(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        body = req.json_object()
        validate_name(nsg)
        key = (sub.lower(), rg.lower(), nsg.lower())
        existing = self._nsgs.get(key)
        self._preconditions(req, existing.etag if existing else None)
        if existing is not None:
            self._ensure_unlocked(self._lock_key(existing.id))
        location = self._location(body)
        if existing is not None:
            self._check_location_unchanged("nsg", nsg, rg, existing.location, location)
        tags = self._tags(body)
        props = self._properties(body, "network security group")
        target = existing or Nsg(sub, rg, nsg, location, tags)
        raw_rules = props.get("securityRules")
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            raise bad_request("InvalidRequestContent", "properties.securityRules must be a JSON array.")
        new_rules: list[tuple[str, dict[str, Any]]] = []
        for i, raw in enumerate(raw_rules):
            if not isinstance(raw, dict):
                raise bad_request("InvalidRequestContent", f"properties.securityRules[{i}] must be a JSON object.")
            name = raw.get("name")
            if not isinstance(name, str):
                name = ""
            validate_name(name)
            rule_id = f"{target.id}/securityRules/{name}"
            canonical = validate_rule(
                raw.get("properties"),
                rule_id=rule_id,
                path=f"properties.securityRules[{i}].properties",
                resolve_asg=lambda ref, path, rid=rule_id: self._resolve_asg(
                    ref, path, location=location, referrer=rid
                ),
            )
            new_rules.append((name, canonical))
        check_rule_set(new_rules, target.id)
        flush = props.get("flushConnection", False)

        target.tags = tags
        target.flush_connection = bool(flush)
        target.rules = {name.lower(): Rule(name, p, "Updating") for name, p in new_rules}
        target.etag = _etag()
        target.state = "Updating"
        self._nsgs[key] = target
        headers = self._start_op(
            req, sub, location, locks={self._lock_key(target.id)}, targets=[target, *target.rules.values()]
        )
        return (200 if existing else 201), headers, self._render_nsg(target)

    def _nsg_patch(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        body = req.json_object()
        target = self._get_nsg(sub, rg, nsg)
        self._preconditions(req, target.etag)
        self._ensure_unlocked(self._lock_key(target.id))
        target.tags = self._tags(body)
        target.etag = _etag()
        return 200, {}, self._render_nsg(target)

    def _nsg_delete(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        key = (sub.lower(), rg.lower(), nsg.lower())
        target = self._nsgs.get(key)
        self._preconditions(req, target.etag if target else None)
        if target is None:
            return 204, {}, None
        self._ensure_unlocked(self._lock_key(target.id))
        subnets = self._nsg_subnets(target)
        if subnets:
            raise bad_request(
                "InUseNetworkSecurityGroupCannotBeDeleted",
                f"Network security group {target.id} cannot be deleted because it is in use by the following "
                f"resources: {', '.join(subnets)}. In order to delete the Network security group, remove the "
                "association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
            )
        target.state = "Deleting"

        def remove() -> None:
            if self._nsgs.get(key) is target:
                del self._nsgs[key]

        headers = self._start_op(
            req,
            sub,
            target.location,
            locks={self._lock_key(target.id)},
            targets=[target],
            on_success=remove,
            delete=True,
        )
        return 202, headers, None

    # ------------------------------------------------------------------ security rules

    def _rule_list_get(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        target = self._get_nsg(sub, rg, nsg)
        return self._page(req, [self._render_rule(target, r) for r in target.rules.values()])

    def _rule_get(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        target = self._get_nsg(sub, rg, nsg)
        found = target.rules.get(rule.lower())
        if found is None:
            raise ArmError(404, "NotFound", f"Resource {target.id}/securityRules/{rule} not found.")
        return 200, {}, self._render_rule(target, found)

    def _rule_put(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        body = req.json_object()
        target = self._get_nsg(sub, rg, nsg)
        validate_name(rule)
        existing = target.rules.get(rule.lower())
        self._preconditions(req, target.etag if existing else None)
        self._ensure_unlocked(self._lock_key(target.id))
        rule_id = f"{target.id}/securityRules/{rule}"
        canonical = validate_rule(
            body.get("properties"),
            rule_id=rule_id,
            path="properties",
            resolve_asg=lambda ref, path: self._resolve_asg(ref, path, location=target.location, referrer=rule_id),
        )
        others = [(r.name, r.props) for k, r in target.rules.items() if k != rule.lower()]
        check_rule_set([*others, (rule, canonical)], target.id)

        name = existing.name if existing else rule
        entry = Rule(name, canonical, "Updating")
        if existing is not None:
            target.rules = {k: (entry if k == rule.lower() else r) for k, r in target.rules.items()}
        else:
            target.rules[rule.lower()] = entry
        target.etag = _etag()
        target.state = "Updating"
        headers = self._start_op(req, sub, target.location, locks={self._lock_key(target.id)}, targets=[target, entry])
        return (200 if existing else 201), headers, self._render_rule(target, entry)

    def _rule_delete(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        target = self._nsgs.get((sub.lower(), rg.lower(), nsg.lower()))
        existing = target.rules.get(rule.lower()) if target else None
        self._preconditions(req, target.etag if target and existing else None)
        if target is None or existing is None:
            return 204, {}, None
        self._ensure_unlocked(self._lock_key(target.id))
        existing.state = "Deleting"
        target.state = "Updating"
        target.etag = _etag()

        def remove() -> None:
            if target.rules.get(rule.lower()) is existing:
                del target.rules[rule.lower()]

        headers = self._start_op(
            req,
            sub,
            target.location,
            locks={self._lock_key(target.id)},
            targets=[target, existing],
            on_success=remove,
            delete=True,
        )
        return 202, headers, None

    # ------------------------------------------------------------------ default security rules

    def _default_rule_list_get(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        return self._page(req, self._render_default_rules(self._get_nsg(sub, rg, nsg)))

    def _default_rule_get(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        target = self._get_nsg(sub, rg, nsg)
        for item in self._render_default_rules(target):
            if item["name"].lower() == rule.lower():
                return 200, {}, item
        raise ArmError(404, "NotFound", f"Resource {target.id}/defaultSecurityRules/{rule} not found.")

    # ------------------------------------------------------------------ application security groups

    def _asg_list_sub_get(self, req: Request, sub: str) -> Response:
        return self._page(req, [self._render_asg(a) for a in self._asgs.values() if a.sub.lower() == sub.lower()])

    def _asg_list_get(self, req: Request, sub: str, rg: str) -> Response:
        items = [
            self._render_asg(a)
            for a in self._asgs.values()
            if (a.sub.lower(), a.rg.lower()) == (sub.lower(), rg.lower())
        ]
        return self._page(req, items)

    def _get_asg(self, sub: str, rg: str, name: str) -> Asg:
        asg = self._asgs.get((sub.lower(), rg.lower(), name.lower()))
        if asg is None:
            raise self._not_found(ASG_TYPE, name, rg)
        return asg

    def _asg_get(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        return 200, {}, self._render_asg(self._get_asg(sub, rg, asg))

    def _asg_put(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        body = req.json_object()
        validate_name(asg)
        key = (sub.lower(), rg.lower(), asg.lower())
        existing = self._asgs.get(key)
        self._preconditions(req, existing.etag if existing else None)
        if existing is not None:
            self._ensure_unlocked(self._lock_key(existing.id))
        location = self._location(body)
        if existing is not None:
            self._check_location_unchanged("asg", asg, rg, existing.location, location)
        tags = self._tags(body)
        self._properties(body, "application security group")
        target = existing or Asg(sub, rg, asg, location, tags)
        target.tags = tags
        target.etag = _etag()
        target.state = "Updating"
        self._asgs[key] = target
        headers = self._start_op(req, sub, location, locks={self._lock_key(target.id)}, targets=[target])
        return (200 if existing else 201), headers, self._render_asg(target)

    def _asg_patch(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        body = req.json_object()
        target = self._get_asg(sub, rg, asg)
        self._preconditions(req, target.etag)
        self._ensure_unlocked(self._lock_key(target.id))
        target.tags = self._tags(body)
        target.etag = _etag()
        return 200, {}, self._render_asg(target)

    def _asg_delete(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        key = (sub.lower(), rg.lower(), asg.lower())
        target = self._asgs.get(key)
        self._preconditions(req, target.etag if target else None)
        if target is None:
            return 204, {}, None
        self._ensure_unlocked(self._lock_key(target.id))
        wanted = target.id.lower()
        users = [
            f"{nsg.id}/securityRules/{rule.name}"
            for nsg in self._nsgs.values()
            for rule in nsg.rules.values()
            if wanted in {x.lower() for x in rule_asg_ids(rule.props)}
        ]
        if users:
            raise bad_request(
                "InUseApplicationSecurityGroupCannotBeDeleted",
                f"Application Security Group {target.id} cannot be deleted because it is referenced by security "
                f"rule(s) {', '.join(users)}.",
            )
        target.state = "Deleting"

        def remove() -> None:
            if self._asgs.get(key) is target:
                del self._asgs[key]

        headers = self._start_op(
            req,
            sub,
            target.location,
            locks={self._lock_key(target.id)},
            targets=[target],
            on_success=remove,
            delete=True,
        )
        return 202, headers, None

    # ------------------------------------------------------------------ virtual networks and subnets

    def _get_vnet(self, sub: str, rg: str, name: str) -> Vnet:
        net = self._vnets.get((sub.lower(), rg.lower(), name.lower()))
        if net is None:
            raise self._not_found(VNET_TYPE, name, rg)
        return net

    def _vnet_list_get(self, req: Request, sub: str, rg: str) -> Response:
        items = [
            self._render_vnet(v)
            for v in self._vnets.values()
            if (v.sub.lower(), v.rg.lower()) == (sub.lower(), rg.lower())
        ]
        return self._page(req, items)

    def _vnet_get(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        return 200, {}, self._render_vnet(self._get_vnet(sub, rg, vnet))

    def _build_subnet(
        self, net: Vnet, name: str, props: Any, others: Iterable[Subnet], path: str
    ) -> tuple[str, str | None]:
        """Validate a subnet's properties; return (address prefix, canonical NSG id or None)."""
        validate_name(name)
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise bad_request("InvalidRequestContent", f"{path} must be a JSON object.")
        prefix = props.get("addressPrefix")
        if not prefix and isinstance(props.get("addressPrefixes"), list) and props["addressPrefixes"]:
            prefix = props["addressPrefixes"][0]
        if not prefix or not isinstance(prefix, str):
            raise bad_request("InvalidRequestFormat", f"Subnet {name} must specify addressPrefix or addressPrefixes.")
        sub_net = parse_ip_prefix(prefix) if "/" in prefix else None
        if sub_net is None:
            raise bad_request("NetcfgInvalidSubnet", f"Subnet '{name}' is not valid in virtual network '{net.name}'.")
        spaces = [n for p in net.address_prefixes if (n := parse_ip_prefix(p)) is not None]
        if not any(n.version == sub_net.version and sub_net.subnet_of(n) for n in spaces):  # type: ignore[arg-type]
            raise bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                f"Subnet '{name}' is not valid because its IP address range is outside the IP address range of "
                f"virtual network '{net.name}'.",
            )
        for other in others:
            other_net = parse_ip_prefix(other.prefix)
            if other_net is not None and other_net.version == sub_net.version and other_net.overlaps(sub_net):  # type: ignore[arg-type]
                raise bad_request(
                    "NetcfgSubnetRangesOverlap",
                    f"Subnet '{name}' is not valid in virtual network '{net.name}': its address range {prefix} "
                    f"overlaps with subnet '{other.name}' ({other.prefix}).",
                )
        nsg_id = None
        ref = props.get("networkSecurityGroup")
        if ref is not None:
            ref_id = ref.get("id") if isinstance(ref, dict) else None
            parsed = parse_resource_id(ref_id)
            if parsed is None:
                raise bad_request(
                    "LinkedInvalidPropertyId",
                    f"Property id '{ref_id or ''}' at path '{path}.networkSecurityGroup.id' is invalid. Expect fully "
                    "qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
                    "'/providers/{resourceProviderNamespace}/'.",
                )
            nsg = None
            if (
                parsed["ns"].lower() == NS.lower()
                and parsed["type"].lower() == "networksecuritygroups"
                and not parsed["ctype"]
            ):
                nsg = self._nsgs.get((parsed["sub"].lower(), parsed["rg"].lower(), parsed["name"].lower()))
            if nsg is None or nsg.location != net.location:
                raise bad_request(
                    "InvalidResourceReference",
                    f"Resource {ref_id} referenced by resource {net.id}/subnets/{name} was not found. Please make sure "
                    "that the referenced resource exists, and that both resources are in the same region.",
                )
            self._ensure_unlocked(self._lock_key(nsg.id))
            nsg_id = nsg.id
        return prefix, nsg_id

    def _vnet_put(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        body = req.json_object()
        validate_name(vnet)
        key = (sub.lower(), rg.lower(), vnet.lower())
        existing = self._vnets.get(key)
        self._preconditions(req, existing.etag if existing else None)
        if existing is not None:
            self._ensure_unlocked(self._lock_key(existing.id))
        location = self._location(body)
        if existing is not None:
            self._check_location_unchanged("vnet", vnet, rg, existing.location, location)
        tags = self._tags(body)
        props = self._properties(body, "virtual network")
        space = props.get("addressSpace") or {}
        prefixes = space.get("addressPrefixes") if isinstance(space, dict) else None
        if not isinstance(prefixes, list) or not prefixes:
            raise bad_request(
                "InvalidRequestFormat", f"Virtual network {vnet} must specify addressSpace.addressPrefixes."
            )
        for p in prefixes:
            if not isinstance(p, str) or "/" not in p or parse_ip_prefix(p) is None:
                raise bad_request(
                    "InvalidAddressPrefixFormat", f"Address prefix {p} of virtual network {vnet} is invalid."
                )
        candidate = Vnet(sub, rg, existing.name if existing else vnet, location, tags, list(prefixes))
        raw_subnets = props.get("subnets") or []
        if not isinstance(raw_subnets, list):
            raise bad_request("InvalidRequestContent", "properties.subnets must be a JSON array.")
        built: dict[str, Subnet] = {}
        for i, raw in enumerate(raw_subnets):
            if not isinstance(raw, dict):
                raise bad_request("InvalidRequestContent", f"properties.subnets[{i}] must be a JSON object.")
            name = raw.get("name") if isinstance(raw.get("name"), str) else ""
            prefix, nsg_id = self._build_subnet(
                candidate, name, raw.get("properties"), built.values(), f"properties.subnets[{i}].properties"
            )
            if name.lower() in built:
                raise bad_request("DuplicateResourceName", f"Virtual network {vnet} has two subnets named {name}.")
            built[name.lower()] = Subnet(name, prefix, nsg_id, "Updating")
        target = existing or candidate
        target.tags = tags
        target.address_prefixes = list(prefixes)
        target.subnets = built
        target.etag = _etag()
        target.state = "Updating"
        self._vnets[key] = target
        headers = self._start_op(
            req, sub, location, locks={self._lock_key(target.id)}, targets=[target, *built.values()]
        )
        return (200 if existing else 201), headers, self._render_vnet(target)

    def _vnet_delete(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        key = (sub.lower(), rg.lower(), vnet.lower())
        target = self._vnets.get(key)
        if target is None:
            return 204, {}, None
        self._ensure_unlocked(self._lock_key(target.id))
        target.state = "Deleting"

        def remove() -> None:
            if self._vnets.get(key) is target:
                del self._vnets[key]

        headers = self._start_op(
            req,
            sub,
            target.location,
            locks={self._lock_key(target.id)},
            targets=[target],
            on_success=remove,
            delete=True,
        )
        return 202, headers, None

    def _subnet_list_get(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        net = self._get_vnet(sub, rg, vnet)
        return self._page(req, [self._render_subnet(net, s) for s in net.subnets.values()])

    def _subnet_get(self, req: Request, sub: str, rg: str, vnet: str, subnet: str) -> Response:
        net = self._get_vnet(sub, rg, vnet)
        found = net.subnets.get(subnet.lower())
        if found is None:
            raise ArmError(404, "NotFound", f"Resource {net.id}/subnets/{subnet} not found.")
        return 200, {}, self._render_subnet(net, found)

    def _subnet_put(self, req: Request, sub: str, rg: str, vnet: str, subnet: str) -> Response:
        body = req.json_object()
        net = self._get_vnet(sub, rg, vnet)
        existing = net.subnets.get(subnet.lower())
        self._preconditions(req, net.etag if existing else None)
        self._ensure_unlocked(self._lock_key(net.id))
        others = [s for k, s in net.subnets.items() if k != subnet.lower()]
        prefix, nsg_id = self._build_subnet(net, subnet, self._properties(body, "subnet"), others, "properties")
        entry = Subnet(existing.name if existing else subnet, prefix, nsg_id, "Updating")
        if existing is not None:
            net.subnets = {k: (entry if k == subnet.lower() else s) for k, s in net.subnets.items()}
        else:
            net.subnets[subnet.lower()] = entry
        net.etag = _etag()
        headers = self._start_op(req, sub, net.location, locks={self._lock_key(net.id)}, targets=[entry])
        return (200 if existing else 201), headers, self._render_subnet(net, entry)

    def _subnet_delete(self, req: Request, sub: str, rg: str, vnet: str, subnet: str) -> Response:
        net = self._vnets.get((sub.lower(), rg.lower(), vnet.lower()))
        existing = net.subnets.get(subnet.lower()) if net else None
        if net is None or existing is None:
            return 204, {}, None
        self._ensure_unlocked(self._lock_key(net.id))
        existing.state = "Deleting"

        def remove() -> None:
            if net.subnets.get(subnet.lower()) is existing:
                del net.subnets[subnet.lower()]
                net.etag = _etag()

        headers = self._start_op(
            req, sub, net.location, locks={self._lock_key(net.id)}, targets=[existing], on_success=remove, delete=True
        )
        return 202, headers, None

    # ------------------------------------------------------------------ control endpoints (/_arm/...)

    def _control(self, req: Request) -> Response:
        route = req.path.rstrip("/")
        try:
            payload = json.loads(req.body) if req.body.strip() else {}
        except ValueError:
            return 400, {}, {"error": {"code": "InvalidJson", "message": "The body is not JSON.", "details": []}}
        if not isinstance(payload, dict):
            return (
                400,
                {},
                {"error": {"code": "InvalidJson", "message": "The body must be a JSON object.", "details": []}},
            )
        try:
            if route == "/_arm/health" and req.method == "GET":
                return 200, {}, {"status": "ok", "url": self.url}
            if route == "/_arm/reset" and req.method == "POST":
                self.reset()
                return 200, {}, {"status": "reset"}
            if route == "/_arm/requests":
                if req.method == "GET":
                    return 200, {}, {"value": self.requests()}
                if req.method == "DELETE":
                    self.clear_request_log()
                    return 200, {}, {"status": "cleared"}
            if route == "/_arm/faults":
                if req.method == "GET":
                    return 200, {}, {"value": self.faults()}
                if req.method == "DELETE":
                    self.clear_faults()
                    return 200, {}, {"status": "cleared"}
                if req.method == "POST":
                    fault_id = self.inject_fault(
                        payload.get("method", "*"),
                        payload.get("path", ".*"),
                        status=int(payload.get("status", 429)),
                        code=payload.get("code"),
                        message=payload.get("message"),
                        retry_after=payload.get("retry_after", payload.get("retryAfter")),
                        count=int(payload.get("count", 1)),
                        async_failure=bool(payload.get("async_failure", payload.get("asyncFailure", False))),
                        headers=payload.get("headers"),
                    )
                    return 201, {}, {"id": fault_id}
            if route == "/_arm/subnets" and req.method == "POST":
                subnet_id = self.add_subnet(
                    payload["subscription"],
                    payload.get("resource_group") or payload["resourceGroup"],
                    payload["vnet"],
                    payload["subnet"],
                    payload["prefix"],
                    payload.get("location", "westeurope"),
                )
                return 201, {}, {"id": subnet_id}
            if route == "/_arm/operations/complete" and req.method == "POST":
                return 200, {}, {"completed": self.complete_operations()}
        except (KeyError, TypeError, ValueError, re.error) as exc:
            return 400, {}, {"error": {"code": "InvalidControlRequest", "message": str(exc), "details": []}}
        return (
            404,
            {},
            {"error": {"code": "NotFound", "message": f"No control endpoint {req.method} {route}.", "details": []}},
        )
