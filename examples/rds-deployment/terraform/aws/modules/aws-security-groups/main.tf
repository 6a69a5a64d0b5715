################################################################################
# Security groups
#
# No inline ingress/egress blocks: rules are separate resources (mixing both
# styles on one group makes the provider overwrite rules). Because the group is
# created without inline egress, the AWS provider revokes the allow-all egress
# rule AWS adds to every new group, so a group has exactly the egress rules
# listed in var.egress_rules. Open egress is expressed as explicit rules
# (ip_protocol = "-1" to 0.0.0.0/0 and ::/0).
#
# name, description and vpc_id force a new group: AWS cannot update them.
################################################################################

resource "aws_security_group" "this" {
  for_each = var.groups

  name        = "${var.name_prefix}${each.value.name}"
  description = each.value.description
  vpc_id      = var.vpc_id

  tags = merge(var.tags, each.value.tags)
}

################################################################################
# Rules: one AWS rule (one sgr- ID) per map entry, keyed by what the rule is for
# (group, direction, protocol, peer by name, first port), so adding or removing
# one rule never touches the others, and a widened network or a grown port range
# is an in-place update (ModifySecurityGroupRules: one write, same rule ID).
#
# Make before break: where a rule's key goes and another comes (a range grown
# downwards, two ranges merged into one), the new rule must exist before the old
# one is deleted, or the flows both carry are blocked in between. Terraform
# deletes a key that left the map before anything else, create_before_destroy
# or not; with create_before_destroy it deletes it only after the resources that
# depend on the rule are updated. terraform_data.rules_applied depends on every
# rule and changes whenever the set of rules does, so deletions come last.
################################################################################

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = var.ingress_rules

  security_group_id = aws_security_group.this[each.value.group].id
  description       = each.value.description
  ip_protocol       = each.value.ip_protocol
  # "-1" means every protocol and every port: AWS takes no port range then.
  from_port = each.value.ip_protocol == "-1" ? null : each.value.from_port
  to_port   = each.value.ip_protocol == "-1" ? null : each.value.to_port

  cidr_ipv4                    = each.value.cidr_ipv4
  cidr_ipv6                    = each.value.cidr_ipv6
  prefix_list_id               = each.value.prefix_list_id
  referenced_security_group_id = each.value.referenced_group != null ? aws_security_group.this[each.value.referenced_group].id : each.value.referenced_security_group_id

  tags = var.tags

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = contains(keys(var.groups), each.value.group)
      error_message = "ingress_rules[\"${each.key}\"]: group \"${each.value.group}\" is not a key of var.groups."
    }
    precondition {
      condition     = each.value.referenced_group == null || contains(keys(var.groups), coalesce(each.value.referenced_group, "-"))
      error_message = "ingress_rules[\"${each.key}\"]: referenced_group \"${coalesce(each.value.referenced_group, "-")}\" is not a key of var.groups."
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = var.egress_rules

  security_group_id = aws_security_group.this[each.value.group].id
  description       = each.value.description
  ip_protocol       = each.value.ip_protocol
  from_port         = each.value.ip_protocol == "-1" ? null : each.value.from_port
  to_port           = each.value.ip_protocol == "-1" ? null : each.value.to_port

  cidr_ipv4                    = each.value.cidr_ipv4
  cidr_ipv6                    = each.value.cidr_ipv6
  prefix_list_id               = each.value.prefix_list_id
  referenced_security_group_id = each.value.referenced_group != null ? aws_security_group.this[each.value.referenced_group].id : each.value.referenced_security_group_id

  tags = var.tags

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = contains(keys(var.groups), each.value.group)
      error_message = "egress_rules[\"${each.key}\"]: group \"${each.value.group}\" is not a key of var.groups."
    }
    precondition {
      condition     = each.value.referenced_group == null || contains(keys(var.groups), coalesce(each.value.referenced_group, "-"))
      error_message = "egress_rules[\"${each.key}\"]: referenced_group \"${coalesce(each.value.referenced_group, "-")}\" is not a key of var.groups."
    }
  }
}

# Orders deletions after creations and updates (see above); holds nothing else.
resource "terraform_data" "rules_applied" {
  input = sort(concat(
    [for rule in aws_vpc_security_group_ingress_rule.this : rule.id],
    [for rule in aws_vpc_security_group_egress_rule.this : rule.id],
  ))
}
