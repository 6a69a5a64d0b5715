output "security_group_ids" {
  description = "Security group IDs (sg-...), keyed like var.groups."
  value       = { for k, sg in aws_security_group.this : k => sg.id }
}

output "security_group_arns" {
  description = "Security group ARNs, keyed like var.groups."
  value       = { for k, sg in aws_security_group.this : k => sg.arn }
}

output "security_group_names" {
  description = "Security group names as created in AWS (name_prefix included), keyed like var.groups."
  value       = { for k, sg in aws_security_group.this : k => sg.name }
}

output "ingress_rule_ids" {
  description = "Security group rule IDs (sgr-...) of the inbound rules, keyed like var.ingress_rules."
  value       = { for k, r in aws_vpc_security_group_ingress_rule.this : k => r.security_group_rule_id }
}

output "egress_rule_ids" {
  description = "Security group rule IDs (sgr-...) of the outbound rules, keyed like var.egress_rules."
  value       = { for k, r in aws_vpc_security_group_egress_rule.this : k => r.security_group_rule_id }
}
