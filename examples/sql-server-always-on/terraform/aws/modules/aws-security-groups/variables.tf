################################################################################
# Placement and naming
################################################################################

variable "vpc_id" {
  description = "ID of the VPC every security group is created in."
  type        = string

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (it starts with \"vpc-\")."
  }
}

variable "name_prefix" {
  description = "Prefix prepended to every group name (AWS name = name_prefix + groups[*].name). Not a Terraform name_prefix: names stay deterministic."
  type        = string
  default     = ""
  nullable    = false
}

variable "tags" {
  description = "Tags applied to every security group and to every security group rule."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Security groups, keyed by role
################################################################################

variable "groups" {
  description = "Security groups to create, keyed by a stable key (the role name). Rules refer to groups by this key."
  type = map(object({
    name        = string
    description = string
    tags        = optional(map(string), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for g in values(var.groups) : length(g.name) >= 1 && length(g.name) <= 255 && !startswith(lower(g.name), "sg-")
    ])
    error_message = "groups: every name must be 1-255 characters and must not start with \"sg-\" (offending keys: ${join(", ", [for k, g in var.groups : k if !(length(g.name) >= 1 && length(g.name) <= 255 && !startswith(lower(g.name), "sg-"))])})."
  }

  validation {
    # AWS: "Up to 255 characters. a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*" (CreateSecurityGroup, VPC).
    condition = alltrue([
      for g in values(var.groups) : length(g.description) >= 1 && length(g.description) <= 255 && can(regex("^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]+$", g.description))
    ])
    error_message = "groups: every description must be 1-255 characters from a-z A-Z 0-9 space and ._-:/()#,@[]+=&;{}!$* (offending keys: ${join(", ", [for k, g in var.groups : k if !(length(g.description) >= 1 && length(g.description) <= 255 && can(regex("^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]+$", g.description)))])})."
  }
}

################################################################################
# Rules, keyed by a stable rule key
#
# Every rule has exactly one peer: cidr_ipv4, cidr_ipv6, referenced_group (a key
# of var.groups, resolved to that group's ID), referenced_security_group_id (an
# existing sg- ID outside this module) or prefix_list_id.
#
# The validation blocks of ingress_rules and egress_rules are identical; keep
# them in sync.
################################################################################

variable "ingress_rules" {
  description = "Inbound rules, keyed by a stable rule key. `group` is the key in var.groups the rule belongs to."
  type = map(object({
    group                        = string
    ip_protocol                  = string
    from_port                    = optional(number)
    to_port                      = optional(number)
    cidr_ipv4                    = optional(string)
    cidr_ipv6                    = optional(string)
    referenced_group             = optional(string)
    referenced_security_group_id = optional(string)
    prefix_list_id               = optional(string)
    description                  = optional(string)
  }))
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for r in values(var.ingress_rules) : length([for p in [r.cidr_ipv4, r.cidr_ipv6, r.referenced_group, r.referenced_security_group_id, r.prefix_list_id] : p if p != null]) == 1
    ])
    error_message = "ingress_rules: each rule needs exactly one peer among cidr_ipv4, cidr_ipv6, referenced_group, referenced_security_group_id and prefix_list_id (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if length([for p in [r.cidr_ipv4, r.cidr_ipv6, r.referenced_group, r.referenced_security_group_id, r.prefix_list_id] : p if p != null]) != 1])})."
  }

  validation {
    condition     = alltrue([for r in values(var.ingress_rules) : contains(["tcp", "udp", "icmp", "icmpv6", "-1"], r.ip_protocol)])
    error_message = "ingress_rules: ip_protocol must be one of tcp, udp, icmp, icmpv6 or -1 (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if !contains(["tcp", "udp", "icmp", "icmpv6", "-1"], r.ip_protocol)])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.ingress_rules) : !contains(["tcp", "udp"], r.ip_protocol) ? true : (
        r.from_port == null || r.to_port == null ? false : (r.from_port >= 0 && r.from_port <= r.to_port && r.to_port <= 65535)
      )
    ])
    error_message = "ingress_rules: tcp and udp rules need from_port <= to_port, both within 0-65535 (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if contains(["tcp", "udp"], r.ip_protocol) && (r.from_port == null || r.to_port == null ? true : !(r.from_port >= 0 && r.from_port <= r.to_port && r.to_port <= 65535))])})."
  }

  validation {
    # icmp: from_port is the ICMP type and to_port the code, -1 meaning "all"; both required.
    # icmpv6: both optional (all types when omitted).
    condition = alltrue([
      for r in values(var.ingress_rules) : !contains(["icmp", "icmpv6"], r.ip_protocol) ? true : (
        r.from_port == null || r.to_port == null ? (r.ip_protocol == "icmpv6" && r.from_port == null && r.to_port == null) : (r.from_port >= -1 && r.from_port <= 255 && r.to_port >= -1 && r.to_port <= 255)
      )
    ])
    error_message = "ingress_rules: icmp rules need from_port (type) and to_port (code) within -1..255; icmpv6 rules set both or neither (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if contains(["icmp", "icmpv6"], r.ip_protocol) && (r.from_port == null || r.to_port == null ? !(r.ip_protocol == "icmpv6" && r.from_port == null && r.to_port == null) : !(r.from_port >= -1 && r.from_port <= 255 && r.to_port >= -1 && r.to_port <= 255))])})."
  }

  validation {
    condition     = alltrue([for r in values(var.ingress_rules) : r.ip_protocol != "-1" || ((r.from_port == null || r.from_port == -1) && (r.to_port == null || r.to_port == -1))])
    error_message = "ingress_rules: ip_protocol -1 means every protocol and port; leave from_port and to_port unset (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if r.ip_protocol == "-1" && !((r.from_port == null || r.from_port == -1) && (r.to_port == null || r.to_port == -1))])})."
  }

  validation {
    # AWS accepts only canonical network addresses (10.0.0.0/16, not 10.0.0.1/16) for new-style rules.
    condition = alltrue([
      for r in values(var.ingress_rules) : (r.cidr_ipv4 == null ? true : try(cidrsubnet(r.cidr_ipv4, 0, 0) == r.cidr_ipv4 && !strcontains(r.cidr_ipv4, ":"), false)) && (r.cidr_ipv6 == null ? true : can(cidrhost(r.cidr_ipv6, 0)) && strcontains(r.cidr_ipv6, ":"))
    ])
    error_message = "ingress_rules: cidr_ipv4 must be an IPv4 network address in CIDR notation (e.g. 10.0.0.0/16) and cidr_ipv6 an IPv6 CIDR block (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if !((r.cidr_ipv4 == null ? true : try(cidrsubnet(r.cidr_ipv4, 0, 0) == r.cidr_ipv4 && !strcontains(r.cidr_ipv4, ":"), false)) && (r.cidr_ipv6 == null ? true : can(cidrhost(r.cidr_ipv6, 0)) && strcontains(r.cidr_ipv6, ":")))])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.ingress_rules) : (r.referenced_security_group_id == null ? true : startswith(r.referenced_security_group_id, "sg-")) && (r.prefix_list_id == null ? true : startswith(r.prefix_list_id, "pl-"))
    ])
    error_message = "ingress_rules: referenced_security_group_id must start with \"sg-\" and prefix_list_id with \"pl-\"."
  }

  validation {
    # Same length and character set AWS enforces on rule descriptions (IpRange.Description).
    condition = alltrue([
      for r in values(var.ingress_rules) : r.description == null ? true : length(r.description) <= 255 && can(regex("^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]*$", r.description))
    ])
    error_message = "ingress_rules: description must be at most 255 characters from a-z A-Z 0-9 space and ._-:/()#,@[]+=&;{}!$* (offending keys: ${join(", ", [for k, r in var.ingress_rules : k if r.description == null ? false : !(length(r.description) <= 255 && can(regex("^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]*$", r.description)))])})."
  }
}

