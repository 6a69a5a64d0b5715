"""The cloud-independent result of comparing desired and live state.

The same Plan serves `plan` (what apply would do), `apply` (what it does) and `drift` (how live differs from
the spec): an 'add' is a missing rule, a 'remove' an extra one, a 'change' a changed one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from cloudports.errors import CloudportsError, Diagnostic

Action = Literal["add", "remove", "change"]

Command = Literal["plan", "apply", "drift", "destroy"]
# The JSON document every live command writes with --format json (docs/json-output.md); raise it when a key
# changes meaning or goes away, not when one is added.
JSON_VERSION = 1

# Field metadata for cloudports' own bookkeeping on a resource (where a port came from, for Terraform variables):
# not something the cloud holds, so never shown as a change's before/after.
INTERNAL: dict[str, bool] = {"internal": True}


def cloud_fields(resource: Any) -> dict[str, Any]:
    """A dataclass resource as the cloud holds it (a change's before/after): every field but INTERNAL ones."""
    internal = {f.name for f in fields(resource) if f.metadata.get("internal")}
    return {k: v for k, v in asdict(resource).items() if k not in internal}


DRIFT_WORDS = {"add": "missing", "remove": "extra", "change": "changed"}
PLAN_WORDS = {"add": "create", "remove": "delete", "change": "update"}


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str  # e.g. "security group", "rule", "nsg", "asg", "subnet association"
    name: str  # stable key or resource name
    summary: str  # one line a human can read: what the rule allows
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""  # e.g. "description differs", "priority 120 -> 130"


@dataclass(frozen=True)
class Kept:
    """A live rule the spec lists as unmanaged (`targets.<cloud>.unmanaged`): left as it is, never counted as a
    change; `--prune` (or taking it off the list) makes it a removal."""

    kind: str
    name: str  # the rule as the spec lists it
    summary: str


@dataclass
class Plan:
    target: str  # "aws" | "azure"
    topology: str
    scope: str  # where: VPC id, or subscription/resource group
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things left alone on purpose, warnings
    kept: list[Kept] = field(default_factory=list)  # live rules the spec keeps without managing them
    # --explain: the traffic the plan opens and closes (plan), or that live differs by (drift), one dict per row
    # (query/change.py's Change.as_dict); None when not asked for, and then not in the JSON document.
    traffic: list[dict[str, Any]] | None = None

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "change": 0, "remove": 0}
        for c in self.changes:
            out[c.action] += 1
        return out

    def to_dict(self, command: Command = "plan", done: Plan | None = None) -> dict[str, Any]:
        """The same keys for every command; `done`: what apply or destroy carried out (else "applied" is null)."""
        words = DRIFT_WORDS if command == "drift" else PLAN_WORDS
        applied = None if done is None else {words[k]: v for k, v in done.counts().items()}
        return {
            "version": JSON_VERSION,
            "command": command,
            "target": self.target,
            "topology": self.topology,
            "scope": self.scope,
            "in_sync": self.empty,
            "summary": {words[k]: v for k, v in self.counts().items()},
            "changes": [{**asdict(c), "category": words[c.action]} for c in self.changes],
            "notes": [*self.notes, *(n for n in (done.notes if done else ()) if n not in self.notes)],
            "kept": [asdict(k) for k in self.kept],
            "applied": applied,
        } | ({} if self.traffic is None else {"traffic": self.traffic})

    def to_json(self, command: Command = "plan", done: Plan | None = None) -> str:
        return json.dumps(self.to_dict(command, done), indent=2, sort_keys=True, default=str)


def ensure_unchanged(approved: Plan, fresh: Plan) -> None:
    """Apply carries out what was shown; if the cloud changed in between, the user must look again."""

    def ids(plan: Plan) -> set[tuple[str, str, str]]:
        return {(c.action, c.kind, c.name) for c in plan.changes}

    if (approved.scope, approved.topology) != (fresh.scope, fresh.topology) or ids(approved) != ids(fresh):
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"{fresh.target}: live state in {fresh.scope} changed since the plan was made; nothing was changed",
                    "run the command again to see the new plan",
                )
            ]
        )
