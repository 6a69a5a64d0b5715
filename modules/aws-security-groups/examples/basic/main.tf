# A web tier reachable from the internet on HTTPS, an app tier reachable from
# the web tier only, strict egress for the app tier and open egress for web.
#
#   terraform init
#   terraform apply -var vpc_id=vpc-0123456789abcdef0

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "vpc_id" {
  description = "VPC to create the security groups in."
  type        = string
}

module "security_groups" {
  source = "../.."

  vpc_id      = var.vpc_id
  name_prefix = "example-"
  tags        = { "cloudports:topology" = "example" }

  groups = {
    web = { name = "web", description = "Web servers" }
    app = { name = "app", description = "Application servers", tags = { tier = "app" } }
  }

  # Keys are stable identities of the rules: adding or removing one rule never
  # replaces another.
  ingress_rules = {
    "web/in/tcp/443/cidr:0.0.0.0/0" = {
      group       = "web"
      ip_protocol = "tcp"
      from_port   = 443
      to_port     = 443
      cidr_ipv4   = "0.0.0.0/0"
      description = "HTTPS from the internet"
    }
    "web/in/tcp/443/cidr:::/0" = {
      group       = "web"
      ip_protocol = "tcp"
      from_port   = 443
      to_port     = 443
      cidr_ipv6   = "::/0"
      description = "HTTPS from the internet (IPv6)"
    }
    "app/in/tcp/8080-8081/sg:web" = {
      group            = "app"
      ip_protocol      = "tcp"
      from_port        = 8080
      to_port          = 8081
      referenced_group = "web"
      description      = "App API from the web tier"
    }
    "app/in/icmp/8:0/cidr:10.0.0.0/16" = {
      group       = "app"
      ip_protocol = "icmp"
      from_port   = 8 # ICMP type (echo request)
      to_port     = 0 # ICMP code
      cidr_ipv4   = "10.0.0.0/16"
      description = "Ping from the VPC"
    }
  }

  egress_rules = {
    # Open egress is two explicit rules; a group without egress rules has none.
    "web/out/all/all/cidr:0.0.0.0/0" = {
      group       = "web"
      ip_protocol = "-1"
      cidr_ipv4   = "0.0.0.0/0"
      description = "All outbound IPv4"
    }
    "web/out/all/all/cidr:::/0" = {
      group       = "web"
      ip_protocol = "-1"
      cidr_ipv6   = "::/0"
      description = "All outbound IPv6"
    }
    "app/out/tcp/5432/cidr:10.0.0.0/16" = {
      group       = "app"
      ip_protocol = "tcp"
      from_port   = 5432
      to_port     = 5432
      cidr_ipv4   = "10.0.0.0/16"
      description = "PostgreSQL in the VPC"
    }
  }
}

output "security_group_ids" {
  description = "Security group ID per role."
  value       = module.security_groups.security_group_ids
}

output "ingress_rule_ids" {
  description = "Rule ID per ingress rule key."
  value       = module.security_groups.ingress_rule_ids
}

output "egress_rule_ids" {
  description = "Rule ID per egress rule key."
  value       = module.security_groups.egress_rule_ids
}
