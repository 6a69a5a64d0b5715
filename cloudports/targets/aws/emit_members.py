"""The roles' machines named by ID (members.aws) -> Terraform attachments of their groups, in members.tf.

Selectors by tag are a live-path feature (`cloudports apply` and `drift` read the VPC each time); Terraform sees
only what the spec names: interfaces directly, instances through their primary network interface. Each attachment
is keyed "<role>/<interface or instance ID>", so adding a machine never replaces another's attachment.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudports.emit.hcl import block
from cloudports.targets.aws.model import AwsState
from cloudports.targets.aws.settings import AwsMembers

FILE = "members.tf"

_RESOURCES = """
# An instance's primary network interface (Terraform cannot iterate over interfaces only known after apply).
data "aws_instance" "member" {
  for_each    = toset([for m in values(local.member_instances) : m.instance_id])
  instance_id = each.key
}

# Keep no other aws_network_interface_sg_attachment, nor an aws_instance's vpc_security_group_ids, for the same
# interfaces: each would undo the other's groups.
resource "aws_network_interface_sg_attachment" "member" {
  for_each = merge(
    local.member_interfaces,
    {
      for key, m in local.member_instances : key => {
        role                 = m.role
        network_interface_id = data.aws_instance.member[m.instance_id].network_interface_id
      }
    },
  )
  security_group_id    = module.security_groups.security_group_ids[each.value.role]
  network_interface_id = each.value.network_interface_id
}
"""


def chosen_live(members: Mapping[str, AwsMembers]) -> dict[str, str]:
    """Role -> how its machines are chosen, for the roles members.tf cannot hold (by tag)."""
    return {role: "tag" for role, m in members.items() if m.tags}


def members_tf(state: AwsState, head: str) -> dict[str, str]:
    """{"members.tf": ...} when a role names machines by ID, else {} (and emit removes a stale file)."""
    interfaces, instances = {}, {}
    for role, members in sorted(state.members.items()):
        for eni in sorted(members.network_interface_ids):
            interfaces[f"{role}/{eni}"] = {"role": role, "network_interface_id": eni}
        for instance in sorted(members.instance_ids):
            instances[f"{role}/{instance}"] = {"role": role, "instance_id": instance}
    if not interfaces and not instances:
        return {}
    by_tag = sorted(chosen_live(state.members))
    note = (
        f"# Roles that select machines by tag ({', '.join(by_tag)}) are attached by `cloudports apply`, not here.\n"
        if by_tag
        else ""
    )
    data = {"member_interfaces": interfaces, "member_instances": instances}
    return {FILE: head + note + block("locals", data) + _RESOURCES}
