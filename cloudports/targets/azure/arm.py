"""Talking to Azure Resource Manager: settings, the azure-mgmt-network client, retries and readable errors.

The client is the real, unpatched ``NetworkManagementClient``. Two things are configured around it:

* where it talks to: the public cloud by default, or ``--arm-endpoint`` / ``CLOUDPORTS_ARM_ENDPOINT`` for a
  sovereign cloud or a local emulator (plain http only to a loopback address, so a token never crosses a
  network unencrypted);
* how it authenticates: ``DefaultAzureCredential``, or a ready bearer token from ``CLOUDPORTS_AZURE_TOKEN``.
  The SDK's bearer policy refuses http, so a static token is set by a small policy of our own (azure.md §4.5).

Throttling (429) and transient 5xx are retried by azure-core's RetryPolicy, which honours Retry-After. The
Network RP's ``AnotherOperationInProgress`` (409: a write on the same NSG still running) is not, so writes go
through :func:`retry_busy`, a bounded retry that honours Retry-After too.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.progress import step

ENV_SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"
ENV_ENDPOINT = "CLOUDPORTS_ARM_ENDPOINT"
ENV_TOKEN = "CLOUDPORTS_AZURE_TOKEN"
ENV_POLLING = "CLOUDPORTS_AZURE_POLLING_INTERVAL"
ENV_RETRIES = "CLOUDPORTS_AZURE_RETRY_TOTAL"
ENV_RETRY_STATUS = "CLOUDPORTS_AZURE_RETRY_STATUS"
ENV_CONCURRENCY = "CLOUDPORTS_AZURE_CONCURRENCY"

# Without a Retry-After header the SDK would wait 30 s between LRO polls; NSG rule writes usually finish in a
# few seconds and Azure sends Retry-After anyway, so 1 s only matters when it does not.
DEFAULT_POLLING_INTERVAL = 1.0
DEFAULT_RETRY_TOTAL = 10  # azure-core's own default
# Independent writes (ASGs, NICs) in flight at once. Resource Manager allows far more writes per hour than a lab
# needs; a throttled one (429) waits as its Retry-After says, in azure-core's retry policy.
DEFAULT_CONCURRENCY = 8
# azure-core stops after 3 throttled (429) or failed (500/502/503/504) answers to one request, whatever the total
# says; cloudports lets the total decide unless CLOUDPORTS_AZURE_RETRY_STATUS says otherwise.

# AnotherOperationInProgress: wait as Azure asks (Retry-After), at most this long in total per write.
BUSY_CODES = ("AnotherOperationInProgress", "RetryableErrorDueToAnotherOperation", "RetryableError")
BUSY_MAX_WAIT = 300.0
BUSY_DEFAULT_DELAY = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class ArmSettings:
    subscription: str
    resource_group: str
    location: str
    endpoint: str | None = None  # None: the public cloud's Resource Manager
    token: str | None = None  # a ready bearer token instead of the credential chain
    polling_interval: float = DEFAULT_POLLING_INTERVAL
    retry_total: int = DEFAULT_RETRY_TOTAL
    retry_status: int | None = None  # None: as many as retry_total
    concurrency: int = DEFAULT_CONCURRENCY  # independent writes at once (1: one after another)

    @property
    def scope(self) -> str:
        """Where, for plan headers: resource group and subscription."""
        return f"{self.resource_group} (subscription {self.subscription})"


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CloudportsError(f"{name}={raw!r}: expected a number of seconds (or a count)") from None
    if value < 0:
        raise CloudportsError(f"{name}={raw!r}: must not be negative")
    return value


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> str:
    """A Resource Manager base URL: https anywhere, plain http only on this machine."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CloudportsError(
            [
                Diagnostic(
                    None, f"azure: ARM endpoint {url!r} is not an http(s) URL", "e.g. https://management.azure.com"
                )
            ]
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"azure: refusing plain http to {parts.hostname}: the bearer token would cross the network "
                    "unencrypted",
                    "use https, or http only to a loopback address (127.0.0.1, ::1, localhost) for a local emulator",
                )
            ]
        )
    return url.strip().rstrip("/")