variable "egress_rules" {
  description = "Outbound rules, keyed by a stable rule key. `group` is the key in var.groups the rule belongs to. The groups have no egress at all unless rules are given here (open egress = explicit -1 rules to 0.0.0.0/0 and ::/0)."
  type = map(object({
    group                        = string
    ip_protocol                  = string
    from_port                    = optional(number)
    to_port                      = optional(number)
    cidr_ipv4                    = optional(string)
    cidr_ipv6                    = optional(string)
    referenced_group             = optional(string)
    referenced_security_group_id = optional(string)
    prefix_list_id               = optional(string)
    description                  = optional(string)
  }))
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for r in values(var.egress_rules) : length([for p in [r.cidr_ipv4, r.cidr_ipv6, r.referenced_group, r.referenced_security_group_id, r.prefix_list_id] : p if p != null]) == 1
    ])
    error_message = "egress_rules: each rule needs exactly one peer among cidr_ipv4, cidr_ipv6, referenced_group, referenced_security_group_id and prefix_list_id (offending keys: ${join(", ", [for k, r in var.egress_rules : k if length([for p in [r.cidr_ipv4, r.cidr_ipv6, r.referenced_group, r.referenced_security_group_id, r.prefix_list_id] : p if p != null]) != 1])})."
  }

  validation {
    condition     = alltrue([for r in values(var.egress_rules) : contains(["tcp", "udp", "icmp", "icmpv6", "-1"], r.ip_protocol)])
    error_message = "egress_rules: ip_protocol must be one of tcp, udp, icmp, icmpv6 or -1 (offending keys: ${join(", ", [for k, r in var.egress_rules : k if !contains(["tcp", "udp", "icmp", "icmpv6", "-1"], r.ip_protocol)])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.egress_rules) : !contains(["tcp", "udp"], r.ip_protocol) ? true : (
        r.from_port == null || r.to_port == null ? false : (r.from_port >= 0 && r.from_port <= r.to_port && r.to_port <= 65535)
      )
    ])
    error_message = "egress_rules: tcp and udp rules need from_port <= to_port, both within 0-65535 (offending keys: ${join(", ", [for k, r in var.egress_rules : k if contains(["tcp", "udp"], r.ip_protocol) && (r.from_port == null || r.to_port == null ? true : !(r.from_port >= 0 && r.from_port <= r.to_port && r.to_port <= 65535))])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.egress_rules) : !contains(["icmp", "icmpv6"], r.ip_protocol) ? true : (
        r.from_port == null || r.to_port == null ? (r.ip_protocol == "icmpv6" && r.from_port == null && r.to_port == null) : (r.from_port >= -1 && r.from_port <= 255 && r.to_port >= -1 && r.to_port <= 255)
      )
    ])
    error_message = "egress_rules: icmp rules need from_port (type) and to_port (code) within -1..255; icmpv6 rules set both or neither (offending keys: ${join(", ", [for k, r in var.egress_rules : k if contains(["icmp", "icmpv6"], r.ip_protocol) && (r.from_port == null || r.to_port == null ? !(r.ip_protocol == "icmpv6" && r.from_port == null && r.to_port == null) : !(r.from_port >= -1 && r.from_port <= 255 && r.to_port >= -1 && r.to_port <= 255))])})."
  }

  validation {
    condition     = alltrue([for r in values(var.egress_rules) : r.ip_protocol != "-1" || ((r.from_port == null || r.from_port == -1) && (r.to_port == null || r.to_port == -1))])
    error_message = "egress_rules: ip_protocol -1 means every protocol and port; leave from_port and to_port unset (offending keys: ${join(", ", [for k, r in var.egress_rules : k if r.ip_protocol == "-1" && !((r.from_port == null || r.from_port == -1) && (r.to_port == null || r.to_port == -1))])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.egress_rules) : (r.cidr_ipv4 == null ? true : try(cidrsubnet(r.cidr_ipv4, 0, 0) == r.cidr_ipv4 && !strcontains(r.cidr_ipv4, ":"), false)) && (r.cidr_ipv6 == null ? true : can(cidrhost(r.cidr_ipv6, 0)) && strcontains(r.cidr_ipv6, ":"))
    ])
    error_message = "egress_rules: cidr_ipv4 must be an IPv4 network address in CIDR notation (e.g. 10.0.0.0/16) and cidr_ipv6 an IPv6 CIDR block (offending keys: ${join(", ", [for k, r in var.egress_rules : k if !((r.cidr_ipv4 == null ? true : try(cidrsubnet(r.cidr_ipv4, 0, 0) == r.cidr_ipv4 && !strcontains(r.cidr_ipv4, ":"), false)) && (r.cidr_ipv6 == null ? true : can(cidrhost(r.cidr_ipv6, 0)) && strcontains(r.cidr_ipv6, ":")))])})."
  }

  validation {
    condition = alltrue([
      for r in values(var.egress_rules) : (r.referenced_security_group_id == null ? true : startswith(r.referenced_security_group_id, "sg-")) && (r.prefix_list_id == null ? true : startswith(r.prefix_list_id, "pl-"))
    ])
    error_message = "egress_rules: referenced_security_group_id must start with \"sg-\" and prefix_list_id with \"pl-\"."
  }

  validation {
    condition = alltrue([
      for r in values(var.egress_rules) : r.description == null ? true : length(r.description) <= 255 && can(regex("^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]*$", r.description))
    ])
    error_message = "egress_rules: description must be at most 255 characters from a-z A-Z 0-9 space and ._-:/()#,@[]+=&;{}!$* (offending keys: ${join(", ", [for k, r in var.egress_rules : k if r.description == null ? false : !(length(r.description) <= 255 && can(regex("^[a-zA-Z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]*$", r.description)))])})."
  }
}
