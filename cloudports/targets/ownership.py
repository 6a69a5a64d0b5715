"""What cloudports owns, decided the same way on every cloud.

A resource belongs to a spec when its whole identity matches: ``cloudports:topology=<name>`` and
``cloudports:spec=<identity>``, where the identity also holds the names the spec gives its resources (a name
prefix, an NSG name), so two specs that share a topology name never take over each other's resources. A
resource with the topology tag but no spec tag (written by an older cloudports) is matched by topology alone and
gets the spec tag on the next apply. A role's group carries ``cloudports:role=<role>`` too.

An untagged resource with a name the spec declares is refused, or taken over with --adopt; one tagged for
another topology or another spec is always refused. Tags others add (Azure Policy, cost tags) are
kept: cloudports only adds or corrects its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cloudports.errors import Diagnostic

TOPOLOGY_TAG = "cloudports:topology"
ROLE_TAG = "cloudports:role"
SPEC_TAG = "cloudports:spec"

# What to do with an untagged resource that has the name of one the spec declares.
NameConflicts = Literal["error", "adopt", "ignore"]


def spec_identity(topology: str, **names: str) -> str:
    """'d365-distributed' or 'd365-distributed;name_prefix=teamb-': the topology plus the names that make a spec's
    resources its own (empty names are left out, so a spec without a prefix keeps the plain topology name)."""
    return ";".join([topology, *(f"{k}={v}" for k, v in sorted(names.items()) if v)])


def is_mine(tags: Mapping[str, str], topology: str, identity: str) -> bool:
    return tags.get(TOPOLOGY_TAG) == topology and tags.get(SPEC_TAG, identity) == identity


def conflicts_mode(adopt: bool) -> NameConflicts:
    return "adopt" if adopt else "error"


@dataclass(frozen=True)
class Claim:
    """How a live resource with a declared name relates to this topology."""

    verdict: Literal["mine", "adopt", "refuse", "skip"]
    problem: Diagnostic | None = None


def claim(
    cloud: str,
    what: str,
    tags: Mapping[str, str],
    identity: str,
    mode: NameConflicts,
    rename_hint: str,
) -> Claim:
    """The verdict for a resource carrying a name the spec declares. `what` says which resource, and where;
    `identity` is this spec's spec_identity()."""
    topology = identity.split(";", 1)[0]
    other = tags.get(TOPOLOGY_TAG)
    if is_mine(tags, topology, identity):
        return Claim("mine")
    if mode == "ignore":
        return Claim("skip")
    if other == topology:
        message = (
            f"{cloud}: {what} belongs to another spec of topology '{topology}' ({SPEC_TAG}={tags.get(SPEC_TAG)}); "
            f"this spec is {SPEC_TAG}={identity}"
        )
        return Claim("refuse", Diagnostic(None, message, "give one of the two specs another name: (the `name:` key)"))
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
