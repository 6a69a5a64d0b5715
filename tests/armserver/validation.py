"""Validation of Microsoft.Network security rules, names and references, as strict as Azure documents.

Every check raises :class:`ArmError` with the status and error code Azure uses where that code is known
(see README.md, "Error codes", for which codes were seen in Azure output and which were chosen here).
The validators return the *canonical* stored form of a rule's properties (enum values in Azure's casing,
ports as strings, the four plural lists always present), which is what the server returns on reads.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from .errors import ArmError, bad_request

PRIORITY_MIN = 100
PRIORITY_MAX = 4096
MAX_RULES_PER_NSG = 1000
MAX_ASGS_PER_RULE_SIDE = 10
MAX_ASGS_PER_NSG = 100
MAX_DESCRIPTION = 140

PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
ACCESSES = {"allow": "Allow", "deny": "Deny"}
DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}

# Service tags accepted in the singular *AddressPrefix fields (compared case-insensitively).  The three
# classic tags plus a selection of Azure service tags; tags in REGIONAL_TAGS may carry a ".<region>" suffix
# (Storage.WestEurope, Sql.EastUS ...).  Azure's real list is longer; anything else is rejected.
BASE_TAGS = {
    "virtualnetwork",
    "internet",
    "azureloadbalancer",
    "azureplatformdns",
    "azureplatformimds",
    "azureplatformlkm",
    "azureactivedirectory",
    "azureresourcemanager",
    "azurefrontdoor.backend",
    "azurefrontdoor.frontend",
    "azurefrontdoor.firstparty",
    "azuretrafficmanager",
    "gatewaymanager",
    "guestandhybridmanagement",
    "windowsvirtualdesktop",
    "azuredevops",
    "azurebotservice",
    "azureupdatedelivery",
    "microsoftcontainerregistry",
    "azureconnectors",
    "powerplatforminfra",
}
REGIONAL_TAGS = {
    "azurecloud",
    "storage",
    "sql",
    "sqlmanagement",
    "azuremonitor",
    "azurekeyvault",
    "azurecontainerregistry",
    "azurecosmosdb",
    "eventhub",
    "servicebus",
    "appservice",
    "appservicemanagement",
    "apimanagement",
    "azurebackup",
    "azuresiterecovery",
    "azuremachinelearning",
    "batchnodemanagement",
    "hdinsight",
    "datafactory",
    "azuredatabricks",
    "azuresignalr",
    "cognitiveservicesmanagement",
    "azurearcinfrastructure",
}
_REGION_RE = re.compile(r"^[a-z0-9]+$")

# Azure's naming rule for NSGs, rules, ASGs, virtual networks and subnets: 1-80 characters, begins with a
# word character, ends with a word character or '_', may contain word characters, '.', '-' and '_'.
_NAME_RE = re.compile(r"^\w(?:[\w.\-]{0,78}\w)?$")
_PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_CIDR_RE = re.compile(r"^[0-9A-Fa-f:.]+(?:/\d{1,3})?$")
_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)"
    r"(?:/(?P<ctype>[^/]+)/(?P<cname>[^/]+))?$",
    re.IGNORECASE,
)
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

SUPPORTED_PORT_MESSAGE = "Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535."


# --------------------------------------------------------------------------------------------- helpers


def invalid_format(value: Any, type_name: str, path: str) -> ArmError:
    """What Azure answers when a JSON value cannot be converted (enum, integer): 400 InvalidRequestFormat."""
    return bad_request(
        "InvalidRequestFormat",
        "Cannot parse the request.",
        details=[
            {
                "code": "InvalidJson",
                "message": f"Error converting value {json.dumps(value)} to type '{type_name}'. Path '{path}'.",
            }
        ],
    )


def validate_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise bad_request(
            "InvalidResourceName",
            f"Resource name {name} is invalid. The name can be up to 80 characters long. It must begin with a word "
            "character, and it must end with a word character or with '_'. The name may contain word characters "
            "or '.', '-', '_'.",
        )


def validate_subscription(sub: str) -> None:
    if not _GUID_RE.match(sub):
        raise bad_request(
            "InvalidSubscriptionId", f"The provided subscription identifier '{sub}' is malformed or invalid."
        )


def canonical_location(value: Any) -> str:
    """Azure returns locations normalised: lower case, no spaces ("West Europe" -> "westeurope")."""
    return str(value).replace(" ", "").lower()


def parse_resource_id(value: Any) -> dict[str, str] | None:
    """Split a fully qualified resource id; None when it is not one."""
    if not isinstance(value, str):
        return None
    m = _ID_RE.match(value)
    return m.groupdict() if m else None


def is_service_tag(value: str) -> bool:
    low = value.lower()
    if low in BASE_TAGS or low in REGIONAL_TAGS:
        return True
    base, dot, region = low.partition(".")
    return bool(dot) and base in REGIONAL_TAGS and bool(_REGION_RE.match(region))


def parse_ip_prefix(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IP address or a CIDR prefix (v4 or v6); None when the text is neither.

    Host bits may be set (10.0.0.1/24 is accepted, as by Azure for NSG rules); netmask notation is not.
    """
    if not _CIDR_RE.match(value):
        return None
    addr, slash, length = value.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    if slash:
        if not length.isdigit() or int(length) > ip.max_prefixlen:
            return None
        return ipaddress.ip_network(f"{addr}/{int(length)}", strict=False)
    return ipaddress.ip_network(addr)


