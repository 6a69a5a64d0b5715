"""AWS desired state -> a self-contained Terraform root module using modules/aws-security-groups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from cloudports.emit import files
from cloudports.emit.hcl import Raw, block, string
from cloudports.emit.params import Parameter, Variables, choose, variables_hcl
from cloudports.targets.aws.emit_members import FILE as MEMBERS_FILE
from cloudports.targets.aws.emit_members import members_tf
from cloudports.targets.aws.keys import terraform_keys
from cloudports.targets.aws.model import AwsState, SgRule

MODULE = "aws-security-groups"
DUPLICATE = "another rule of the same group and peer has this port, and AWS refuses a duplicate rule."


def _single_port(rule: SgRule) -> bool:
    return rule.ip_protocol in ("tcp", "udp") and rule.from_port == rule.to_port


def _variable(rule: SgRule, chosen: Variables | None) -> str | None:
    return chosen.of(rule.port_params, _single_port(rule)) if chosen else None


def _rule_value(rule: SgRule, variable: str | None = None) -> dict:
    value: dict = {"group": rule.group, "ip_protocol": rule.ip_protocol}
    if rule.ip_protocol != "-1":
        value["from_port"] = Raw(f"var.{variable}") if variable else rule.from_port
        value["to_port"] = Raw(f"var.{variable}") if variable else rule.to_port
    if rule.cidr_ipv4:
        value["cidr_ipv4"] = rule.cidr_ipv4
    if rule.cidr_ipv6:
        value["cidr_ipv6"] = rule.cidr_ipv6
    if rule.referenced_group:
        value["referenced_group"] = rule.referenced_group
    if rule.referenced_group_id:  # a foreign group (targets.aws.security_groups): referenced, never managed
        value["referenced_security_group_id"] = rule.referenced_group_id
    if rule.prefix_list_id:  # targets.aws.prefix_lists: the list is referenced, never managed
        value["prefix_list_id"] = rule.prefix_list_id
    value["description"] = rule.description
    return value


def _keys(state: AwsState, chosen: Variables | None) -> dict[SgRule, str]:
    """Each rule's key in the emitted root (keys.py: what the rule is for), so a changed port range or a widened
    network is an in-place update; a rule whose port is a variable is keyed by the variable."""
    chosen = chosen if chosen and chosen.variables else None  # without variables, every port is its number
    return terraform_keys(state.rules.values(), lambda r: _variable(r, chosen))


def _rules(state: AwsState, direction: str, chosen: Variables | None, keys: dict[SgRule, str]) -> dict:
    chosen = chosen if chosen and chosen.variables else None
    found = {keys[r]: _rule_value(r, _variable(r, chosen)) for r in state.rules.values() if r.direction == direction}
    return dict(sorted(found.items()))


def emitted_keys(state: AwsState) -> dict[str, str]:
    """Rule key -> its key in the emitted root, from the state alone (for scanners' baselines): a parameter a port
    came from is always a number, so the spec's parameters that become variables follow from the rules."""
    names = {p for rule in state.rules.values() for p in rule.port_params if p}
    chosen = choose_variables(state, {name: Parameter(name, 0, "") for name in names})
    return {rule.key: key for rule, key in _keys(state, chosen).items()}


def refused_values(state: AwsState, chosen: Variables) -> dict[str, set[int]]:
    """Per variable, the ports that would make one of its rules a duplicate of a fixed rule (same group,
    direction, protocol and peer), which AWS refuses (InvalidPermission.Duplicate)."""
    fixed: dict[tuple, set[int]] = defaultdict(set)
    if not chosen.variables:  # most specs: no rule to look at twice
        return {}
    for rule in state.rules.values():
        if _single_port(rule) and _variable(rule, chosen) is None and rule.from_port is not None:
            fixed[(rule.group, rule.direction, rule.ip_protocol, rule.peer)].add(rule.from_port)
    refused: dict[str, set[int]] = defaultdict(set)
    for rule in state.rules.values():
        variable = _variable(rule, chosen)
        if variable:
            refused[variable] |= fixed.get((rule.group, rule.direction, rule.ip_protocol, rule.peer), set())
    return refused


def choose_variables(state: AwsState, parameters: Mapping[str, Parameter]) -> Variables:
    if not parameters:  # no parameter can be a variable: no need to read every rule's
        return Variables(parameters, frozenset(), frozenset())
    return choose(parameters, ((r.port_params, _single_port(r)) for r in state.rules.values()))


def rules_locals(state: AwsState, chosen: Variables | None = None) -> dict:
    """The module's inputs as data (also what tests compare the parsed HCL against); ports of variables are
    references to them."""
    keys = _keys(state, chosen)
    return {
        "name_prefix": state.name_prefix,
        "tags": state.common_tags,
        "groups": {
            key: {"name": key, "description": g.description, "tags": g.tag_dict} for key, g in state.groups.items()
        },
        "ingress_rules": _rules(state, "ingress", chosen, keys),
        "egress_rules": _rules(state, "egress", chosen, keys),
    }


def _main_tf(state: AwsState, chosen: Variables) -> str:
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
{variables_hcl(chosen, refused_values(state, chosen), DUPLICATE)}
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


def emit_aws(
    state: AwsState, out: Path, phase: str | None = None, parameters: Mapping[str, Parameter] | None = None
) -> list[Path]:
    """parameters: the spec's (cloudports.emit.params.spec_parameters); those that can be become variables."""
    head = files.header(state.topology, phase)
    files.copy_module(MODULE, out)
    chosen = choose_variables(state, parameters or {})
    members = members_tf(state, head)
    if not members:
        (out / MEMBERS_FILE).unlink(missing_ok=True)  # a spec that no longer names machines
    return files.write(
        out,
        {
            "main.tf": head + _main_tf(state, chosen),
            "rules.tf": head + block("locals", rules_locals(state, chosen)),
            **members,
        },
    )