def resolve_settings(
    *,
    subscription: str | None,
    resource_group: str | None,
    location: str,
    arm_endpoint: str | None,
    env: Mapping[str, str] | None = None,
) -> ArmSettings:
    """Command-line values first, then the environment; the spec supplies resource group and location."""
    env = os.environ if env is None else env
    problems = []
    sub = (subscription or env.get(ENV_SUBSCRIPTION, "")).strip()
    if not sub:
        problems.append(
            Diagnostic(None, "azure: no subscription given", f"pass --subscription or set {ENV_SUBSCRIPTION}")
        )
    if not resource_group:
        problems.append(
            Diagnostic(
                None,
                "azure: no resource group given",
                "pass --resource-group or set targets.azure.resource_group in the spec",
            )
        )
    if problems:
        raise CloudportsError(problems)
    endpoint = arm_endpoint or env.get(ENV_ENDPOINT, "").strip() or None
    token = env.get(ENV_TOKEN, "").strip() or None
    endpoint = check_endpoint(endpoint) if endpoint else None
    if endpoint and endpoint.startswith("http:") and not token:
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"azure: {endpoint} is plain http, where the Azure SDK will not send credential-chain tokens",
                    f"set {ENV_TOKEN} to a bearer token (any value for a local test server)",
                )
            ]
        )
    return ArmSettings(
        subscription=sub,
        resource_group=str(resource_group),
        location=location,
        endpoint=endpoint,
        token=token,
        polling_interval=_number(env, ENV_POLLING, DEFAULT_POLLING_INTERVAL),
        retry_total=int(_number(env, ENV_RETRIES, DEFAULT_RETRY_TOTAL)),
        retry_status=int(_number(env, ENV_RETRY_STATUS, -1)) if env.get(ENV_RETRY_STATUS, "").strip() else None,
        concurrency=max(1, int(_number(env, ENV_CONCURRENCY, DEFAULT_CONCURRENCY))),
    )


# ------------------------------------------------------------------------------------------------- client


class StaticBearerPolicy(SansIOHTTPPolicy):
    """Sends a ready bearer token; replaces ARMChallengeAuthenticationPolicy, which refuses plain http."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def on_request(self, request: Any) -> None:
        request.http_request.headers["Authorization"] = self._header


class _UnusedCredential:
    """The client insists on a credential object; with StaticBearerPolicy it is never asked for a token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError(f"{ENV_TOKEN} is set; no credential should be needed")


def credential_scopes(endpoint: str) -> list[str]:
    """The token audience for a Resource Manager URL: a known cloud's own scope, else '<endpoint>/.default'."""
    from azure.core import AzureClouds
    from azure.mgmt.core.tools import get_arm_endpoints

    for cloud in AzureClouds:
        known = get_arm_endpoints(cloud)
        if known["resource_manager"].rstrip("/").lower() == endpoint.rstrip("/").lower():
            return list(known["credential_scopes"])
    return [endpoint.rstrip("/") + "/.default"]


def retry_options(settings: ArmSettings) -> dict[str, int]:
    """azure-core RetryPolicy options: the total budget per request, and how many of it throttling (429) and
    transient 5xx may use (azure-core's own default, 3, would stop long before the total)."""
    status = settings.retry_total if settings.retry_status is None else min(settings.retry_status, settings.retry_total)
    return {"retry_total": settings.retry_total, "retry_status": status}


def network_client(settings: ArmSettings) -> Any:
    """A NetworkManagementClient for these settings (no request is made here)."""
    from azure.mgmt.network import NetworkManagementClient

    kwargs: dict[str, Any] = {"polling_interval": settings.polling_interval, **retry_options(settings)}
    if settings.endpoint:
        kwargs["base_url"] = settings.endpoint
    if settings.token:
        credential: Any = _UnusedCredential()
        kwargs["authentication_policy"] = StaticBearerPolicy(settings.token)
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        if settings.endpoint:
            kwargs["credential_scopes"] = credential_scopes(settings.endpoint)
    return NetworkManagementClient(credential, settings.subscription, **kwargs)


# ------------------------------------------------------------------------------------------------- errors


def error_code(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", None) or "")


def _message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())


_HINTS = {
    "SecurityRuleConflict": "another rule already holds this priority and direction (probably added outside "
    "cloudports meanwhile); run plan again to see the NSG as it is now",
    "SecurityRuleInvalidPortRange": "a port Azure does not accept; check the services' ports in the spec",
    "SecurityRuleInvalidAddressPrefix": "an address Azure does not accept; check the networks' CIDRs in the spec",
    "SecurityRuleParameterContainsUnsupportedValue": "a service tag or '*' inside a prefix list; check the networks",
    "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies": "IPv4 and IPv6 mixed in one rule",
    "AnotherOperationInProgress": "Azure is still busy with another change of this resource; run the command again "
    "in a minute",
    "ResourceGroupNotFound": "create the resource group first, or pass --resource-group",
    "AuthorizationFailed": "the identity needs Network Contributor (or Microsoft.Network/*/read and write) on the "
    "resource group",
    "InvalidAuthenticationToken": f"the token was rejected; refresh {ENV_TOKEN} or sign in again (az login)",
    "PreconditionFailed": "the resource changed while cloudports was working on it; run plan again",
    "InvalidResourceLocation": "a NIC and the application security groups on it must be in one region "
    "(targets.azure.location)",
}
# A NIC and every ASG on it must be in one virtual network: an ASG belongs to the VNet of the first NIC placed in it.
_VNET_HINT = (
    "a role's machines must all be in one virtual network (Azure ties an application security group to the "
    "virtual network of its first NIC); split the role, or move the machine"
)
for _code in (
    "ApplicationSecurityGroupIpConfigurationsMustBeInSameVnet",
    "AllApplicationSecurityGroupsInSecurityRuleMustBeFromSameVnet",
):
    _HINTS[_code] = _VNET_HINT


