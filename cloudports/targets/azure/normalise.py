"""Azure rules in canonical form, so that a rule written by cloudports, by Terraform or by hand compares equal
when it allows the same traffic: protocol and direction case, '*' for all ports, singular and plural fields
merged, CIDRs canonical, ASG ids turned into role keys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from cloudports.targets.azure.model import NsgRule

_PROTOCOLS = {p.lower(): p for p in ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*")}
_DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}
_ACCESSES = {"allow": "Allow", "deny": "Deny"}
_TAGS = {t.lower(): t for t in ("VirtualNetwork", "Internet", "AzureLoadBalancer")}
ALL_PORTS = ("*",)



def _text(value: Any) -> str:
    """SDK enums (str subclasses) and plain strings alike -> their wire value."""
    return str(getattr(value, "value", value) or "")


def _canon(value: Any, table: dict[str, str]) -> str:
    text = _text(value)
    return table.get(text.lower(), text)


def _port_key(item: str) -> tuple[int, int]:
    lo, _, hi = item.partition("-")
    try:
        return int(lo), int(hi or lo)
    except ValueError:
        return (1 << 30, 0)  # not a port: sorts last, compares as written


def normalise_ports(items: Iterable[str]) -> tuple[str, ...]:
    """'*' and '0-65535' mean every port; '80-80' is '80'; order and duplicates do not matter."""
    out = set()
    for raw in items:
        item = raw.strip().replace(" ", "")
        if not item:
            continue
        if item == "*" or _port_key(item) == (0, 65535):
            return ALL_PORTS
        lo, hi = _port_key(item)
        out.add(item if lo > hi or lo == 1 << 30 else str(lo) if lo == hi else f"{lo}-{hi}")
    return tuple(sorted(out, key=_port_key))


def normalise_prefix(raw: str) -> str:
    """CIDRs and addresses in canonical form (Azure masks host bits), service tags in their usual case."""
    text = raw.strip()
    if text.lower() in _TAGS:
        return _TAGS[text.lower()]
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text  # '*' or another service tag


def normalise_prefixes(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({normalise_prefix(i) for i in items if i and i.strip()}))


def canonical(rule: NsgRule) -> NsgRule:
    """The comparable form of a rule; applied to desired and live rules alike."""
    return replace(
        rule,
        protocol=_canon(rule.protocol, _PROTOCOLS),
        direction=_canon(rule.direction, _DIRECTIONS),  # type: ignore[arg-type]
        access=_canon(rule.access, _ACCESSES),  # type: ignore[arg-type]
        destination_ports=normalise_ports(rule.destination_ports),
        source_ports=normalise_ports(rule.source_ports),
        source_prefixes=normalise_prefixes(rule.source_prefixes),
        destination_prefixes=normalise_prefixes(rule.destination_prefixes),
        source_asgs=tuple(sorted(set(rule.source_asgs))),
        destination_asgs=tuple(sorted(set(rule.destination_asgs))),
    )


def _either(single: Any, plural: Any) -> list[str]:
    """Azure keeps one value in the singular field and several in the plural one; either may be used."""
    values = [single] if single else list(plural or [])
    return [str(v) for v in values]


def _asg_keys(refs: Any, roles_by_id: dict[str, str]) -> tuple[str, ...]:
    """ASG references -> role keys; an ASG cloudports does not own stays as its (lower-case) id."""
    ids = [str(getattr(r, "id", None) or (r.get("id") if isinstance(r, dict) else "") or "") for r in refs or []]
    return tuple(roles_by_id.get(i.lower(), i.lower()) for i in ids if i)


def normalise_rule(rule: Any, roles_by_id: dict[str, str]) -> NsgRule:
    """One security rule as the SDK returns it -> NsgRule, in canonical form."""
    return canonical(
        NsgRule(
            name=str(rule.name),
            direction=_text(rule.direction),  # type: ignore[arg-type]
            access=_text(rule.access),  # type: ignore[arg-type]
            protocol=_text(rule.protocol),
            destination_ports=tuple(_either(rule.destination_port_range, rule.destination_port_ranges)),
            source_ports=tuple(_either(rule.source_port_range, rule.source_port_ranges)),
            source_prefixes=tuple(_either(rule.source_address_prefix, rule.source_address_prefixes)),
            destination_prefixes=tuple(_either(rule.destination_address_prefix, rule.destination_address_prefixes)),
            source_asgs=_asg_keys(rule.source_application_security_groups, roles_by_id),
            destination_asgs=_asg_keys(rule.destination_application_security_groups, roles_by_id),
            priority=int(rule.priority or 0),
            description=str(rule.description or ""),
        )
    )


def location_key(location: str | None) -> str:
    """'West Europe' and 'westeurope' are the same region."""
    return (location or "").replace(" ", "").lower()
