################################################################################
# Rule arguments in the shape azurerm expects
#
# This locals block refers to variables only (no resources), so the module's
# tests can evaluate it offline without the azurerm provider; keep it that way.
#
# - One destination port is emitted as destination_port_range, several as
#   destination_port_ranges: Azure rewrites a one-element list into the singular
#   field, which makes the plural form show a permanent diff (azurerm #23674).
# - A one-element prefix list is emitted as *_address_prefix: that is the only
#   field that accepts a service tag ("VirtualNetwork", "Internet") or "*".
# - An unused field is null, so azurerm's ExactlyOneOf checks see one source
#   and one destination.
################################################################################

locals {
  rule_arguments = {
    for name, r in var.security_rules : name => {
      priority                     = r.priority
      direction                    = r.direction
      access                       = r.access
      protocol                     = r.protocol
      description                  = r.description == "" ? null : r.description
      source_port_range            = r.source_port_range
      destination_port_range       = length(r.destination_port_ranges) == 1 ? r.destination_port_ranges[0] : null
      destination_port_ranges      = length(r.destination_port_ranges) > 1 ? sort(r.destination_port_ranges) : null
      source_address_prefix        = length(r.source_address_prefixes) == 1 ? r.source_address_prefixes[0] : null
      source_address_prefixes      = length(r.source_address_prefixes) > 1 ? sort(r.source_address_prefixes) : null
      destination_address_prefix   = length(r.destination_address_prefixes) == 1 ? r.destination_address_prefixes[0] : null
      destination_address_prefixes = length(r.destination_address_prefixes) > 1 ? sort(r.destination_address_prefixes) : null
      source_asgs                  = sort(r.source_application_security_groups)
      destination_asgs             = sort(r.destination_application_security_groups)
      written_first                = r.written_first
    }
  }
  known_asgs = concat(keys(var.application_security_groups), keys(var.application_security_group_ids))
  # Per rule, the ASG roles it names that neither ASG input has (the precondition's message).
  unknown_asgs = {
    for name, r in var.security_rules : name => [
      for role in concat(r.source_application_security_groups, r.destination_application_security_groups) :
      role if !contains(local.known_asgs, role)
    ]
  }
}

# ASG IDs by role: those created here, and those given (created elsewhere, shared with other NSGs).
locals {
  asg_ids = merge(var.application_security_group_ids, { for role, asg in azurerm_application_security_group.this : role => asg.id })
}

################################################################################
# Network security group
################################################################################

resource "azurerm_network_security_group" "this" {
  name                = var.nsg_name
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags

  # No inline security_rule blocks: the rules are azurerm_network_security_rule
  # resources below, and one NSG must never use both styles (each would
  # overwrite the other's rules). The NSG's security_rule attribute is
  # Optional+Computed, so after a refresh it lists the separately managed rules;
  # ignoring it keeps Terraform from reporting them as changes on the NSG.
  lifecycle {
    ignore_changes = [security_rule]
  }
}

################################################################################
# Application security groups, one per role
################################################################################

resource "azurerm_application_security_group" "this" {
  for_each = var.application_security_groups

  name                = each.value.name
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = merge(var.tags, each.value.tags)
}

################################################################################
# Security rules, keyed by rule name (a rename replaces that rule only)
#
# Make before break: when a spec changes, what a rule allows (a "pair") can move
# to another rule: one rule loses it (updated or deleted), another gains it
# (updated or created). Instances of one resource have no order between them, so
# the rules that take pairs over (written_first) are a resource of their own and
# every other rule depends on them: Terraform writes the gaining rules, then the
# others. Deletions come last: the rules are create_before_destroy, and
# terraform_data.rules_applied depends on every rule and changes whenever the set
# of rules does (without both, Terraform deletes a rule that left the map before
# anything else). cloudports emits `moved` blocks when a rule changes resource
# between two emits, so it is never destroyed and re-created.
# The two resources have the same arguments: keep them in step.
################################################################################