def _as_int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise invalid_format(value, "System.Int32", path)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,10}\s*", value):
        return int(value)
    raise invalid_format(value, "System.Int32", path)


def _enum(value: Any, table: dict[str, str], type_name: str, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in table:
        raise invalid_format(value, type_name, path)
    return table[value.lower()]


def _as_str(value: Any, path: str) -> str | None:
    """A JSON string field; numbers are converted to text (as Azure's JSON reader does)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid_format(value, "System.String", path)
    if isinstance(value, float):
        value = int(value) if value.is_integer() else value
    return str(value)


def _as_str_list(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_format(value, "System.Collections.Generic.List`1[System.String]", path)
    out = []
    for i, item in enumerate(value):
        text = _as_str(item, f"{path}[{i}]")
        if text is None:
            raise invalid_format(item, "System.String", f"{path}[{i}]")
        out.append(text)
    return out


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
    single = _as_str(props.get(f"{side}PortRange"), f"{path}.{side}PortRange")
    plural = _as_str_list(props.get(f"{side}PortRanges"), f"{path}.{side}PortRanges")
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
    if has_single:
        assert single is not None
        _check_port(single, allow_star=True)
        return single, []
    for value in plural:
        _check_port(value, allow_star=False)
    return None, plural


def _addresses(
    props: dict[str, Any],
    side: str,
    rule_id: str,
    path: str,
    resolve_asg: Callable[[Any, str], str],
) -> tuple[str | None, list[str], list[str]]:
    label = side[0].upper() + side[1:]
    single = _as_str(props.get(f"{side}AddressPrefix"), f"{path}.{side}AddressPrefix")
    plural = _as_str_list(props.get(f"{side}AddressPrefixes"), f"{path}.{side}AddressPrefixes")
    asgs_raw = props.get(f"{side}ApplicationSecurityGroups")
    if asgs_raw is None:
        asgs_raw = []
    if not isinstance(asgs_raw, list):
        raise invalid_format(asgs_raw, "ApplicationSecurityGroup[]", f"{path}.{side}ApplicationSecurityGroups")

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
            raise bad_request(
                "SecurityRuleInvalidAddressPrefix",
                f"Security rule {rule_id} has invalid Address prefix. Value provided: {single}.",
            )
        return single, [], []

    if plural:
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
                raise bad_request(
                    "SecurityRuleInvalidAddressPrefix",
                    f"Security rule {rule_id} has invalid Address prefix. Value provided: {value}.",
                )
            families.setdefault(net.version, value)
        if len(families) > 1:
            raise bad_request(
                "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
                f"Resource {rule_id} cannot contain address prefixes from different address families in "
                f"{label}AddressPrefixes ({families[4]} and {families[6]}).",
            )
        return None, plural, []

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
    return None, [], ids


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

    protocol = _enum(props.get("protocol"), PROTOCOLS, "SecurityRuleProtocol", f"{path}.protocol")
    access = _enum(props.get("access"), ACCESSES, "SecurityRuleAccess", f"{path}.access")
    direction = _enum(props.get("direction"), DIRECTIONS, "SecurityRuleDirection", f"{path}.direction")
    raw_priority = props.get("priority")
    priority = 0 if raw_priority is None else _as_int(raw_priority, f"{path}.priority")

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

    description = _as_str(props.get("description"), f"{path}.description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise bad_request(
            "SecurityRuleDescriptionTooLong",
            f"Security rule {rule_id} has a description of {len(description)} characters; "
            f"at most {MAX_DESCRIPTION} are allowed.",
        )

    src_port, src_ports = _ports(props, "source", rule_id, path)
    dst_port, dst_ports = _ports(props, "destination", rule_id, path)
    src_prefix, src_prefixes, src_asgs = _addresses(props, "source", rule_id, path, resolve_asg)
    dst_prefix, dst_prefixes, dst_asgs = _addresses(props, "destination", rule_id, path, resolve_asg)

    out: dict[str, Any] = {}
    if description is not None:
        out["description"] = description
    out["protocol"] = protocol
    if src_port is not None:
        out["sourcePortRange"] = src_port
    if dst_port is not None:
        out["destinationPortRange"] = dst_port
    if src_prefix is not None:
        out["sourceAddressPrefix"] = src_prefix
    if dst_prefix is not None:
        out["destinationAddressPrefix"] = dst_prefix
    out["access"] = access
    out["priority"] = priority
    out["direction"] = direction
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
