"""Validation of Microsoft.Network security rules, as strict as Azure documents.

The validators return the *canonical* stored form of a rule's properties (enum values in Azure's casing,
ports as strings, the four plural lists always present), which is what the server returns on reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ArmError, bad_request
from .validation import as_enum, as_int, as_str, as_str_list, invalid_format, is_service_tag, parse_ip_prefix

PRIORITY_MIN = 100
PRIORITY_MAX = 4096
MAX_RULES_PER_NSG = 1000
MAX_ASGS_PER_RULE_SIDE = 10
MAX_ASGS_PER_NSG = 100
MAX_DESCRIPTION = 140

PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
ACCESSES = {"allow": "Allow", "deny": "Deny"}
DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}

_PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")

SUPPORTED_PORT_MESSAGE = "Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535."


# --------------------------------------------------------------------------------------------- rules


def _missing(rule_id: str, what: str) -> ArmError:
    return bad_request(
        "SecurityRuleParametersMissing",
        f"Required security rule parameters are missing for security rule with Id: {rule_id}. "
        f"Security rule must specify {what}.",
    )


def _check_port(value: str, *, allow_star: bool) -> None:
    if value == "*" and allow_star:
        return
    m = _PORT_RE.match(value)
    ok = bool(m)
    if m:
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        ok = lo <= 65535 and hi <= 65535 and lo <= hi
    if not ok:
        raise bad_request(
            "SecurityRuleInvalidPortRange",
            f"Security rule has invalid Port range. Value provided: {value}. {SUPPORTED_PORT_MESSAGE}",
        )


def _ports(props: dict[str, Any], side: str, rule_id: str, path: str) -> tuple[str | None, list[str]]:
    label = side[0].upper() + side[1:]
    single = as_str(props.get(f"{side}PortRange"), f"{path}.{side}PortRange")
    plural = as_str_list(props.get(f"{side}PortRanges"), f"{path}.{side}PortRanges")
    has_single = single not in (None, "")
    has_plural = bool(plural)
    if has_single == has_plural:
        message = (
            f"Security rule {rule_id} must specify a non-empty value for either {label}PortRange or "
            f"{label}PortRanges, but not both."
        )
        raise bad_request(
            "SecurityRuleConflictingParameters" if has_single else "SecurityRuleParametersMissing", message
        )
    if single:  # has_single: a non-empty value
        _check_port(single, allow_star=True)
        return single, []
    for value in plural:
        _check_port(value, allow_star=False)
    return None, plural


def _address_fields(props: dict[str, Any], side: str, path: str) -> tuple[str | None, list[str], list[Any]]:
    """The three ways to name one side's addresses: (single prefix, prefix list, ASG references)."""
    single = as_str(props.get(f"{side}AddressPrefix"), f"{path}.{side}AddressPrefix")
    plural = as_str_list(props.get(f"{side}AddressPrefixes"), f"{path}.{side}AddressPrefixes")
    asgs_raw = props.get(f"{side}ApplicationSecurityGroups")
    if asgs_raw is None:
        asgs_raw = []
    if not isinstance(asgs_raw, list):
        raise invalid_format(asgs_raw, "ApplicationSecurityGroup[]", f"{path}.{side}ApplicationSecurityGroups")
    return single, plural, asgs_raw


def _invalid_prefix(rule_id: str, value: str) -> ArmError:
    return bad_request(
        "SecurityRuleInvalidAddressPrefix",
        f"Security rule {rule_id} has invalid Address prefix. Value provided: {value}.",
    )


def _check_prefix_list(plural: list[str], label: str, rule_id: str) -> None:
    families: dict[int, str] = {}
    for value in plural:
        if value == "*" or is_service_tag(value):
            raise bad_request(
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Security rule parameter {label}AddressPrefixes for rule with Id {rule_id} cannot specify "
                f"existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. "
                f"Unsupported value used: {value}.",
            )
        net = parse_ip_prefix(value)
        if net is None:
            raise _invalid_prefix(rule_id, value)
        families.setdefault(net.version, value)
    if len(families) > 1:
        raise bad_request(
            "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
            f"Resource {rule_id} cannot contain address prefixes from different address families in "
            f"{label}AddressPrefixes ({families[4]} and {families[6]}).",
        )