resource "azurerm_network_security_rule" "first" {
  for_each = { for name, r in local.rule_arguments : name => r if r.written_first }

  name                        = each.key
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.this.name

  priority    = each.value.priority
  direction   = each.value.direction
  access      = each.value.access
  protocol    = each.value.protocol
  description = each.value.description

  source_port_range       = each.value.source_port_range
  destination_port_range  = each.value.destination_port_range
  destination_port_ranges = each.value.destination_port_ranges

  source_address_prefix                      = each.value.source_address_prefix
  source_address_prefixes                    = each.value.source_address_prefixes
  source_application_security_group_ids      = length(each.value.source_asgs) > 0 ? [for role in each.value.source_asgs : local.asg_ids[role]] : null
  destination_address_prefix                 = each.value.destination_address_prefix
  destination_address_prefixes               = each.value.destination_address_prefixes
  destination_application_security_group_ids = length(each.value.destination_asgs) > 0 ? [for role in each.value.destination_asgs : local.asg_ids[role]] : null

  lifecycle {
    create_before_destroy = true
    precondition {
      condition = alltrue([for role in concat(each.value.source_asgs, each.value.destination_asgs) : contains(local.known_asgs, role)])
      # No quoted string inside the interpolation: checkov's HCL parser cannot read one (it would skip the file).
      error_message = "security_rules[${each.key}] names application security groups that are keys of neither var.application_security_groups nor var.application_security_group_ids: ${jsonencode(local.unknown_asgs[each.key])}."
    }
  }
}

resource "azurerm_network_security_rule" "this" {
  for_each = { for name, r in local.rule_arguments : name => r if !r.written_first }

  name                        = each.key
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.this.name

  priority    = each.value.priority
  direction   = each.value.direction
  access      = each.value.access
  protocol    = each.value.protocol
  description = each.value.description

  source_port_range       = each.value.source_port_range
  destination_port_range  = each.value.destination_port_range
  destination_port_ranges = each.value.destination_port_ranges

  source_address_prefix                      = each.value.source_address_prefix
  source_address_prefixes                    = each.value.source_address_prefixes
  source_application_security_group_ids      = length(each.value.source_asgs) > 0 ? [for role in each.value.source_asgs : local.asg_ids[role]] : null
  destination_address_prefix                 = each.value.destination_address_prefix
  destination_address_prefixes               = each.value.destination_address_prefixes
  destination_application_security_group_ids = length(each.value.destination_asgs) > 0 ? [for role in each.value.destination_asgs : local.asg_ids[role]] : null

  lifecycle {
    create_before_destroy = true
    precondition {
      condition = alltrue([for role in concat(each.value.source_asgs, each.value.destination_asgs) : contains(local.known_asgs, role)])
      # No quoted string inside the interpolation: checkov's HCL parser cannot read one (it would skip the file).
      error_message = "security_rules[${each.key}] names application security groups that are keys of neither var.application_security_groups nor var.application_security_group_ids: ${jsonencode(local.unknown_asgs[each.key])}."
    }
  }

  depends_on = [azurerm_network_security_rule.first]
}

# Orders deletions after creations and updates (see above); holds nothing else.
resource "terraform_data" "rules_applied" {
  input = sort(concat(
    [for rule in azurerm_network_security_rule.first : rule.id],
    [for rule in azurerm_network_security_rule.this : rule.id],
  ))
}

################################################################################
# Subnet associations
################################################################################

resource "azurerm_subnet_network_security_group_association" "this" {
  for_each = var.subnet_ids

  subnet_id                 = each.value
  network_security_group_id = azurerm_network_security_group.this.id

  # Attach the NSG once its rules exist, so a subnet never runs on the default
  # rules alone (DenyAllInBound) in between.
  depends_on = [azurerm_network_security_rule.first, azurerm_network_security_rule.this]
}