def translate(exc: BaseException, action: str, subject: str) -> CloudportsError:
    """An Azure SDK exception -> a CloudportsError that says what was being done to what, and what to do."""
    code = error_code(exc)
    status = getattr(exc, "status_code", None)
    where = f"azure: {action} {subject}"
    if isinstance(exc, ClientAuthenticationError) or status == 401:  # 401s, and credential-chain failures
        return CloudportsError(
            [
                Diagnostic(
                    None,
                    f"{where}: could not authenticate: {_message(exc)}",
                    f"sign in (az login, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET), or set {ENV_TOKEN}",
                )
            ]
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return CloudportsError(
            [
                Diagnostic(
                    None,
                    f"{where}: cannot reach Azure Resource Manager: {_message(exc)}",
                    f"check the network, or --arm-endpoint / {ENV_ENDPOINT}",
                )
            ]
        )
    if status == 429 and code not in _HINTS:
        hint = "Azure throttled the requests even after retrying as Retry-After asked; wait and run again"
    elif isinstance(exc, ResourceNotFoundError) and code not in _HINTS:
        hint = "it does not exist (or the subscription, resource group or name is wrong)"
    else:
        hint = _HINTS.get(code, "")
    label = f"{code} (HTTP {status})" if code else f"HTTP {status}" if status else type(exc).__name__
    return CloudportsError([Diagnostic(None, f"{where}: {label}: {_message(exc)}", hint)])


@contextmanager
def arm_errors(action: str, subject: str) -> Iterator[None]:
    """Turn Azure SDK exceptions raised inside into CloudportsErrors (the CLI prints them and exits 1)."""
    try:
        yield
    except (HttpResponseError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError) as exc:
        raise translate(exc, action, subject) from None


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        raw = headers.get(name)
        if raw is not None:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                continue  # an HTTP date: fall back to our own delay
    return None


def _say_busy(code: str, delay: float, subject: str) -> None:
    # Waiting can take minutes on Azure; say why nothing seems to happen (stderr: stdout may be JSON).
    print(f"azure: {subject}: {code}, retrying in {delay:g}s", file=sys.stderr)


def retry_busy(
    call: Callable[[], T],
    *,
    subject: str = "",
    max_wait: float = BUSY_MAX_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run a write; while Azure answers that another operation on the resource is running, wait and retry."""
    waited, attempt = 0.0, 0
    while True:
        try:
            return call()
        except HttpResponseError as exc:
            code = error_code(exc)
            if code not in BUSY_CODES:
                raise
            delay = retry_after(exc)
            delay = min(BUSY_DEFAULT_DELAY * 2**attempt, 30.0) if delay is None else delay
            if waited + delay > max_wait:
                raise
            _say_busy(code, delay, subject or "a write")
            sleep(delay)
            waited += delay
            attempt += 1


def concurrently(limit: int, work: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
    """work(item) for each item, at most `limit` at once, results in the items' order. Every item is tried; the
    failures' diagnostics are raised together afterwards, so one bad write never hides another."""
    items = list(items)
    if limit <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    results: list[Any] = [None] * len(items)
    problems: list[Diagnostic] = []
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        # each in a copy of this context: context variables (the CLI's progress reporter) reach the workers
        futures = {pool.submit(copy_context().run, work, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except CloudportsError as exc:
                problems.extend(exc.diagnostics)
    if problems:
        raise CloudportsError(problems)
    return results


def wait(poller_factory: Callable[[], Any], action: str, subject: str, changes: int = 1) -> Any:
    """Start a long-running write, wait for it (.result()), retrying while the resource is busy; reports the
    write's progress (`changes`: how many of the plan's changes it carries out)."""
    with arm_errors(action, subject):
        result = retry_busy(lambda: poller_factory().result(), subject=subject)
    step(subject.split(" (", 1)[0], changes)
    return result
