"""Network interfaces: list, get, PUT (long-running; IP configurations with subnet, private IP and ASGs),
PATCH (tags), DELETE (refused while a virtual machine uses the NIC).

The checks of the IP configurations themselves are in nic_validation.py, the address rules in ip_addresses.py.
A NIC's ``virtualMachine`` is read-only here as in Azure: only a virtual machine PUT (vms.py) sets it.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from .errors import bad_request
from .ip_addresses import Used, allocate, check_static
from .model import IPCONFIG_TYPE, NIC_TYPE, Asg, IpConfig, Nic, Nsg, Request, Response, Subnet, key_of
from .nic_validation import (
    RawIpConfig,
    asg_in_other_vnet,
    check_same_asgs,
    check_same_subnet,
    parse_ip_configs,
)
from .resources import Handlers, read_properties, render_top_level
from .rule_validation import rule_asg_ids
from .store import in_group
from .validation import invalid_format


def new_mac() -> str:
    """A MAC address in Azure's notation (upper-case hex pairs joined by '-', Microsoft's 00-0D-3A prefix)."""
    tail = uuid.uuid4().hex[:6].upper()
    return "-".join(["00", "0D", "3A", tail[0:2], tail[2:4], tail[4:6]])


def render_ip_config(nic: Nic, config: IpConfig) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": config.state,
        "privateIPAddress": config.private_ip,
        "privateIPAllocationMethod": config.allocation,
        "subnet": {"id": config.subnet_id},
        "primary": config.primary,
        "privateIPAddressVersion": config.version,
    }
    if config.asg_ids:  # as for security rules: the list only when there is something in it
        props["applicationSecurityGroups"] = [{"id": a} for a in config.asg_ids]
    return {
        "name": config.name,
        "id": nic.ip_config_id(config),
        "etag": nic.etag,  # IP configurations share their NIC's etag, as rules share their NSG's
        "type": IPCONFIG_TYPE,
        "properties": props,
    }


def render_nic(nic: Nic) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": nic.state,
        "resourceGuid": nic.guid,
        "ipConfigurations": [render_ip_config(nic, c) for c in nic.ip_configs.values()],
        "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
        "enableAcceleratedNetworking": nic.accelerated,
        "enableIPForwarding": nic.ip_forwarding,
        "disableTcpStateTracking": False,
        "hostedWorkloads": [],
        "tapConfigurations": [],
        "nicType": "Standard",
        "vnetEncryptionSupported": False,
        "auxiliaryMode": "None",
    }
    if nic.nsg_id:
        props["networkSecurityGroup"] = {"id": nic.nsg_id}
    if nic.vm_id:  # Azure shows a MAC address and the primary flag once a VM uses the NIC
        props["virtualMachine"] = {"id": nic.vm_id}
        props["macAddress"] = nic.mac
        props["primary"] = nic.vm_primary
    return render_top_level(nic, NIC_TYPE, props)


def _flag(props: dict[str, Any], name: str) -> bool:
    value = props.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_format(value, "System.Boolean", f"properties.{name}")
    return value


class NicHandlers(Handlers):
    routes = ("nic_list_sub", "nic_list", "nic")

    def nic_list_sub_get(self, req: Request, sub: str) -> Response:
        return self.page(req, [render_nic(n) for n in in_group(self.store.nics, sub)])

    def nic_list_get(self, req: Request, sub: str, rg: str) -> Response:
        return self.page(req, [render_nic(n) for n in in_group(self.store.nics, sub, rg)])

    def nic_get(self, req: Request, sub: str, rg: str, nic: str) -> Response:
        return 200, {}, render_nic(self.store.get(self.store.nics, NIC_TYPE, sub, rg, nic))

    def nic_patch(self, req: Request, sub: str, rg: str, nic: str) -> Response:
        target = self.patch_tags(req, lambda: self.store.get(self.store.nics, NIC_TYPE, sub, rg, nic))
        return 200, {}, render_nic(target)

    def nic_put(self, req: Request, sub: str, rg: str, nic: str) -> Response:
        start, existing = self.begin_put(req, self.store.nics, sub, rg, nic)
        props = read_properties(start.body, "network interface")
        target = existing or Nic(sub, rg, nic, start.location, start.tags, mac=new_mac())
        raws = parse_ip_configs(props.get("ipConfigurations"), target.name, target.id)
        pairs = [self._resolve(raw, target) for raw in raws]
        configs = [config for config, _ in pairs]
        check_same_subnet(configs)
        check_same_asgs(configs, target.ip_config_id)
        self._check_asg_vnets(configs, target)
        self._check_rules(configs, target)
        nsg_id = self._nsg_ref(props.get("networkSecurityGroup"), target)
        accelerated, forwarding = _flag(props, "enableAcceleratedNetworking"), _flag(props, "enableIPForwarding")
        self._assign_addresses(raws, pairs, target)  # last: address errors only for an otherwise valid request
        target.ip_configs = {c.name.lower(): c for c in configs}
        target.nsg_id, target.accelerated, target.ip_forwarding = nsg_id, accelerated, forwarding
        status, headers = self.end_put(
            req, self.store.nics, start, target, existed=existing is not None, targets=configs
        )
        return status, headers, render_nic(target)

    def _resolve(self, raw: RawIpConfig, target: Nic) -> tuple[IpConfig, Subnet]:
        """The subnet and ASGs an IP configuration references: they must exist, in the NIC's region."""
        net, subnet = self.store.resolve_subnet(
            raw.subnet_ref, path=f"{raw.path}.subnet.id", location=target.location, referrer=target.id
        )
        asg_ids: list[str] = []
        for i, ref in enumerate(raw.asg_refs):
            asg = self.store.resolve(
                self.store.asgs, Asg, ref, shown="" if ref is None else f"{ref}",
                path=f"{raw.path}.applicationSecurityGroups[{i}].id", location=target.location,
                referrer=raw.config_id,
            )  # fmt: skip
            if asg.id.lower() not in {a.lower() for a in asg_ids}:
                asg_ids.append(asg.id)
        config = IpConfig(
            raw.name, net.subnet_id(subnet), net.id, "", raw.allocation, bool(raw.primary), asg_ids, state="Updating"
        )
        return config, subnet

    def _check_asg_vnets(self, configs: list[IpConfig], target: Nic) -> None:
        """Every IP configuration of an ASG is in one virtual network (this NIC's old configurations aside)."""
        for config in configs:
            for asg_id in config.asg_ids:
                for nic, other in self.store.ip_configs_using(asg_id=asg_id):
                    if nic is not target and other.vnet_id.lower() != config.vnet_id.lower():
                        raise asg_in_other_vnet(asg_id, target.ip_config_id(config), config.vnet_id, other.vnet_id)

    def _check_rules(self, configs: list[IpConfig], target: Nic) -> None:
        """Joining ASGs must not leave a security rule with ASGs in two virtual networks. Azure's documented
        constraint; the code Azure gives on this (NIC) side is not known, so the rule-side code is used."""
        mine = {a.lower() for c in configs for a in c.asg_ids}
        for nsg in self.store.nsgs.values():
            for rule in nsg.rules.values():
                ids = rule_asg_ids(rule.props)
                if mine & {a.lower() for a in ids}:
                    rule_id = f"{nsg.id}/securityRules/{rule.name}"
                    self.store.check_rule_asg_vnets(rule_id, ids, skip=target, extra_vnet=configs[0].vnet_id)

    def _nsg_ref(self, ref: Any, target: Nic) -> str | None:
        if ref is None:
            return None
        ref_id = ref.get("id") if isinstance(ref, dict) else None
        nsg = self.store.resolve(
            self.store.nsgs, Nsg, ref_id, shown=f"{ref_id or ''}", path="properties.networkSecurityGroup.id",
            location=target.location, referrer=target.id,
        )  # fmt: skip
        self.ops.ensure_unlocked(nsg.id)  # as for a subnet: no association while the NSG is being written
        return nsg.id

    def _assign_addresses(self, raws: list[RawIpConfig], pairs: list[tuple[IpConfig, Subnet]], target: Nic) -> None:
        """Requested addresses first, then the addresses the configurations already had, then new ones."""
        subnet_id = pairs[0][0].subnet_id  # check_same_subnet: one subnet for all
        used: Used = {
            ipaddress.ip_address(other.private_ip): nic.ip_config_id(other)
            for nic, other in self.store.ip_configs_using(subnet_id=subnet_id)
            if nic is not target
        }
        todo: list[tuple[IpConfig, Subnet]] = []
        for raw, (config, subnet) in zip(raws, pairs, strict=True):
            if raw.private_ip:
                address = check_static(raw.private_ip, subnet.prefix, used, target.ip_config_id(config))
                config.private_ip, used[address] = str(address), target.ip_config_id(config)
            else:
                todo.append((config, subnet))
        fresh: list[tuple[IpConfig, Subnet]] = []
        for config, subnet in todo:
            # A configuration the PUT repeats without its address keeps the one it has (as Azure's dynamic
            # allocation does), unless it moved to another subnet or a requested address took it.
            old = target.ip_configs.get(config.name.lower())
            kept = ipaddress.ip_address(old.private_ip) if old is not None else None
            if old is not None and kept is not None and old.subnet_id.lower() == subnet_id.lower() and kept not in used:
                config.private_ip, used[kept] = old.private_ip, target.ip_config_id(config)
            else:
                fresh.append((config, subnet))
        for config, subnet in fresh:
            address = allocate(subnet.prefix, config.subnet_id, used)
            config.private_ip, used[address] = str(address), target.ip_config_id(config)

    def _refuse_if_attached(self, target: Nic) -> None:
        if target.vm_id:
            # Code and message as quoted in hashicorp/terraform-provider-azurerm#8105 and pulumi/pulumi-azure#441.
            raise bad_request(
                "NicInUse",
                f"Network Interface {target.id} is used by existing resource {target.vm_id}. In order to delete the "
                "network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
            )

    def nic_delete(self, req: Request, sub: str, rg: str, nic: str) -> Response:
        return self.delete(req, sub, self.store.nics, key_of(sub, rg, nic), in_use=self._refuse_if_attached)
