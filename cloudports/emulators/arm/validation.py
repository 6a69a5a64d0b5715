"""Azure's documented rules for names, ids, locations, address prefixes and JSON values (shared validators).

Every check raises :class:`ArmError` with the status and error code Azure uses where that code is known
(see README.md, "Error codes", for which codes were seen in Azure output and which were chosen here).
Security rules themselves are validated in rule_validation.py.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from .errors import ArmError, bad_request

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
_CIDR_RE = re.compile(r"^[0-9A-Fa-f:.]+(?:/\d{1,3})?$")
_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)"
    r"(?:/(?P<ctype>[^/]+)/(?P<cname>[^/]+))?$",
    re.IGNORECASE,
)
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


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


def as_int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise invalid_format(value, "System.Int32", path)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,10}\s*", value):
        return int(value)
    raise invalid_format(value, "System.Int32", path)


def as_enum(value: Any, table: dict[str, str], type_name: str, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in table:
        raise invalid_format(value, type_name, path)
    return table[value.lower()]


def as_str(value: Any, path: str) -> str | None:
    """A JSON string field; numbers are converted to text (as Azure's JSON reader does)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid_format(value, "System.String", path)
    if isinstance(value, float):
        value = int(value) if value.is_integer() else value
    return str(value)


def as_str_list(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_format(value, "System.Collections.Generic.List`1[System.String]", path)
    out = []
    for i, item in enumerate(value):
        text = as_str(item, f"{path}[{i}]")
        if text is None:
            raise invalid_format(item, "System.String", f"{path}[{i}]")
        out.append(text)
    return out
