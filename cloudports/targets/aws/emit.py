"""AWS desired state -> a self-contained Terraform root module using modules/aws-security-groups."""

from __future__ import annotations

from pathlib import Path

from cloudports.emit import files
from cloudports.emit.hcl import block, string
from cloudports.targets.aws.model import AwsState, SgRule

MODULE = "aws-security-groups"


def _rule_value(rule: SgRule) -> dict:
    value: dict = {"group": rule.group, "ip_protocol": rule.ip_protocol}
    if rule.ip_protocol != "-1":
        value["from_port"] = rule.from_port
        value["to_port"] = rule.to_port
    if rule.cidr_ipv4:
        value["cidr_ipv4"] = rule.cidr_ipv4
    if rule.cidr_ipv6:
        value["cidr_ipv6"] = rule.cidr_ipv6
    if rule.referenced_group:
        value["referenced_group"] = rule.referenced_group
    value["description"] = rule.description
    return value


def rules_locals(state: AwsState) -> dict:
    """The module's inputs as plain data (also what tests compare the parsed HCL against)."""
    return {
        "name_prefix": state.name_prefix,
        "tags": state.common_tags,
        "groups": {
            role: {"name": g.role, "description": g.description, "tags": g.tag_dict} for role, g in state.groups.items()
        },
        "ingress_rules": {k: _rule_value(r) for k, r in state.rules.items() if r.direction == "ingress"},
        "egress_rules": {k: _rule_value(r) for k, r in state.rules.items() if r.direction == "egress"},
    }


def _main_tf(state: AwsState) -> str:
    vpc_default = f"\n  default     = {string(state.vpc_id)}" if state.vpc_id else ""
    return f"""terraform {{
  required_version = ">= 1.5"
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }}
  }}
}}

# Credentials, region and endpoint come from the standard AWS environment (AWS_PROFILE, AWS_REGION,
# AWS_ENDPOINT_URL, ...), so the same root applies to AWS or to a local emulator.
provider "aws" {{
  region = var.region
}}

variable "vpc_id" {{
  description = "VPC in which the security groups are created"
  type        = string{vpc_default}
}}

variable "region" {{
  description = "AWS region"
  type        = string
  default     = {string(state.region)}
}}

module "security_groups" {{
  source = "./modules/{MODULE}"

  vpc_id        = var.vpc_id
  name_prefix   = local.name_prefix
  tags          = local.tags
  groups        = local.groups
  ingress_rules = local.ingress_rules
  egress_rules  = local.egress_rules
}}

output "security_group_ids" {{
  description = "Security group ID per role"
  value       = module.security_groups.security_group_ids
}}
"""


def emit_aws(state: AwsState, out: Path, phase: str | None = None) -> list[Path]:
    head = files.header(state.topology, phase)
    files.copy_module(MODULE, out)
    return files.write(
        out,
        {
            "main.tf": head + _main_tf(state),
            "rules.tf": head + block("locals", rules_locals(state)),
        },
    )
