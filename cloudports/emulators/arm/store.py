"""The in-memory resource store: NSGs, ASGs, virtual networks, network interfaces and virtual machines by key,
reference resolution, etag checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ArmError, bad_request
from .model import NS, Asg, IpConfig, Key, Nic, Nsg, Request, Subnet, TopLevel, Vm, Vnet, key_of, new_etag
from .validation import canonical_location, parse_ip_prefix, parse_resource_id

R = TypeVar("R", bound=TopLevel)
C = TypeVar("C")


def not_found(type_name: str, name: str, rg: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_name}/{name}' under resource group '{rg}' was not found. For more details "
        "please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def check_preconditions(req: Request, current_etag: str | None) -> None:
    """If-Match / If-None-Match against the resource's current etag (None: the resource does not exist)."""
    if_match = req.headers.get("If-Match")
    if_none = req.headers.get("If-None-Match")
    if (if_match is not None and (current_etag is None or (if_match.strip() != "*" and if_match != current_etag))) or (
        if_none is not None and current_etag is not None and (if_none.strip() == "*" or if_none == current_etag)
    ):
        raise ArmError(
            412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met."
        )


def linked_invalid_id(shown: str, path: str) -> ArmError:
    """A reference that is not a fully qualified resource id (message as quoted in ernestio/ernest#476)."""
    return bad_request(
        "LinkedInvalidPropertyId",
        f"Property id '{shown}' at path '{path}' is invalid. Expect fully "
        "qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
        "'/providers/{resourceProviderNamespace}/'.",
    )


def invalid_reference(ref_id: Any, referrer: str) -> ArmError:
    """A reference to a missing resource or one in another region (message as quoted in MicrosoftDocs/azure-docs#81734
    for a NIC's subnet)."""
    return bad_request(
        "InvalidResourceReference",
        f"Resource {ref_id} referenced by resource {referrer} was not found. Please make sure that the "
        "referenced resource exists, and that both resources are in the same region.",
    )


def get_child(children: dict[str, C], name: str, parent_id: str, segment: str) -> C:
    """A child resource (security rule, subnet) by name, case-insensitively; 404 NotFound if absent."""
    found = children.get(name.lower())
    if found is None:
        raise ArmError(404, "NotFound", f"Resource {parent_id}/{segment}/{name} not found.")
    return found


def in_group(table: dict[Key, R], sub: str, rg: str | None = None) -> list[R]:
    """The resources of a subscription, or of one of its resource groups, in creation order."""
    return [r for r in table.values() if r.sub.lower() == sub.lower() and (rg is None or r.rg.lower() == rg.lower())]


