# A web tier reachable from the internet on HTTPS, a SQL tier reachable from the
# web tier only (application security groups on both sides), and a deny of the
# rest of the virtual network's inbound traffic.
#
#   terraform init
#   terraform apply -var resource_group_name=rg-lab -var subnet_id=/subscriptions/.../subnets/snet-servers

terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.73, < 5.0"
    }
  }
}

provider "azurerm" {
  features {}
}

variable "resource_group_name" {
  description = "Resource group of the NSG and the application security groups (it must exist)."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "westeurope"
}

variable "subnet_id" {
  description = "Resource ID of the subnet to associate the NSG with; null associates none."
  type        = string
  default     = null
}

module "nsg" {
  source = "../.."

  resource_group_name = var.resource_group_name
  location            = var.location
  nsg_name            = "example-nsg"
  tags                = { "cloudports:topology" = "example" }

  application_security_groups = {
    web = { name = "example-web" }
    sql = { name = "example-sql", tags = { tier = "data" } }
  }

  # Keys are rule names: adding or removing one rule never replaces another.
  security_rules = {
    "web-https-from-internet" = {
      priority                                = 100
      direction                               = "Inbound"
      access                                  = "Allow"
      protocol                                = "Tcp"
      destination_port_ranges                 = ["443"]
      source_address_prefixes                 = ["Internet"] # a service tag: emitted as source_address_prefix
      destination_application_security_groups = ["web"]
      description                             = "HTTPS from the internet"
    }
    "sql-from-web" = {
      priority                                = 110
      direction                               = "Inbound"
      access                                  = "Allow"
      protocol                                = "Tcp"
      destination_port_ranges                 = ["1433", "49152-65535"]
      source_application_security_groups      = ["web"]
      destination_application_security_groups = ["sql"]
      description                             = "SQL Server from the web tier"
    }
    "ping-from-admin" = {
      priority                                = 120
      direction                               = "Inbound"
      access                                  = "Allow"
      protocol                                = "Icmp"
      destination_port_ranges                 = ["*"]
      source_address_prefixes                 = ["10.99.0.0/24", "10.98.0.0/24"]
      destination_application_security_groups = ["web", "sql"]
      description                             = "Ping from the admin networks"
    }
    "deny-vnet-inbound" = {
      priority                     = 4096
      direction                    = "Inbound"
      access                       = "Deny"
      protocol                     = "*"
      destination_port_ranges      = ["*"]
      source_address_prefixes      = ["VirtualNetwork"]
      destination_address_prefixes = ["VirtualNetwork"]
      description                  = "Nothing else inside the virtual network"
    }
  }

  subnet_ids = var.subnet_id == null ? {} : { servers = var.subnet_id }
}

output "network_security_group_id" {
  description = "Resource ID of the NSG."
  value       = module.nsg.network_security_group_id
}

output "application_security_group_ids" {
  description = "ASG resource ID per role: put each VM's NIC into its role's ASG."
  value       = module.nsg.application_security_group_ids
}
