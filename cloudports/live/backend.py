"""What a target's live backend provides, so that the CLI drives every cloud the same way."""

from __future__ import annotations

from typing import Any, Protocol

from cloudports.live.plan import Plan


class Backend(Protocol):
    @property
    def quota_scope(self) -> str:
        """Where this backend's requests count against one request quota ("aws:us-east-1", "azure:<sub>"):
        many specs read at once are bounded per scope (live/fleet.py)."""
        ...

    def plan(self) -> Plan:
        """Compare the spec's desired state with live state (also the drift report)."""
        ...

    def read_state(self, machines: bool = False) -> Any:
        """What the cloud holds for this spec, in the target's state model (for query --live and verify --live);
        `machines`: also the machines and everything that governs them (other groups on them, read only)."""
        ...

    def planned_state(self, live: Any) -> Any:
        """What the cloud holds once apply has run over `live` (read_state's result): the desired state and what
        apply leaves as it is (the rules the spec keeps unmanaged, unless --prune), as `plan --explain` and
        `drift --explain` judge it."""
        ...

    def apply(self, plan: Plan) -> Plan:
        """Carry out a plan made by plan(); returns what was done. Raises CloudportsError with clear messages."""
        ...

    def plan_destroy(self) -> Plan:
        """What destroy would remove: only what cloudports owns for this topology."""
        ...

    def destroy(self, plan: Plan) -> Plan:
        """Carry out plan_destroy(); leaves anything still referenced and says so in the plan's notes."""
        ...
