"""The one place where a spec meets what a target cannot express.

A target declares its Capabilities (base.py); this module walks the neutral rules once and says, per target,
what the spec needs that the target lacks: an error where the result would allow less or more than the spec
says and nothing sensible can stand in, a warning where the target widens a rule in a way the user should know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cloudports.compile import Rule
from cloudports.errors import CloudportsError, Diagnostic, Loc
from cloudports.targets import registry

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy
    from cloudports.targets.base import Target


def _by_flow(rules: list[Rule], what: Callable[[Rule], str]) -> dict[tuple[Loc | None, str], list[str]]:
    """(the flow's location, what) -> the roles concerned: one diagnostic per flow, not per rule."""
    found: dict[tuple[Loc | None, str], list[str]] = {}
    for rule in rules:
        roles = found.setdefault((rule.origins[0] if rule.origins else None, what(rule)), [])
        if rule.role not in roles:
            roles.append(rule.role)
    return found


def _roles(roles: list[str]) -> str:
    return ", ".join(f"'{r}'" for r in sorted(roles))


def _icmp_types(target: Target[Any, Any], policy: CompiledPolicy) -> list[Diagnostic]:
    typed = [r for r in policy.rules if r.protocol in ("icmp", "icmpv6") and r.from_port >= 0]
    return [
        Diagnostic(
            loc,
            f"{target.name}: {target.title} cannot filter ICMP by type; {port} becomes all ICMP for {_roles(roles)}",
            "targets that keep the exact ICMP type: " + ", ".join(_able("icmp_types")),
            "warning",
        )
        for (loc, port), roles in _by_flow(typed, lambda r: str(r.port)).items()
    ]


_OTHER_FAMILY = {"icmp": "ICMPv6", "icmpv6": "ICMP (IPv4)"}


def _icmp_families(target: Target[Any, Any], policy: CompiledPolicy) -> list[Diagnostic]:
    """Between roles there is no address to tell the family by: an ICMP rule admits ICMPv6 too, and back."""
    between = [r for r in policy.rules if r.protocol in ("icmp", "icmpv6") and r.peer.kind == "role"]
    return [
        Diagnostic(
            loc,
            f"{target.name}: {target.title} cannot tell ICMP from ICMPv6 between roles; {protocol} for "
            f"{_roles(roles)} also admits {_OTHER_FAMILY[protocol]}",
            "allow both families in the spec to make the intent explicit, or use a network (CIDR) peer",
            "warning",
        )
        for (loc, protocol), roles in _by_flow(between, lambda r: r.protocol).items()
    ]


def _able(capability: str) -> list[str]:
    return [t.name for t in registry.all_targets() if getattr(t.capabilities, capability)]


def _egress(target: Target[Any, Any], policy: CompiledPolicy) -> list[Diagnostic]:
    if policy.topology.egress != "strict":
        return []
    return [
        Diagnostic(
            None,
            f"{target.name}: {target.title} cannot restrict outbound traffic, and the spec says egress: strict",
            "use egress: open, or another target",
        )
    ]


def _addressless(target: Target[Any, Any], policy: CompiledPolicy) -> list[Diagnostic]:
    """A network without addresses (another team's AWS security group) is machines only some targets can name.
    Its flows are refused, not dropped: leaving them out would close what the spec opens."""
    named = [r for r in policy.rules if r.peer.kind == "network"]
    return [
        Diagnostic(
            loc,
            f"{target.name}: {target.title} cannot name network '{name}', which has no addresses (its machines "
            f"are known by an AWS security group): the flow gives {_roles(roles)} rules with it",
            "on this target, name those machines by a network with address blocks; targets that name them: "
            + ", ".join(_able("addressless_networks")),
        )
        for (loc, name), roles in _by_flow(named, lambda r: r.peer.name).items()
    ]


def check_capabilities(target: Target[Any, Any], policy: CompiledPolicy) -> list[Diagnostic]:
    """Warnings for what the target widens; raises CloudportsError for what it cannot express at all."""
    caps = target.capabilities
    found = [
        *(() if caps.icmp_types else _icmp_types(target, policy)),
        *(() if caps.icmp_families else _icmp_families(target, policy)),
        *(() if caps.egress else _egress(target, policy)),
        *(() if caps.addressless_networks else _addressless(target, policy)),
    ]
    errors = [d for d in found if d.severity == "error"]
    if errors:
        raise CloudportsError(errors)
    return found
