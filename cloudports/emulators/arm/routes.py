"""URL routing and dispatch of ARM requests: authentication, api-version, injected faults, then the handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .errors import ArmError, bad_request
from .faults import Faults
from .lro import Operations
from .model import NS, Request, Response, Settings
from .validation import validate_subscription

_P = "subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
_C = "subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute"
# (path pattern, route name); a route is served by the method ``{name}_{http method}`` of the handler object
# that lists the name in its ``routes``.
ROUTES: list[tuple[str, str]] = [
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
    ("subscriptions/{sub}/providers/Microsoft.Network/networkInterfaces", "nic_list_sub"),
    (f"{_P}/networkInterfaces", "nic_list"),
    (f"{_P}/networkInterfaces/{{nic}}", "nic"),
    ("subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines", "vm_list_sub"),
    (f"{_C}/virtualMachines", "vm_list"),
    (f"{_C}/virtualMachines/{{vm}}", "vm"),
]
_COMPILED = [(pattern.split("/"), name) for pattern, name in ROUTES]


def match(segments: list[str]) -> tuple[str, dict[str, str]] | None:
    """(route name, path parameters); literal segments compare case-insensitively, as in ARM."""
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


def no_route(segments: list[str], api_version: str) -> ArmError:
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


def check_auth(req: Request) -> None:
    """Any bearer token is accepted, but there must be one (the SDK always sends it)."""
    auth = req.headers.get("Authorization") or ""
    if not auth:
        raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )


class Router:
    """Dispatches an ARM request to the handler method of its route."""

    def __init__(self, settings: Settings, faults: Faults, ops: Operations, handlers: Iterable[Any]) -> None:
        self.settings = settings
        self.faults = faults
        self.ops = ops
        self._owners = {name: handler for handler in handlers for name in handler.routes}
        missing = {name for _, name in ROUTES} - set(self._owners)
        if missing:  # a route without a handler would answer 405 for every method: catch it at start-up
            raise RuntimeError(f"routes without a handler: {sorted(missing)}")

    def dispatch(self, req: Request) -> Response:
        if self.settings.require_auth:
            check_auth(req)
        api_version = req.query.get("api-version", "")
        if not api_version:
            raise bad_request(
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        req.api_version = api_version
        self.faults.raise_if_failing(req.method, req.path)  # after the auth and api-version checks, as documented
        self.ops.tick()

        segments = req.path.strip("/").split("/")
        found = match(segments)
        if found is None:
            raise no_route(segments, api_version)
        name, params = found
        validate_subscription(params["sub"])
        handler: Callable[..., Response] | None = getattr(self._owners[name], f"{name}_{req.method.lower()}", None)
        if handler is None:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested resource does not support http method '{req.method}'."
            )
        return handler(req, **params)
