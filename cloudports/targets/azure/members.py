"""Which network interfaces sit in which role's application security group: the spec's `members.azure` against
the NICs of the resource group (the rules are cloud-neutral: live/membership.py).

Azure requires every IP configuration of a NIC to carry the same set of ASGs, and a NIC and the ASGs on it to be in
one region and one virtual network: an ASG is added to (or taken off) every IP configuration at once.
"""

from __future__ import annotations

from typing import Any

from cloudports.live.membership import Regroup, Roles, tags_match
from cloudports.live.membership import regroups as neutral_regroups
from cloudports.targets.azure.model import AzureState, LiveState, Nic
from cloudports.targets.azure.normalise import location_key
from cloudports.targets.azure.settings import AzureMembers


def _vm_ref(vm_id: str | None) -> tuple[str, str] | None:
    """(resource group, name) of a VM ID, lower-cased."""
    if not vm_id:
        return None
    parts = vm_id.lower().split("/")
    return parts[parts.index("resourcegroups") + 1], parts[-1]


def selects(members: AzureMembers, nic: Nic, resource_group: str) -> bool:
    if (nic.resource_group.lower(), nic.name.lower()) in members.refs("network_interfaces", resource_group):
        return True
    if _vm_ref(nic.vm_id) in members.refs("virtual_machines", resource_group):
        return True
    return nic.resource_group.lower() == resource_group.lower() and tags_match(members.tags, nic.tags)


def resource_groups(desired: AzureState, resource_group: str) -> list[str]:
    """The resource groups whose NICs are read: the spec's, and any a named NIC or VM lives in."""
    found = {resource_group.lower(): resource_group}
    for members in desired.members.values():
        for field in ("network_interfaces", "virtual_machines"):
            for item in getattr(members, field):
                rg = getattr(item, "resource_group", None)
                if rg:
                    found.setdefault(rg.lower(), rg)
    return sorted(found.values())


def regroups(desired: AzureState, live: LiveState, resource_group: str, destroying: bool = False) -> list[Regroup[Nic]]:
    # destroy leaves an adopted ASG (cloudports did not create it), and so its place on NICs
    role_of = {a.id.lower(): key for key, a in live.asgs.items() if not (destroying and a.adopt)}
    roles = Roles(
        declared=set(desired.asgs),
        selected=lambda n: {r for r, m in desired.members.items() if selects(m, n, resource_group)},
        managed=set(desired.members),
        where="members.azure",
    )

    nics = sorted(live.state.machines.values(), key=lambda n: n.id.lower())
    return neutral_regroups(nics, lambda n: {role_of[a] for a in n.asg_ids if a in role_of}, roles, destroying)


def unmatched(desired: AzureState, nics: dict[str, Nic], resource_group: str) -> list[str]:
    """Notes for NICs and VMs a role names that were not found."""
    have_nics = {(n.resource_group.lower(), n.name.lower()) for n in nics.values()}
    have_vms = {_vm_ref(n.vm_id) for n in nics.values()}
    notes = []
    for role, members in desired.members.items():
        missing = [
            f"{rg}/{n}" for rg, n in members.refs("network_interfaces", resource_group) if (rg, n) not in have_nics
        ]
        missing += [
            f"{rg}/{n}" for rg, n in members.refs("virtual_machines", resource_group) if (rg, n) not in have_vms
        ]
        if missing:
            notes.append(f"role {role}: members.azure names {', '.join(missing)}, not found; nothing is attached")
    return notes


def region_problems(desired: AzureState, changes: list[Regroup[Nic]]) -> list[str]:
    """NICs in another region than the ASGs they should join (Azure refuses the write)."""
    return [
        f"network interface {c.machine.label} is in {c.machine.location}, the role's application security group "
        f"in {desired.location}; Azure only attaches an ASG to a NIC of the same region"
        for c in changes
        if c.attach and location_key(c.machine.location) != location_key(desired.location)
    ]


def vnet_problems(live: LiveState, changes: list[Regroup[Nic]]) -> list[str]:
    """Roles whose NICs would be in more than one virtual network: Azure ties an ASG to the VNet of its first NIC
    and refuses the others, in whatever order the writes happen to land; refused here, before any write."""
    role_of = {a.id.lower(): key for key, a in live.asgs.items()}
    carriers: dict[str, set[Nic]] = {}
    for nic in live.state.machines.values():
        for asg in nic.asg_ids:
            if asg in role_of:
                carriers.setdefault(role_of[asg], set()).add(nic)
    for change in changes:
        for role in change.detach:
            carriers.get(role, set()).discard(change.machine)
        for role in change.attach:
            carriers.setdefault(role, set()).add(change.machine)
    problems = []
    for role, nics in sorted(carriers.items()):
        vnets = sorted({n.vnet.rsplit("/", 1)[-1] for n in nics if n.vnet})
        if len(vnets) > 1:
            names = ", ".join(sorted(n.name for n in nics))
            problems.append(
                f"role {role.split('@')[0]}: its machines ({names}) are in {len(vnets)} virtual networks "
                f"({', '.join(vnets)}); an application security group holds NICs of one virtual network only"
            )
    return problems


def nic_from(raw: Any, resource_group: str) -> Nic:
    """A networkInterfaces item (SDK model) -> Nic."""
    configs = list(getattr(raw, "ip_configurations", None) or [])
    vm = getattr(getattr(raw, "virtual_machine", None), "id", None)
    return Nic(
        id=str(raw.id),
        name=str(raw.name),
        resource_group=resource_group,
        location=str(raw.location or ""),
        vm_id=str(vm) if vm else None,
        private_ips=tuple(str(c.private_ip_address) for c in configs if getattr(c, "private_ip_address", None)),
        asg_ids=frozenset(str(a.id).lower() for c in configs for a in c.application_security_groups or []),
        tags=tuple(sorted((str(k), str(v)) for k, v in (raw.tags or {}).items())),
        vnet=next((_vnet(c) for c in configs if _vnet(c)), ""),
    )


def _vnet(config: Any) -> str:
    subnet = str(getattr(getattr(config, "subnet", None), "id", None) or "").lower()
    return subnet.split("/subnets/", 1)[0] if "/subnets/" in subnet else ""
