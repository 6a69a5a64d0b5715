"""A hand-made Azure lab on the local Resource Manager, as people build one: ASGs named web-asg, app-asg and db-asg
with a NIC each, one NSG (shop-nsg) on the subnet, rules named by hand, a deny above the allows and the VNet
closed by a deny of its own. Used by README.md and docs/import.md.

    python docs/labs/azure_shop_lab.py          # build it (CLOUDPORTS_ARM_ENDPOINT, AZURE_SUBSCRIPTION_ID)
    python docs/labs/azure_shop_lab.py --show   # each NIC's ASGs and the NSG of its subnet, by resource ID
"""

from __future__ import annotations

import os
import sys

from azure.mgmt.network.models import (
    AddressSpace,
    NetworkInterface,
    NetworkInterfaceIPConfiguration,
    SecurityRule,
    Subnet,
    VirtualNetwork,
)
from azure.mgmt.network.models import ApplicationSecurityGroup as Asg
from azure.mgmt.network.models import NetworkSecurityGroup as Nsg

from cloudports.emulators.arm.client import make_network_client  # azure-mgmt-network's client, over plain http

RG, LOC = "rg-shop", "westeurope"
net = make_network_client(os.environ["CLOUDPORTS_ARM_ENDPOINT"], os.environ["AZURE_SUBSCRIPTION_ID"])


def build() -> None:
    nsg = net.network_security_groups.begin_create_or_update(RG, "shop-nsg", Nsg(location=LOC)).result()
    servers = Subnet(name="servers", address_prefix="10.7.1.0/24", network_security_group=Nsg(id=nsg.id))
    vnet = VirtualNetwork(location=LOC, address_space=AddressSpace(address_prefixes=["10.7.0.0/16"]), subnets=[servers])
    subnet = net.virtual_networks.begin_create_or_update(RG, "vnet-shop", vnet).result().subnets[0].id
    asg = {}
    for role in ("web", "app", "db"):  # one machine in each ASG
        asg[role] = [
            Asg(
                id=net.application_security_groups.begin_create_or_update(RG, f"{role}-asg", Asg(location=LOC))
                .result()
                .id
            )
        ]
        ip = NetworkInterfaceIPConfiguration(
            name="ipconfig1", subnet=Subnet(id=subnet), application_security_groups=asg[role]
        )
        net.network_interfaces.begin_create_or_update(
            RG, f"nic-{role}", NetworkInterface(location=LOC, ip_configurations=[ip])
        ).result()

    def rule(name: str, priority: int, access: str = "Allow", protocol: str = "Tcp", **sides: object) -> None:
        body = SecurityRule(
            priority=priority, direction="Inbound", access=access, protocol=protocol, source_port_range="*", **sides
        )
        net.security_rules.begin_create_or_update(RG, "shop-nsg", name, body).result()

    rule(
        "no-telnet", 100, "Deny", destination_port_range="23", source_address_prefix="*", destination_address_prefix="*"
    )
    rule("internet-https", 110, destination_port_range="443", source_address_prefix="Internet",
         destination_application_security_groups=asg["web"])  # fmt: skip
    rule("web-to-app", 120, destination_port_range="8081", source_application_security_groups=asg["web"],
         destination_application_security_groups=asg["app"], description="web calls the app")  # fmt: skip
    rule("app-to-db", 130, destination_port_range="5432", source_application_security_groups=asg["app"],
         destination_application_security_groups=asg["db"], description="app uses the database")  # fmt: skip
    rule("vnet-closed", 4000, "Deny", "*", destination_port_range="*", source_address_prefix="VirtualNetwork",
         destination_address_prefix="VirtualNetwork")  # fmt: skip


def show() -> None:
    subnets = {str(s.id).lower(): s for v in net.virtual_networks.list(RG) for s in v.subnets or []}
    for nic in sorted(net.network_interfaces.list(RG), key=lambda n: n.name):
        config = nic.ip_configurations[0]
        asgs = ", ".join(str(a.id).rsplit("/", 1)[1] + f" ({a.id})" for a in config.application_security_groups or [])
        nsg = subnets[str(config.subnet.id).lower()].network_security_group.id
        print(f"{nic.name}: in {asgs}; behind {nsg}")


if __name__ == "__main__":
    show() if sys.argv[1:] == ["--show"] else build()