class Store:
    """Every resource the server knows, keyed by (subscription, resource group, name) in lower case."""

    def __init__(self) -> None:
        self.nsgs: dict[Key, Nsg] = {}
        self.asgs: dict[Key, Asg] = {}
        self.vnets: dict[Key, Vnet] = {}
        self.nics: dict[Key, Nic] = {}
        self.vms: dict[Key, Vm] = {}

    def clear(self) -> None:
        self.nsgs.clear()
        self.asgs.clear()
        self.vnets.clear()
        self.nics.clear()
        self.vms.clear()

    @staticmethod
    def get(table: dict[Key, R], type_name: str, sub: str, rg: str, name: str) -> R:
        found = table.get(key_of(sub, rg, name))
        if found is None:
            raise not_found(type_name, name, rg)
        return found

    def nsg_subnets(self, nsg: Nsg) -> list[str]:
        """Ids of the subnets associated with an NSG."""
        wanted = nsg.id.lower()
        return [
            net.subnet_id(s)
            for net in self.vnets.values()
            for s in net.subnets.values()
            if s.nsg_id is not None and s.nsg_id.lower() == wanted
        ]

    def nsg_nics(self, nsg: Nsg) -> list[str]:
        """Ids of the network interfaces associated with an NSG."""
        wanted = nsg.id.lower()
        return [nic.id for nic in self.nics.values() if nic.nsg_id is not None and nic.nsg_id.lower() == wanted]

    def ip_configs_using(
        self, *, asg_id: str | None = None, subnet_id: str | None = None
    ) -> list[tuple[Nic, IpConfig]]:
        """The IP configurations (with their NIC) that reference an ASG or sit in a subnet (ids compared
        case-insensitively)."""
        asg = asg_id.lower() if asg_id else None
        subnet = subnet_id.lower() if subnet_id else None
        return [
            (nic, config)
            for nic in self.nics.values()
            for config in nic.ip_configs.values()
            if (asg is None or asg in {a.lower() for a in config.asg_ids})
            and (subnet is None or config.subnet_id.lower() == subnet)
        ]

    def check_rule_asg_vnets(
        self, rule_id: str, asg_ids: list[str], *, skip: Nic | None = None, extra_vnet: str | None = None
    ) -> None:
        """All ASGs of one security rule have their IP configurations in one virtual network (Azure's code and
        message as quoted in Azure/azure-sdk-for-java#34158).

        ``skip`` and ``extra_vnet`` describe a NIC write under way: its current configurations do not count,
        the virtual network it is moving its configurations to does.
        """
        vnets: dict[str, str] = {}
        for asg_id in asg_ids:
            for nic, config in self.ip_configs_using(asg_id=asg_id):
                if nic is not skip:
                    vnets.setdefault(config.vnet_id.lower(), config.vnet_id)
        if extra_vnet is not None:
            vnets.setdefault(extra_vnet.lower(), extra_vnet)
        if len(vnets) > 1:
            raise bad_request(
                "AllApplicationSecurityGroupsInSecurityRuleMustBeFromSameVnet",
                f"Security Rule {rule_id} has Application Security Groups (ASGs) from multiple virtual networks "
                f"({', '.join(vnets.values())}). All ASGs on the Security Rule must be from the same virtual network.",
            )

    def resolve_subnet(self, ref_id: Any, *, path: str, location: str, referrer: str) -> tuple[Vnet, Subnet]:
        """The subnet a ``{"id": ...}`` reference names; it must exist and its virtual network be in ``location``."""
        parsed = parse_resource_id(ref_id)
        if parsed is None:
            raise linked_invalid_id("" if ref_id is None else f"{ref_id}", path)
        net = None
        if (
            parsed["ns"].lower() == NS.lower()
            and parsed["type"].lower() == "virtualnetworks"
            and (parsed["ctype"] or "").lower() == "subnets"
        ):
            net = self.vnets.get(key_of(parsed["sub"], parsed["rg"], parsed["name"]))
        subnet = net.subnets.get(parsed["cname"].lower()) if net is not None else None
        if net is None or subnet is None or net.location != location:
            raise invalid_reference(ref_id, referrer)
        return net, subnet

    @staticmethod
    def resolve(
        table: dict[Key, R], kind: type[R], ref_id: Any, *, shown: str, path: str, location: str, referrer: str
    ) -> R:
        """The resource a ``{"id": ...}`` reference names, which must exist in ``table`` and in ``location``.

        ``shown`` is how the id is quoted when it is not a resource id at all.
        """
        parsed = parse_resource_id(ref_id)
        if parsed is None:
            raise linked_invalid_id(shown, path)
        found = None
        same_type = parsed["ns"].lower() == NS.lower() and parsed["type"].lower() == kind.segment.lower()
        if same_type and not parsed["ctype"]:
            found = table.get(key_of(parsed["sub"], parsed["rg"], parsed["name"]))
        if found is None or found.location != location:
            raise invalid_reference(ref_id, referrer)
        return found

    def asg_resolver(self, *, location: str, referrer: str) -> Callable[[Any, str], str]:
        """``resolve_asg(id, path)`` for the validation of rule ``referrer`` in ``location``: the ASG's canonical id."""

        def resolve_asg(ref_id: Any, path: str) -> str:
            shown = "" if ref_id is None else f"{ref_id}"
            return self.resolve(self.asgs, Asg, ref_id, shown=shown, path=path, location=location, referrer=referrer).id

        return resolve_asg

    def add_vnet(self, subscription: str, resource_group: str, vnet: str, address_prefixes: Any, location: str) -> Vnet:
        """Create (or extend) a virtual network directly."""
        key = key_of(subscription, resource_group, vnet)
        net = self.vnets.get(key)
        if net is None:
            net = Vnet(subscription, resource_group, vnet, canonical_location(location), {}, [])
            self.vnets[key] = net
        for prefix in address_prefixes:
            if prefix not in net.address_prefixes:
                net.address_prefixes.append(prefix)
        return net

    def add_subnet(
        self,
        subscription: str,
        resource_group: str,
        vnet: str,
        subnet: str,
        prefix: str,
        location: str,
        nsg_id: str | None,
    ) -> str:
        """Create a subnet directly, the virtual network too if missing, its address space widened to hold it."""
        net = self.add_vnet(subscription, resource_group, vnet, (), location)
        sub_net = parse_ip_prefix(prefix)
        if sub_net is not None and not any(
            (n := parse_ip_prefix(p)) is not None and n.version == sub_net.version and sub_net.subnet_of(n)  # type: ignore[arg-type]
            for p in net.address_prefixes
        ):
            wide = sub_net.supernet(new_prefix=min(sub_net.prefixlen, 16 if sub_net.version == 4 else 48))
            net.address_prefixes.append(str(wide))
        entry = Subnet(subnet, prefix, nsg_id)
        net.subnets[subnet.lower()] = entry
        net.etag = new_etag()
        return net.subnet_id(entry)
