"""Azure's rules for the IP configurations of a network interface (what a NIC PUT is checked against).

Where each error code comes from is listed in README.md ("Where the error codes come from"); messages quoted
from Azure output are marked so below, the others are written to read like Azure's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ArmError, bad_request
from .model import IpConfig
from .validation import as_enum, as_str, invalid_format, validate_name

MAX_ASGS_PER_IP_CONFIG = 20  # "ASGs per IP configuration per NIC" in Azure's networking limits (azure.md §0)

ALLOCATION = {"dynamic": "Dynamic", "static": "Static"}
IP_VERSION = {"ipv4": "IPv4", "ipv6": "IPv6"}


@dataclass
class RawIpConfig:
    """One entry of ``properties.ipConfigurations`` after the checks that need no other resource."""

    name: str
    config_id: str
    path: str  # JSON path of its properties object
    subnet_ref: Any
    asg_refs: list[Any]
    private_ip: str | None
    allocation: str
    primary: bool | None
    asg_ids: list[str] = field(default_factory=list)  # canonical, filled in once resolved


def _asg_refs(props: dict[str, Any], config_id: str, path: str) -> list[Any]:
    refs = props.get("applicationSecurityGroups")
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise invalid_format(refs, "System.Collections.Generic.List`1[ApplicationSecurityGroup]", path)
    if len(refs) > MAX_ASGS_PER_IP_CONFIG:
        # Code chosen here, patterned on the verified NumberOfApplicationSecurityGroupsReferencedInSecurityRule...
        raise bad_request(
            "NumberOfApplicationSecurityGroupsReferencedInIpConfigurationLimitReached",
            f"An IP configuration may reference up to {MAX_ASGS_PER_IP_CONFIG} Application Security Groups. "
            f"IP configuration {config_id} references {len(refs)}.",
        )
    return [ref.get("id") if isinstance(ref, dict) else ref for ref in refs]


def parse_ip_config(raw: Any, index: int, nic_id: str) -> RawIpConfig:
    """Shape checks of one IP configuration: name, enums, the presence of a subnet reference."""
    path = f"properties.ipConfigurations[{index}]"
    if not isinstance(raw, dict):
        raise invalid_format(raw, "NetworkInterfaceIPConfiguration", path)
    raw_name = raw.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    validate_name(name)
    config_id = f"{nic_id}/ipConfigurations/{name}"
    props = raw.get("properties") or {}
    if not isinstance(props, dict):
        raise invalid_format(props, "NetworkInterfaceIPConfigurationPropertiesFormat", f"{path}.properties")
    path = f"{path}.properties"
    subnet = props.get("subnet")
    subnet_ref = subnet.get("id") if isinstance(subnet, dict) else None
    if subnet_ref is None:
        # Message as quoted in Azure/azure-cli#1238; the code there was not shown (chosen here).
        raise bad_request("SubnetReferenceRequired", f"Subnet reference is required for ipconfiguration {config_id}.")
    primary = props.get("primary")
    if primary is not None and not isinstance(primary, bool):
        raise invalid_format(primary, "System.Boolean", f"{path}.primary")
    as_enum(props.get("privateIPAddressVersion"), IP_VERSION, "IPVersion", f"{path}.privateIPAddressVersion")
    allocation = as_enum(
        props.get("privateIPAllocationMethod"), ALLOCATION, "IPAllocationMethod", f"{path}.privateIPAllocationMethod"
    )
    return RawIpConfig(
        name=name,
        config_id=config_id,
        path=path,
        subnet_ref=subnet_ref,
        asg_refs=_asg_refs(props, config_id, path),
        private_ip=as_str(props.get("privateIPAddress"), f"{path}.privateIPAddress") or None,
        allocation=allocation or "Dynamic",
        primary=primary,
    )


def parse_ip_configs(raw_list: Any, nic_name: str, nic_id: str) -> list[RawIpConfig]:
    """All IP configurations of a NIC PUT: at least one, unique names, exactly one primary."""
    if raw_list is None:
        raw_list = []
    if not isinstance(raw_list, list):
        raise invalid_format(raw_list, "System.Collections.Generic.List`1[NetworkInterfaceIPConfiguration]",
                             "properties.ipConfigurations")  # fmt: skip
    if not raw_list:
        raise bad_request(  # code chosen here
            "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
            f"Network interface {nic_id} must have at least one IP configuration.",
        )
    configs = [parse_ip_config(raw, i, nic_id) for i, raw in enumerate(raw_list)]
    seen: set[str] = set()
    for config in configs:
        if config.name.lower() in seen:
            raise bad_request("DuplicateResourceName", f"Network interface {nic_name} has two IP configurations "
                                                       f"named {config.name}.")  # fmt: skip
        seen.add(config.name.lower())
    _settle_primary(configs, nic_name)
    return configs


def _settle_primary(configs: list[RawIpConfig], nic_name: str) -> None:
    """A single configuration is primary by default; of several, exactly one must say so."""
    if len(configs) == 1:
        if configs[0].primary is None:
            configs[0].primary = True
        return
    primaries = [c for c in configs if c.primary]
    if len(primaries) != 1:
        # Code and the "none" message as quoted in Azure/azure-sdk-for-go#259 ("OneOne" is Azure's spelling);
        # the "several" message is written here.
        what = "none of the IPConfigurations is" if not primaries else "more than one IPConfiguration is"
        raise bad_request(
            "NetworkInterfaceMustHaveOneOneIPConfigAsPrimary",
            f"Network Interface {nic_name} specifies multiple IPConfigurations but {what} specified as Primary.",
        )


def check_same_subnet(configs: list[IpConfig]) -> None:
    """All IP configurations of one NIC are in one subnet (so in one virtual network)."""
    first = configs[0]
    for other in configs[1:]:
        if other.subnet_id.lower() != first.subnet_id.lower():
            # Message as quoted in Azure/azure-sdk-for-java#1865 (code not shown there; chosen here).
            raise bad_request(
                "IpConfigurationsOnSameNicCannotBelongToDifferentSubnets",
                "IPConfigurations on a Nic cannot belong to different subnets.",
            )


def check_same_asgs(configs: list[IpConfig], config_id: Callable[[IpConfig], str]) -> None:
    """Every IP configuration of a NIC references the same set of ASGs (code and message as quoted in
    Azure/azure-cli#21551, including Azure's "wheras")."""
    first = configs[0]
    wanted = {a.lower() for a in first.asg_ids}
    for other in configs[1:]:
        if {a.lower() for a in other.asg_ids} != wanted:
            raise bad_request(
                "AllIpConfigurationsOnANicMustBelongToTheSameApplicationSecurityGroups",
                "All IPConfigurations on a Network Interface should reference the same set of Application Security "
                f"Groups. IPConfiguration {config_id(first)} references ASG(s) {', '.join(first.asg_ids)}, wheras "
                f"IPConfiguration {config_id(other)} references ASG(s) {', '.join(other.asg_ids)}.",
            )


def asg_in_other_vnet(asg_id: str, config_id: str, vnet_id: str, other_vnet_id: str) -> ArmError:
    """An ASG whose IP configurations are already in another virtual network (code chosen here, message
    patterned on Azure's verified AllApplicationSecurityGroupsInSecurityRuleMustBeFromSameVnet)."""
    return bad_request(
        "ApplicationSecurityGroupIpConfigurationsMustBeInSameVnet",
        f"IP configuration {config_id} is in virtual network {vnet_id}, but Application Security Group {asg_id} "
        f"already has IP configurations from virtual network {other_vnet_id}. All IP configurations of an "
        "Application Security Group must be in the same virtual network.",
    )
