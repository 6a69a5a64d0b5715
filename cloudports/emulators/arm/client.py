"""Build a real ``azure.mgmt.network.NetworkManagementClient`` pointed at an :class:`ArmServer`.

Kept apart from server.py so that the server itself needs only the standard library.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.network import NetworkManagementClient


class StaticBearerPolicy(SansIOHTTPPolicy):
    """Sets ``Authorization: Bearer <token>`` on every request.

    Used instead of the SDK's ARMChallengeAuthenticationPolicy, which refuses bearer tokens over plain http.
    """

    def __init__(self, token: str = "armserver-test-token") -> None:
        self.token = token

    def on_request(self, request: Any) -> None:
        request.http_request.headers["Authorization"] = f"Bearer {self.token}"


class FakeCredential:
    """A TokenCredential that never talks to Entra ID (the client insists on a non-None credential)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("armserver-test-token", 4102444800)


def make_network_client(base_url: str, subscription_id: str, **kwargs: Any) -> NetworkManagementClient:
    """A NetworkManagementClient for ``base_url`` (e.g. ``ArmServer().url``).

    Defaults: ``polling_interval=0``; pass ``retry_total=0`` for error-path tests.  Any other client keyword
    argument (``retry_total``, ``retry_backoff_factor``, ``logging_enable`` ...) is passed through.
    """
    kwargs.setdefault("polling_interval", 0)
    kwargs.setdefault("authentication_policy", StaticBearerPolicy())
    return NetworkManagementClient(FakeCredential(), subscription_id, base_url=base_url, **kwargs)
