################################################################################
# Placement and naming
################################################################################

variable "resource_group_name" {
  description = "Resource group of the NSG and of the application security groups."
  type        = string

  validation {
    condition     = length(var.resource_group_name) >= 1 && length(var.resource_group_name) <= 90
    error_message = "resource_group_name must be 1-90 characters."
  }
}

variable "location" {
  description = "Azure region of the NSG and of the application security groups (e.g. westeurope)."
  type        = string

  validation {
    condition     = length(trimspace(var.location)) > 0
    error_message = "location must not be empty."
  }
}

variable "nsg_name" {
  description = "Name of the network security group."
  type        = string

  validation {
    # Azure: 1-80 characters, begins with a letter or digit, ends with a letter, digit or '_',
    # contains letters, digits, '_', '.', '-' (regex of the Azure Verified Module).
    condition     = can(regex("^[[:alnum:]]([[:alnum:]_.-]{0,78}?[[:alnum:]_])?$", var.nsg_name))
    error_message = "nsg_name must be 1-80 characters of letters, digits, '_', '.', '-', beginning with a letter or digit and ending with a letter, digit or '_'."
  }
}

variable "tags" {
  description = "Tags applied to the NSG and to every application security group."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Application security groups, keyed by role
################################################################################

variable "application_security_groups" {
  description = "Application security groups to create, keyed by role. Rules refer to them by this key."
  type = map(object({
    name = string
    tags = optional(map(string), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for a in values(var.application_security_groups) : can(regex("^[[:alnum:]]([[:alnum:]_.-]{0,78}?[[:alnum:]_])?$", a.name))])
    error_message = "application_security_groups: names must follow the Azure naming rule (1-80 characters, see nsg_name) (offending keys: ${join(", ", [for k, a in var.application_security_groups : k if !can(regex("^[[:alnum:]]([[:alnum:]_.-]{0,78}?[[:alnum:]_])?$", a.name))])})."
  }
}

variable "application_security_group_ids" {
  description = "Application security groups created elsewhere (e.g. shared by several NSGs, one per subnet), keyed by role: rule keys found here are not looked up in var.application_security_groups."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Security rules, keyed by rule name
#
# Per side (source, destination) give exactly one of *_address_prefixes and
# *_application_security_groups. A one-element prefixes list may hold a service
# tag ("VirtualNetwork", "Internet", "AzureLoadBalancer", ...) or "*"; it is
# emitted as the singular *_address_prefix. Longer lists hold IP addresses or
# CIDR blocks of one address family only. destination_port_ranges holds ports
# ("443") or ranges ("49152-65535"), or just ["*"] for all ports.
################################################################################

variable "security_rules" {
  description = "Custom security rules, keyed by rule name. *_application_security_groups list keys of var.application_security_groups or var.application_security_group_ids."
  type = map(object({
    priority                                = number
    direction                               = string
    access                                  = string
    protocol                                = string
    source_port_range                       = optional(string, "*")
    destination_port_ranges                 = list(string)
    source_address_prefixes                 = optional(list(string), [])
    source_application_security_groups      = optional(list(string), [])
    destination_address_prefixes            = optional(list(string), [])
    destination_application_security_groups = optional(list(string), [])
    description                             = optional(string, "")
    # Written before every other rule (it takes over what another rule of this change stops allowing).
    written_first = optional(bool, false)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = length(var.security_rules) <= 1000
    error_message = "security_rules: an NSG holds at most 1000 rules (got ${length(var.security_rules)})."
  }

  validation {
    # Same rule as NSG names; the provider additionally forbids / \ ? %.
    condition     = alltrue([for name in keys(var.security_rules) : can(regex("^[[:alnum:]]([[:alnum:]_.-]{0,78}?[[:alnum:]_])?$", name))])
    error_message = "security_rules: rule names (the map keys) must be 1-80 characters of letters, digits, '_', '.', '-', beginning with a letter or digit and ending with a letter, digit or '_' (offending: ${join(", ", [for name in keys(var.security_rules) : name if !can(regex("^[[:alnum:]]([[:alnum:]_.-]{0,78}?[[:alnum:]_])?$", name))])})."
  }

  validation {
    condition     = alltrue([for r in values(var.security_rules) : r.priority >= 100 && r.priority <= 4096 && floor(r.priority) == r.priority])
    error_message = "security_rules: priority must be a whole number within 100-4096 (offending: ${join(", ", [for k, r in var.security_rules : k if !(r.priority >= 100 && r.priority <= 4096 && floor(r.priority) == r.priority)])})."
  }

  validation {
    condition     = alltrue([for r in values(var.security_rules) : contains(["Inbound", "Outbound"], r.direction)])
    error_message = "security_rules: direction must be Inbound or Outbound (offending: ${join(", ", [for k, r in var.security_rules : k if !contains(["Inbound", "Outbound"], r.direction)])})."
  }

  validation {
    # Azure: "You can't create two security rules with the same priority and direction" (SecurityRuleConflict).
    # Grouping for-expression (name...) keeps this linear; it runs on every plan of up to 1000 rules.
    condition     = alltrue([for names in values({ for name, r in var.security_rules : "${r.direction} ${r.priority}" => name... }) : length(names) == 1])
    error_message = "security_rules: (priority, direction) must be unique; clashing: ${join("; ", [for slot, names in { for name, r in var.security_rules : "${r.direction} ${r.priority}" => name... } : "${slot} (${join(", ", names)})" if length(names) > 1])}."
  }

  validation {
    condition     = alltrue([for r in values(var.security_rules) : contains(["Allow", "Deny"], r.access)])
    error_message = "security_rules: access must be Allow or Deny (offending: ${join(", ", [for k, r in var.security_rules : k if !contains(["Allow", "Deny"], r.access)])})."
  }

  validation {
    # Case-sensitive, as the azurerm provider validates it.
    condition     = alltrue([for r in values(var.security_rules) : contains(["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"], r.protocol)])
    error_message = "security_rules: protocol must be one of Tcp, Udp, Icmp, Esp, Ah, * (case-sensitive) (offending: ${join(", ", [for k, r in var.security_rules : k if !contains(["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"], r.protocol)])})."
  }

  validation {
    condition     = alltrue([for r in values(var.security_rules) : length(r.description) <= 140])
    error_message = "security_rules: description must be at most 140 characters (offending: ${join(", ", [for k, r in var.security_rules : k if length(r.description) > 140])})."
  }

  validation {
    # A port is 0-65535, a range is low-high with low <= high; "*" (all ports) only on its own.
    condition = alltrue([
      for r in values(var.security_rules) : length(r.destination_port_ranges) >= 1 && alltrue([
        for p in concat([r.source_port_range], r.destination_port_ranges) : p == "*" ? true : try(
          can(regex("^[0-9]{1,5}(-[0-9]{1,5})?$", p)) && tonumber(split("-", p)[0]) <= tonumber(split("-", p)[length(split("-", p)) - 1]) && tonumber(split("-", p)[length(split("-", p)) - 1]) <= 65535,
          false
        )
      ]) && (length(r.destination_port_ranges) == 1 || !contains(r.destination_port_ranges, "*"))
    ])
    error_message = "security_rules: source_port_range and every destination_port_ranges entry must be a port (0-65535), a range low-high, or \"*\"; destination_port_ranges must not be empty and \"*\" must be its only entry (offending: ${join(", ", [for k, r in var.security_rules : k if !(length(r.destination_port_ranges) >= 1 && alltrue([for p in concat([r.source_port_range], r.destination_port_ranges) : p == "*" ? true : try(can(regex("^[0-9]{1,5}(-[0-9]{1,5})?$", p)) && tonumber(split("-", p)[0]) <= tonumber(split("-", p)[length(split("-", p)) - 1]) && tonumber(split("-", p)[length(split("-", p)) - 1]) <= 65535, false)]) && (length(r.destination_port_ranges) == 1 || !contains(r.destination_port_ranges, "*")))])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.security_rules) : (length(r.source_address_prefixes) > 0) != (length(r.source_application_security_groups) > 0) && (length(r.destination_address_prefixes) > 0) != (length(r.destination_application_security_groups) > 0)
    ])
    error_message = "security_rules: each side (source, destination) needs exactly one of *_address_prefixes and *_application_security_groups (offending: ${join(", ", [for k, r in var.security_rules : k if !((length(r.source_address_prefixes) > 0) != (length(r.source_application_security_groups) > 0) && (length(r.destination_address_prefixes) > 0) != (length(r.destination_application_security_groups) > 0))])})."
  }

  validation {
    condition     = alltrue([for r in values(var.security_rules) : length(r.source_application_security_groups) <= 10 && length(r.destination_application_security_groups) <= 10])
    error_message = "security_rules: at most 10 application security groups per side of a rule (offending: ${join(", ", [for k, r in var.security_rules : k if length(r.source_application_security_groups) > 10 || length(r.destination_application_security_groups) > 10])})."
  }

  validation {
    condition     = length(distinct(flatten([for r in values(var.security_rules) : concat(r.source_application_security_groups, r.destination_application_security_groups)]))) <= 100
    error_message = "security_rules: an NSG may reference at most 100 distinct application security groups across all its rules."
  }

  validation {
    # Service tags and "*" only alone (singular *_address_prefix); lists hold IPs/CIDRs of one family.
    condition = alltrue(flatten([
      for r in values(var.security_rules) : [
        for prefixes in [r.source_address_prefixes, r.destination_address_prefixes] : length(prefixes) <= 1 || (
          length(prefixes) <= 4000 && alltrue([for p in prefixes : can(regex("^[0-9a-fA-F:.]+(/[0-9]{1,3})?$", p))]) && (alltrue([for p in prefixes : strcontains(p, ":")]) || alltrue([for p in prefixes : !strcontains(p, ":")]))
        )
      ]
    ]))
    error_message = "security_rules: an address prefix list with more than one entry may hold only IP addresses or CIDR blocks (no service tags, no \"*\"), of one address family, at most 4000 (offending: ${join(", ", [for k, r in var.security_rules : k if !alltrue([for prefixes in [r.source_address_prefixes, r.destination_address_prefixes] : length(prefixes) <= 1 || (length(prefixes) <= 4000 && alltrue([for p in prefixes : can(regex("^[0-9a-fA-F:.]+(/[0-9]{1,3})?$", p))]) && (alltrue([for p in prefixes : strcontains(p, ":")]) || alltrue([for p in prefixes : !strcontains(p, ":")])))])])})."
  }
}

################################################################################
# Subnet associations
################################################################################

variable "subnet_ids" {
  description = "Subnets to associate the NSG with: any stable key => subnet resource ID."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for id in values(var.subnet_ids) : can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Network/virtualNetworks/[^/]+/subnets/[^/]+$", id))])
    error_message = "subnet_ids: values must be subnet resource IDs (/subscriptions/.../resourceGroups/.../providers/Microsoft.Network/virtualNetworks/.../subnets/...)."
  }
}
