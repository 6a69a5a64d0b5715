"""What cloudports owns, decided the same way on every cloud.

A resource belongs to a topology when it carries ``cloudports:topology=<name>``; a role's group carries
``cloudports:role=<role>`` too. An untagged resource with a name the spec declares is refused, or taken over
with --adopt; one tagged for another topology is always refused. Tags others add (Azure Policy, cost tags) are
kept: cloudports only adds or corrects its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cloudports.errors import Diagnostic

TOPOLOGY_TAG = "cloudports:topology"
ROLE_TAG = "cloudports:role"

# What to do with an untagged resource that has the name of one the spec declares.
NameConflicts = Literal["error", "adopt", "ignore"]


def conflicts_mode(adopt: bool) -> NameConflicts:
    return "adopt" if adopt else "error"


@dataclass(frozen=True)
class Claim:
    """How a live resource with a declared name relates to this topology."""

    verdict: Literal["mine", "adopt", "refuse", "skip"]
    problem: Diagnostic | None = None


def claim(
    cloud: str, what: str, tags: Mapping[str, str], topology: str, mode: NameConflicts, rename_hint: str
) -> Claim:
    """The verdict for a resource carrying a name the spec declares. `what` says which resource, and where."""
    other = tags.get(TOPOLOGY_TAG)
    if other == topology:
        return Claim("mine")
    if mode == "ignore":
        return Claim("skip")
    if other:
        message = f"{cloud}: {what} belongs to cloudports topology '{other}', not '{topology}'"
        return Claim("refuse", Diagnostic(None, message, rename_hint))
    if mode == "adopt":
        return Claim("adopt")
    message = (
        f"{cloud}: {what} has the name of one this spec declares but is not tagged {TOPOLOGY_TAG}={topology}; "
        "cloudports will not take it over silently"
    )
    hint = (
        f"to manage it (its rules will be made to match the spec) run plan/apply with --adopt; otherwise {rename_hint}"
    )
    return Claim("refuse", Diagnostic(None, message, hint))


@dataclass(frozen=True)
class TagChange:
    """Tags to write on a resource: `after` is the full set it ends with, `missing` what is added or corrected."""

    after: dict[str, str]
    missing: dict[str, str]
    why: str


def tag_change(want: Mapping[str, str], have: Mapping[str, str], adopt: bool, topology: str) -> TagChange | None:
    """None when the resource has every tag cloudports wants (other tags are left alone)."""
    missing = {k: v for k, v in want.items() if have.get(k) != v}
    if not missing and not adopt:
        return None
    why = f"adopt: tag it {TOPOLOGY_TAG}={topology}" if adopt else "tags differ: " + ", ".join(sorted(missing))
    return TagChange({**have, **want}, missing, why)


def left_in_use(kind: str, name: str, detail: str) -> str:
    """The note for a resource destroy or apply could not delete because something still uses it."""
    return f"left {kind} {name}: still in use ({detail})"
