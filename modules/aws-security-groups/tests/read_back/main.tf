# The rules as the EC2 API reports them (DescribeSecurityGroupRules), not as Terraform's state remembers them.
variable "group_ids" {
  type = map(string)
}

data "aws_vpc_security_group_rules" "group" {
  for_each = var.group_ids

  filter {
    name   = "group-id"
    values = [each.value]
  }
}

data "aws_vpc_security_group_rule" "each" {
  for_each = toset(flatten([for g in data.aws_vpc_security_group_rules.group : g.ids]))

  security_group_rule_id = each.value
}

output "rules" {
  description = "Every rule of the groups, keyed by sgr- ID."
  value = {
    for id, r in data.aws_vpc_security_group_rule.each : id => {
      group     = r.security_group_id
      is_egress = r.is_egress
      protocol  = r.ip_protocol
      from_port = r.from_port
      to_port   = r.to_port
      cidr_ipv4 = r.cidr_ipv4
      cidr_ipv6 = r.cidr_ipv6
      peer      = r.referenced_security_group_id
    }
  }
}
