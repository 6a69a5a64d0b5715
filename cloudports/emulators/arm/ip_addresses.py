"""Private IP addresses of network interfaces: static ones checked, dynamic ones assigned from the subnet.

Azure reserves the first four addresses of every subnet (network address, default gateway, two for DNS) and,
for IPv4, the last one (broadcast); dynamic assignment takes the lowest free address after those. Error codes:
``PrivateIPAddressInUse`` and ``PrivateIPAddressInReservedRange`` are seen in Azure output
(cloudfoundry/bosh-azure-cpi-release#121, hashicorp/terraform-provider-azurerm#4225); see README.md for the rest.
"""

from __future__ import annotations

import ipaddress

from .errors import ArmError, bad_request
from .validation import parse_ip_prefix

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Used = dict[IpAddress, str]  # address -> id of the IP configuration holding it

RESERVED_AT_START = 4


def subnet_network(prefix: str) -> IpNetwork:
    network = parse_ip_prefix(prefix)
    if network is None:  # subnets are validated when written; a seeded one may still be odd
        raise bad_request("NetcfgInvalidSubnet", f"Subnet prefix {prefix} is not valid.")
    return network


def _is_reserved(network: IpNetwork, address: IpAddress) -> bool:
    offset = int(address) - int(network.network_address)
    last = network.version == 4 and address == network.broadcast_address
    return offset < RESERVED_AT_START or last


def check_static(text: str, prefix: str, used: Used, config_id: str) -> IpAddress:
    """A requested address: well-formed, inside the subnet, not reserved, not held by another configuration."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise bad_request(
            "InvalidPrivateIPAddress",  # chosen here: Azure's code for a malformed address is not known
            f"Private IP address {text} of IP configuration {config_id} is not a valid IP address.",
        ) from None
    network = subnet_network(prefix)
    if address.version != network.version or address not in network:
        raise bad_request(
            "PrivateIPAddressNotInSubnet",
            f"Private static IP address {text} does not belong to the range of subnet prefix {prefix}.",
        )
    if _is_reserved(network, address):
        raise bad_request(
            "PrivateIPAddressInReservedRange",
            f"Private static IP address {text} falls within reserved IP range of subnet prefix {prefix}.",
        )
    holder = used.get(address)
    if holder is not None:
        raise bad_request(
            "PrivateIPAddressInUse",
            f"IP configuration {config_id} is using the same private IP address {text} as IP configuration {holder}.",
        )
    return address


def allocate(prefix: str, subnet_id: str, used: Used) -> IpAddress:
    """The lowest free, unreserved address of the subnet."""
    network = subnet_network(prefix)
    first = int(network.network_address) + RESERVED_AT_START
    last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
    for value in range(first, last + 1):
        address = ipaddress.ip_address(value)
        if address not in used:
            return address
    raise ArmError(
        400,
        "SubnetIsFull",
        f"Subnet {subnet_id} with address prefix {prefix} does not have enough capacity for 1 IP addresses.",
    )
