"""What a cloud's live adapter provides, so the CLI drives AWS and Azure the same way."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from cloudports.compile import CompiledPolicy
from cloudports.live.plan import Plan


@dataclass
class LiveOptions:
    """Command-line overrides; each backend reads the ones that concern it."""

    # AWS
    profile: str | None = None
    region: str | None = None
    vpc_id: str | None = None
    adopt: bool = False
    # Azure
    subscription: str | None = None
    resource_group: str | None = None
    arm_endpoint: str | None = None


class Backend(Protocol):
    def plan(self) -> Plan:
        """Compare the spec's desired state with live state (also the drift report)."""

    def apply(self, plan: Plan) -> Plan:
        """Carry out a plan made by plan(); returns what was done. Raises CloudportsError with clear messages."""

    def plan_destroy(self) -> Plan:
        """What destroy would remove: only what cloudports owns for this topology."""

    def destroy(self, plan: Plan) -> Plan:
        """Carry out plan_destroy(); leaves anything still referenced and says so in the plan's notes."""


def open_backend(target: str, policy: CompiledPolicy, options: LiveOptions) -> Backend:
    """Imported lazily so that compile-only commands never load the cloud SDKs."""
    module = importlib.import_module(f"cloudports.targets.{target}.live")
    return module.open_backend(policy, options)
