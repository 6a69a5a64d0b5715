"""Virtual networks and subnets: enough of them to associate NSGs with subnets (prefixes and the NSG link only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import ArmError, bad_request
from .model import SUBNET_TYPE, VNET_TYPE, Nsg, Request, Response, Subnet, Vnet, key_of, new_etag
from .resources import Handlers, read_properties, render_top_level
from .store import check_preconditions, get_child, in_group
from .validation import parse_ip_prefix, validate_name


def render_subnet(net: Vnet, subnet: Subnet) -> dict[str, Any]:
    props: dict[str, Any] = {"provisioningState": subnet.state, "addressPrefix": subnet.prefix}
    if subnet.nsg_id:
        props["networkSecurityGroup"] = {"id": subnet.nsg_id}
    return {
        "name": subnet.name,
        "id": net.subnet_id(subnet),
        "etag": net.etag,  # a virtual network and its subnets share one etag
        "type": SUBNET_TYPE,
        "properties": props,
    }


def render_vnet(net: Vnet) -> dict[str, Any]:
    props = {
        "provisioningState": net.state,
        "resourceGuid": net.guid,
        "addressSpace": {"addressPrefixes": list(net.address_prefixes)},
        "subnets": [render_subnet(net, s) for s in net.subnets.values()],
    }
    return render_top_level(net, VNET_TYPE, props)


def _subnet_prefix(net: Vnet, name: str, props: dict[str, Any], others: Iterable[Subnet]) -> str:
    """The subnet's address prefix: well-formed, inside the virtual network, overlapping no other subnet."""
    prefix = props.get("addressPrefix")
    if not prefix and isinstance(props.get("addressPrefixes"), list) and props["addressPrefixes"]:
        prefix = props["addressPrefixes"][0]
    if not prefix or not isinstance(prefix, str):
        raise bad_request("InvalidRequestFormat", f"Subnet {name} must specify addressPrefix or addressPrefixes.")
    sub_net = parse_ip_prefix(prefix) if "/" in prefix else None
    if sub_net is None:
        raise bad_request("NetcfgInvalidSubnet", f"Subnet '{name}' is not valid in virtual network '{net.name}'.")
    spaces = [n for p in net.address_prefixes if (n := parse_ip_prefix(p)) is not None]
    if not any(n.version == sub_net.version and sub_net.subnet_of(n) for n in spaces):  # type: ignore[arg-type]
        raise bad_request(
            "NetcfgSubnetRangeOutsideVnet",
            f"Subnet '{name}' is not valid because its IP address range is outside the IP address range of "
            f"virtual network '{net.name}'.",
        )
    for other in others:
        other_net = parse_ip_prefix(other.prefix)
        if other_net is not None and other_net.version == sub_net.version and other_net.overlaps(sub_net):
            raise bad_request(
                "NetcfgSubnetRangesOverlap",
                f"Subnet '{name}' is not valid in virtual network '{net.name}': its address range {prefix} "
                f"overlaps with subnet '{other.name}' ({other.prefix}).",
            )
    return prefix


def subnet_in_use(name: str, users: list[str]) -> ArmError:
    """A subnet that NICs' IP configurations are in cannot go (code from general knowledge: its beginning is seen
    in actions/runner-images#7691; message approximate)."""
    return bad_request(
        "InUseSubnetCannotBeDeleted",
        f"Subnet {name} is in use by {', '.join(users)} and cannot be deleted. In order to delete the subnet, "
        "delete all the resources within the subnet. See aka.ms/deletesubnet.",
    )


