"""The roles' NICs named in the spec (members.azure) -> Terraform ASG associations, in members.tf.

Selectors by tag, and virtual machines (whose NICs are only known once read), are a live-path feature
(`cloudports apply` and `drift` read the resource group each time). Each association is keyed
"<role>/<resource group>/<NIC name>", so adding a NIC never replaces another's association.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudports.emit.hcl import block
from cloudports.targets.azure.model import AzureState
from cloudports.targets.azure.settings import AzureMembers

FILE = "members.tf"

_RESOURCES = """
resource "azurerm_network_interface_application_security_group_association" "member" {{
  for_each = local.member_nics
  network_interface_id = format(
    "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkInterfaces/%s",
    data.azurerm_client_config.current.subscription_id,
    coalesce(each.value.resource_group, var.resource_group_name),
    each.value.name,
  )
  application_security_group_id = {asg}
}}
"""
# Where the ASGs are: inside the module (one NSG), or beside the NSG modules, which all share them.
_ASG_ID = {
    False: "module.nsg.application_security_group_ids[each.value.role]",
    True: "azurerm_application_security_group.this[each.value.role].id",
}


def chosen_live(members: Mapping[str, AzureMembers]) -> dict[str, str]:
    """Role -> how its NICs are chosen, for the roles members.tf cannot hold (by tag or virtual machine)."""
    ways = {
        role: [w for w, used in (("tag", m.tags), ("virtual machine", m.virtual_machines)) if used]
        for role, m in members.items()
    }
    return {role: " and ".join(how) for role, how in ways.items() if how}


def members_tf(state: AzureState, head: str) -> dict[str, str]:
    """{"members.tf": ...} when a role names NICs, else {} (and emit removes a stale file)."""
    nics = {}
    for role, members in sorted(state.members.items()):
        for item in members.network_interfaces:
            name, rg = (item, None) if isinstance(item, str) else (item.name, item.resource_group)
            nics[f"{role}/{rg or '-'}/{name}"] = {"role": role, "name": name, "resource_group": rg}
    if not nics:
        return {}
    live_only = sorted(chosen_live(state.members))
    note = (
        f"# Roles that select NICs by tag or virtual machine ({', '.join(live_only)}) are placed by "
        "`cloudports apply`, not here.\n"
        if live_only
        else ""
    )
    return {
        FILE: head
        + note
        + block("locals", {"member_nics": dict(sorted(nics.items()))})
        + _RESOURCES.format(asg=_ASG_ID[state.split])
    }