def _asg_refs(
    asgs_raw: list[Any], side: str, label: str, path: str, resolve_asg: Callable[[Any, str], str]
) -> list[str]:
    """Canonical ids of one side's ASG references, duplicates dropped."""
    if len(asgs_raw) > MAX_ASGS_PER_RULE_SIDE:
        raise bad_request(
            "NumberOfApplicationSecurityGroupsReferencedInSecurityRuleLimitReached",
            f"A security rule may have up to {MAX_ASGS_PER_RULE_SIDE} Application Security Group in the source or "
            f"destination fields. The requested configuration has {len(asgs_raw)} in the "
            f"{label}ApplicationSecurityGroups field.",
        )
    ids: list[str] = []
    for i, ref in enumerate(asgs_raw):
        ref_path = f"{path}.{side}ApplicationSecurityGroups[{i}].id"
        ref_id = ref.get("id") if isinstance(ref, dict) else None
        canonical = resolve_asg(ref_id, ref_path)
        if canonical.lower() not in {x.lower() for x in ids}:
            ids.append(canonical)
    return ids


def _addresses(
    props: dict[str, Any],
    side: str,
    rule_id: str,
    path: str,
    resolve_asg: Callable[[Any, str], str],
) -> tuple[str | None, list[str], list[str]]:
    label = side[0].upper() + side[1:]
    single, plural, asgs_raw = _address_fields(props, side, path)
    present = [name for name, val in (("prefix", single), ("prefixes", plural), ("asgs", asgs_raw)) if val]
    if not present:
        raise _missing(rule_id, f"{label}AddressPrefixes, {label}AddressPrefix, or {label}ApplicationSecurityGroups")
    if len(present) > 1:
        raise bad_request(
            "SecurityRuleConflictingParameters",
            f"Security rule {rule_id} may specify only one of {label}AddressPrefix, {label}AddressPrefixes and "
            f"{label}ApplicationSecurityGroups.",
        )
    if single:
        if single != "*" and not is_service_tag(single) and parse_ip_prefix(single) is None:
            raise _invalid_prefix(rule_id, single)
        return single, [], []
    if plural:
        _check_prefix_list(plural, label, rule_id)
        return None, plural, []
    return None, [], _asg_refs(asgs_raw, side, label, path, resolve_asg)


def _scalars(props: dict[str, Any], rule_id: str, path: str) -> dict[str, Any]:
    """description, protocol, access, priority and direction, checked and in canonical form."""
    protocol = as_enum(props.get("protocol"), PROTOCOLS, "SecurityRuleProtocol", f"{path}.protocol")
    access = as_enum(props.get("access"), ACCESSES, "SecurityRuleAccess", f"{path}.access")
    direction = as_enum(props.get("direction"), DIRECTIONS, "SecurityRuleDirection", f"{path}.direction")
    raw_priority = props.get("priority")
    priority = 0 if raw_priority is None else as_int(raw_priority, f"{path}.priority")

    if protocol is None:
        raise _missing(rule_id, "Protocol")
    if access is None:
        raise _missing(rule_id, "Access")
    if direction is None:
        raise _missing(rule_id, "Direction")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise bad_request(
            "SecurityRuleInvalidPriority",
            f"Security rule has invalid Priority. Value provided: {priority} "
            f"Allowed range {PRIORITY_MIN}-{PRIORITY_MAX}.",
        )

    description = as_str(props.get("description"), f"{path}.description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise bad_request(
            "SecurityRuleDescriptionTooLong",
            f"Security rule {rule_id} has a description of {len(description)} characters; "
            f"at most {MAX_DESCRIPTION} are allowed.",
        )
    return {"description": description, "protocol": protocol, "access": access, "priority": priority,
            "direction": direction}  # fmt: skip