class VnetHandlers(Handlers):
    routes = ("vnet_list", "vnet", "subnet_list", "subnet")

    def _vnet(self, sub: str, rg: str, name: str) -> Vnet:
        return self.store.get(self.store.vnets, VNET_TYPE, sub, rg, name)

    def _build_subnet(
        self, net: Vnet, name: str, props: Any, others: Iterable[Subnet], path: str
    ) -> tuple[str, str | None]:
        """Validate a subnet's properties; return (address prefix, canonical NSG id or None)."""
        validate_name(name)
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise bad_request("InvalidRequestContent", f"{path} must be a JSON object.")
        prefix = _subnet_prefix(net, name, props, others)
        ref = props.get("networkSecurityGroup")
        if ref is None:
            return prefix, None
        ref_id = ref.get("id") if isinstance(ref, dict) else None
        nsg = self.store.resolve(
            self.store.nsgs,
            Nsg,
            ref_id,
            shown=f"{ref_id or ''}",
            path=f"{path}.networkSecurityGroup.id",
            location=net.location,
            referrer=f"{net.id}/subnets/{name}",
        )
        self.ops.ensure_unlocked(nsg.id)  # a subnet PUT may not change an NSG that is being written
        return prefix, nsg.id

    def vnet_list_get(self, req: Request, sub: str, rg: str) -> Response:
        return self.page(req, [render_vnet(v) for v in in_group(self.store.vnets, sub, rg)])

    def vnet_get(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        return 200, {}, render_vnet(self._vnet(sub, rg, vnet))

    @staticmethod
    def _address_space(props: dict[str, Any], vnet: str) -> list[str]:
        space = props.get("addressSpace") or {}
        prefixes = space.get("addressPrefixes") if isinstance(space, dict) else None
        if not isinstance(prefixes, list) or not prefixes:
            raise bad_request(
                "InvalidRequestFormat", f"Virtual network {vnet} must specify addressSpace.addressPrefixes."
            )
        for p in prefixes:
            if not isinstance(p, str) or "/" not in p or parse_ip_prefix(p) is None:
                raise bad_request(
                    "InvalidAddressPrefixFormat", f"Address prefix {p} of virtual network {vnet} is invalid."
                )
        return list(prefixes)

    def _inline_subnets(self, candidate: Vnet, raw_subnets: Any, vnet: str) -> dict[str, Subnet]:
        """The subnets of a virtual network PUT (they replace the existing set), validated in order."""
        if not isinstance(raw_subnets, list):
            raise bad_request("InvalidRequestContent", "properties.subnets must be a JSON array.")
        built: dict[str, Subnet] = {}
        for i, raw in enumerate(raw_subnets):
            if not isinstance(raw, dict):
                raise bad_request("InvalidRequestContent", f"properties.subnets[{i}] must be a JSON object.")
            raw_name = raw.get("name")
            name = raw_name if isinstance(raw_name, str) else ""
            prefix, nsg_id = self._build_subnet(
                candidate, name, raw.get("properties"), built.values(), f"properties.subnets[{i}].properties"
            )
            if name.lower() in built:
                raise bad_request("DuplicateResourceName", f"Virtual network {vnet} has two subnets named {name}.")
            built[name.lower()] = Subnet(name, prefix, nsg_id, "Updating")
        return built

    def vnet_put(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        start, existing = self.begin_put(req, self.store.vnets, sub, rg, vnet)
        props = read_properties(start.body, "virtual network")
        prefixes = self._address_space(props, vnet)
        name = existing.name if existing else vnet
        candidate = Vnet(sub, rg, name, start.location, start.tags, list(prefixes))
        built = self._inline_subnets(candidate, props.get("subnets") or [], vnet)
        if existing is not None:
            self._refuse_dropping_used(existing, built)
        target = existing or candidate
        target.address_prefixes = list(prefixes)
        target.subnets = built
        status, headers = self.end_put(
            req, self.store.vnets, start, target, existed=existing is not None, targets=list(built.values())
        )
        return status, headers, render_vnet(target)

    def _refuse_dropping_used(self, net: Vnet, keep: dict[str, Subnet]) -> None:
        """A virtual network PUT or DELETE may not remove a subnet that NICs are in."""
        for key, subnet in net.subnets.items():
            users = [n.ip_config_id(c) for n, c in self.store.ip_configs_using(subnet_id=net.subnet_id(subnet))]
            if key not in keep and users:
                raise subnet_in_use(subnet.name, users)

    def vnet_delete(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        return self.delete(
            req, sub, self.store.vnets, key_of(sub, rg, vnet), check_etag=False,
            in_use=lambda net: self._refuse_dropping_used(net, {}),
        )  # fmt: skip

    def subnet_list_get(self, req: Request, sub: str, rg: str, vnet: str) -> Response:
        net = self._vnet(sub, rg, vnet)
        return self.page(req, [render_subnet(net, s) for s in net.subnets.values()])

    def subnet_get(self, req: Request, sub: str, rg: str, vnet: str, subnet: str) -> Response:
        net = self._vnet(sub, rg, vnet)
        return 200, {}, render_subnet(net, get_child(net.subnets, subnet, net.id, "subnets"))

    def subnet_put(self, req: Request, sub: str, rg: str, vnet: str, subnet: str) -> Response:
        body = req.json_object()
        net = self._vnet(sub, rg, vnet)
        existing = net.subnets.get(subnet.lower())
        check_preconditions(req, net.etag if existing else None)
        self.ops.ensure_unlocked(net.id)
        others = [s for k, s in net.subnets.items() if k != subnet.lower()]
        prefix, nsg_id = self._build_subnet(net, subnet, read_properties(body, "subnet"), others, "properties")
        entry = Subnet(existing.name if existing else subnet, prefix, nsg_id, "Updating")
        if existing is not None:  # replaced in place: the subnet keeps its position
            net.subnets = {k: (entry if k == subnet.lower() else s) for k, s in net.subnets.items()}
        else:
            net.subnets[subnet.lower()] = entry
        net.etag = new_etag()
        headers = self.ops.start(req, sub, net.location, lock=net.id, targets=[entry])
        return (200 if existing else 201), headers, render_subnet(net, entry)

    def subnet_delete(self, req: Request, sub: str, rg: str, vnet: str, subnet: str) -> Response:
        net = self.store.vnets.get(key_of(sub, rg, vnet))
        existing = net.subnets.get(subnet.lower()) if net else None
        if net is None or existing is None:
            return 204, {}, None
        self.ops.ensure_unlocked(net.id)
        self._refuse_dropping_used(net, {k: s for k, s in net.subnets.items() if s is not existing})
        existing.state = "Deleting"

        def remove() -> None:
            if net.subnets.get(subnet.lower()) is existing:
                del net.subnets[subnet.lower()]
                net.etag = new_etag()

        headers = self.ops.start(
            req, sub, net.location, lock=net.id, targets=[existing], on_success=remove, delete=True
        )
        return 202, headers, None
