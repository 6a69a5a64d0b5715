output "network_security_group_id" {
  description = "Resource ID of the network security group."
  value       = azurerm_network_security_group.this.id
}

output "network_security_group_name" {
  description = "Name of the network security group."
  value       = azurerm_network_security_group.this.name
}

output "application_security_group_ids" {
  description = "Application security group resource IDs, keyed like var.application_security_groups (role). Put each VM's NIC into its role's ASG."
  value       = { for k, asg in azurerm_application_security_group.this : k => asg.id }
}

output "security_rule_ids" {
  description = "Security rule resource IDs, keyed by rule name."
  value       = { for k, rule in merge(azurerm_network_security_rule.first, azurerm_network_security_rule.this) : k => rule.id }
}
