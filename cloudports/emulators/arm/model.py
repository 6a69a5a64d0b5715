"""What the ARM emulator stores and passes around: resource records, the parsed request, settings."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .errors import bad_request

NS = "Microsoft.Network"
NSG_TYPE = f"{NS}/networkSecurityGroups"
RULE_TYPE = f"{NSG_TYPE}/securityRules"
DEFAULT_RULE_TYPE = f"{NSG_TYPE}/defaultSecurityRules"
ASG_TYPE = f"{NS}/applicationSecurityGroups"
VNET_TYPE = f"{NS}/virtualNetworks"
SUBNET_TYPE = f"{VNET_TYPE}/subnets"
NIC_TYPE = f"{NS}/networkInterfaces"
IPCONFIG_TYPE = f"{NIC_TYPE}/ipConfigurations"
COMPUTE = "Microsoft.Compute"
VM_TYPE = f"{COMPUTE}/virtualMachines"

LOOPBACK = "127.0.0.1"


class Headers(Protocol):
    """Request headers: a Mapping, or the email.message.Message that http.server parses them into."""

    def get(self, name: str, /) -> str | None: ...


Response = tuple[int, dict[str, str], Any]
Key = tuple[str, str, str]  # (subscription, resource group, name), lower case: ARM names are case-insensitive


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def new_guid() -> str:
    return str(uuid.uuid4())


def rg_prefix(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{NS}"


def key_of(sub: str, rg: str, name: str) -> Key:
    return (sub.lower(), rg.lower(), name.lower())


@dataclass
class Settings:
    """The server's options (see :class:`~cloudports.emulators.arm.server.ArmServer` for their meaning)."""

    page_size: int = 50
    lro_polls: int = 1
    lro_complete_after: float | None = None
    conflict_status: int = 409
    retry_after: int = 0
    require_auth: bool = True
    lro_latency: float = 0.0  # an operation takes at least this long, however often it is polled

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be >= 1")
        if self.conflict_status not in (409, 429):
            raise ValueError("conflict_status must be 409 or 429")


@dataclass
class Rule:
    name: str
    props: dict[str, Any]
    state: str = "Succeeded"


@dataclass
class TopLevel:
    """Fields every top-level resource (NSG, ASG, virtual network) has."""

    sub: str
    rg: str
    name: str
    location: str
    tags: dict[str, str]
    etag: str = field(default_factory=new_etag, kw_only=True)
    guid: str = field(default_factory=new_guid, kw_only=True)
    state: str = field(default="Succeeded", kw_only=True)

    # The URL segment of the resource type, set by each subclass.
    segment: ClassVar[str] = ""

    @property
    def id(self) -> str:
        return f"{rg_prefix(self.sub, self.rg)}/{self.segment}/{self.name}"


@dataclass
class Nsg(TopLevel):
    rules: dict[str, Rule] = field(default_factory=dict)  # lower-case name -> rule, in order
    flush_connection: bool = False

    segment = "networkSecurityGroups"


@dataclass
class Asg(TopLevel):
    segment = "applicationSecurityGroups"


@dataclass
class Subnet:
    name: str
    prefix: str
    nsg_id: str | None = None
    state: str = "Succeeded"


@dataclass
class Vnet(TopLevel):
    address_prefixes: list[str] = field(default_factory=list)
    subnets: dict[str, Subnet] = field(default_factory=dict)

    segment = "virtualNetworks"

    def subnet_id(self, subnet: Subnet) -> str:
        return f"{self.id}/subnets/{subnet.name}"


@dataclass
class IpConfig:
    """One IP configuration of a network interface; ids are canonical (as the referenced resource renders it)."""

    name: str
    subnet_id: str
    vnet_id: str  # the virtual network of ``subnet_id``: what the ASG "same virtual network" rules compare
    private_ip: str
    allocation: str  # "Dynamic" or "Static"
    primary: bool
    asg_ids: list[str] = field(default_factory=list)
    version: str = "IPv4"
    state: str = "Succeeded"


@dataclass
class Nic(TopLevel):
    ip_configs: dict[str, IpConfig] = field(default_factory=dict)  # lower-case name -> configuration, in order
    nsg_id: str | None = None
    vm_id: str | None = None  # set only by a virtual machine that references the NIC (read-only in the API)
    vm_primary: bool = False  # properties.primary of the NIC: whether it is its VM's primary NIC
    mac: str = ""
    accelerated: bool = False
    ip_forwarding: bool = False

    segment = "networkInterfaces"

    def ip_config_id(self, config: IpConfig) -> str:
        return f"{self.id}/ipConfigurations/{config.name}"


@dataclass
class VmNic:
    nic_id: str  # canonical id of the network interface
    primary: bool | None  # as sent (None: not given)


@dataclass
class Vm(TopLevel):
    """A Microsoft.Compute virtual machine, reduced to what links it to network interfaces."""

    nics: list[VmNic] = field(default_factory=list)
    vm_size: str | None = None

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/{COMPUTE}/virtualMachines/{self.name}"


@dataclass
class Request:
    """What a handler gets: the parsed request."""

    method: str
    path: str  # the path as sent (decoded), without the query
    query: dict[str, str]  # lower-case keys
    headers: Headers
    body: bytes
    base: str  # scheme://host:port the client used
    api_version: str = ""

    def json_object(self) -> dict[str, Any]:
        if not self.body.strip():
            raise bad_request("InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise bad_request(
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: '{exc}'.",
            ) from None
        if not isinstance(value, dict):
            raise bad_request("InvalidRequestContent", "The request content must be a JSON object.")
        return value