def validate_rule(
    props: Any,
    *,
    rule_id: str,
    path: str,
    resolve_asg: Callable[[Any, str], str],
) -> dict[str, Any]:
    """Validate one rule's ``properties`` object; return its canonical stored form.

    ``path`` is the JSON path of the properties object (for InvalidRequestFormat details);
    ``resolve_asg(id, path)`` returns the canonical id of an existing ASG or raises.
    """
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise invalid_format(props, "SecurityRulePropertiesFormat", path)
    scalars = _scalars(props, rule_id, path)
    src_port, src_ports = _ports(props, "source", rule_id, path)
    dst_port, dst_ports = _ports(props, "destination", rule_id, path)
    src_prefix, src_prefixes, src_asgs = _addresses(props, "source", rule_id, path, resolve_asg)
    dst_prefix, dst_prefixes, dst_asgs = _addresses(props, "destination", rule_id, path, resolve_asg)

    # Azure's order of the fields; singular fields only when set, the four plural lists always.
    out: dict[str, Any] = {}
    if scalars["description"] is not None:
        out["description"] = scalars["description"]
    out["protocol"] = scalars["protocol"]
    optional = {"sourcePortRange": src_port, "destinationPortRange": dst_port, "sourceAddressPrefix": src_prefix,
                "destinationAddressPrefix": dst_prefix}  # fmt: skip
    out.update({k: v for k, v in optional.items() if v is not None})
    out.update(access=scalars["access"], priority=scalars["priority"], direction=scalars["direction"])
    out["sourcePortRanges"] = src_ports
    out["destinationPortRanges"] = dst_ports
    out["sourceAddressPrefixes"] = src_prefixes
    out["destinationAddressPrefixes"] = dst_prefixes
    if src_asgs:
        out["sourceApplicationSecurityGroups"] = [{"id": x} for x in src_asgs]
    if dst_asgs:
        out["destinationApplicationSecurityGroups"] = [{"id": x} for x in dst_asgs]
    return out


def rule_asg_ids(props: dict[str, Any]) -> list[str]:
    """Ids of every ASG a stored rule references (source and destination)."""
    refs = props.get("sourceApplicationSecurityGroups", []) + props.get("destinationApplicationSecurityGroups", [])
    return [ref["id"] for ref in refs]


def check_rule_set(rules: list[tuple[str, dict[str, Any]]], nsg_id: str) -> None:
    """NSG-wide checks over the complete rule set that would result from a write.

    ``rules`` is (name, canonical properties) in order; when one rule is being written it must come last so
    that a priority clash names it as the newcomer.
    """
    seen_names: set[str] = set()
    for name, _props in rules:
        if name.lower() in seen_names:
            raise bad_request(
                "DuplicateResourceName",
                f"Network security group {nsg_id} cannot have more than one security rule with the name {name}.",
            )
        seen_names.add(name.lower())
    if len(rules) > MAX_RULES_PER_NSG:
        raise bad_request(
            "SecurityRuleCountLimitReached",
            f"A security group cannot have more than {MAX_RULES_PER_NSG} security rules.",
        )
    slots: dict[tuple[int, str], str] = {}
    for name, props in rules:
        key = (props["priority"], props["direction"])
        if key in slots:
            raise bad_request(
                "SecurityRuleConflict",
                f"Security rule {name} conflicts with rule {slots[key]}. Rules cannot have the same Priority and "
                "Direction. To learn more, see aka.ms/nsgrules.",
            )
        slots[key] = name
    distinct = {asg.lower() for _name, props in rules for asg in rule_asg_ids(props)}
    if len(distinct) > MAX_ASGS_PER_NSG:
        raise bad_request(
            "NumberOfApplicationSecurityGroupsReferencedInNetworkSecurityGroupLimitReached",
            f"A network security group may reference up to {MAX_ASGS_PER_NSG} distinct Application Security Groups "
            f"across its security rules. The requested configuration of {nsg_id} references {len(distinct)}.",
        )
