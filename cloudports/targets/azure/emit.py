"""Azure desired state -> a self-contained Terraform root module using modules/azure-nsg.

Priorities are recorded in cloudports-priorities.json next to the HCL; the next emit into the same directory
reads it back so that adding or removing a flow never renumbers another rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from cloudports.emit import files
from cloudports.emit.hcl import Raw, block, string
from cloudports.emit.params import Parameter, Variables, choose, variables_hcl
from cloudports.targets.azure.emit_members import FILE as MEMBERS_FILE
from cloudports.targets.azure.emit_members import members_tf
from cloudports.targets.azure.model import AzureState, NsgRule

MODULE = "azure-nsg"
PRIORITIES_FILE = "cloudports-priorities.json"


def read_previous_priorities(out: Path) -> dict[tuple[str, str], int]:
    path = Path(out) / PRIORITIES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {tuple(k.split("/", 1)): int(v) for k, v in data.get("priorities", {}).items()}
    except (ValueError, AttributeError):
        return {}  # a damaged record only costs stability, never correctness


def choose_variables(state: AzureState, parameters: Mapping[str, Parameter]) -> Variables:
    usages = ((params, entry.isdigit()) for r in state.rules.values() for entry, params in r.port_params)
    return choose(parameters, usages)


def _ports(rule: NsgRule, chosen: Variables | None) -> list:
    """The port entries, a variable's as a reference to it (a value equal to another entry is harmless: azurerm
    holds the ports as a set)."""
    params = dict(rule.port_params)
    variables = {e: chosen.of(params.get(e, ("",)), e.isdigit()) for e in rule.destination_ports} if chosen else {}
    return [Raw(f"tostring(var.{variables[e]})") if variables.get(e) else e for e in rule.destination_ports]


def _rule_value(rule: NsgRule, chosen: Variables | None = None) -> dict:
    value: dict = {
        "priority": rule.priority,
        "direction": rule.direction,
        "access": rule.access,
        "protocol": rule.protocol,
        "destination_port_ranges": _ports(rule, chosen),
    }
    for side in ("source", "destination"):
        if getattr(rule, f"{side}_asgs"):
            value[f"{side}_application_security_groups"] = list(getattr(rule, f"{side}_asgs"))
        else:
            value[f"{side}_address_prefixes"] = list(getattr(rule, f"{side}_prefixes"))
    value["description"] = rule.description
    return value


def rules_locals(state: AzureState, chosen: Variables | None = None) -> dict:
    """The module's inputs as data; ports of variables are references to them."""
    return {
        "nsg_name": state.nsg_name,
        "tags": state.tags,
        "application_security_groups": {role: {"name": a.name, "tags": dict(a.tags)} for role, a in state.asgs.items()},
        "security_rules": {name: _rule_value(r, chosen) for name, r in state.rules.items()},
        "subnets": {
            f"{s.virtual_network}/{s.name}": {
                "virtual_network": s.virtual_network,
                "name": s.name,
                "resource_group": s.resource_group,
            }
            for s in state.subnets
        },
    }


def _main_tf(state: AzureState, chosen: Variables) -> str:
    rg_default = f"\n  default     = {string(state.resource_group)}" if state.resource_group else ""
    providers = f"""terraform {{
  required_version = ">= 1.5"
  required_providers {{
    azurerm = {{
      source  = "hashicorp/azurerm"
      version = ">= 4.73, < 5.0"
    }}
  }}
}}

provider "azurerm" {{
  features {{}}
}}

variable "resource_group_name" {{
  description = "Resource group of the NSG and the application security groups"
  type        = string{rg_default}
}}

variable "location" {{
  description = "Azure region"
  type        = string
  default     = {string(state.location)}
}}
"""
    return providers + variables_hcl(chosen) + _MODULE_TF


# Subnet IDs, the module call and the outputs: the same for every spec.
_MODULE_TF = f"""
data "azurerm_client_config" "current" {{}}

locals {{
  # Subnets the spec names, as resource IDs (a subnet without its own resource group uses the NSG's).
  subnet_ids = {{
    for key, s in local.subnets : key => format(
      "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s",
      data.azurerm_client_config.current.subscription_id,
      coalesce(s.resource_group, var.resource_group_name),
      s.virtual_network,
      s.name,
    )
  }}
}}

module "nsg" {{
  source = "./modules/{MODULE}"

  resource_group_name         = var.resource_group_name
  location                    = var.location
  nsg_name                    = local.nsg_name
  tags                        = local.tags
  application_security_groups = local.application_security_groups
  security_rules              = local.security_rules
  subnet_ids                  = local.subnet_ids
}}

output "network_security_group_id" {{
  value = module.nsg.network_security_group_id
}}

output "application_security_group_ids" {{
  description = "Application security group ID per role (put each VM's NIC into its role's ASG)"
  value       = module.nsg.application_security_group_ids
}}
"""


def emit_azure(
    state: AzureState, out: Path, phase: str | None = None, parameters: Mapping[str, Parameter] | None = None
) -> list[Path]:
    """parameters: the spec's (cloudports.emit.params.spec_parameters); those that can be become variables."""
    head = files.header(state.topology, phase)
    files.copy_module(MODULE, out)
    chosen = choose_variables(state, parameters or {})
    members = members_tf(state, head)
    if not members:
        (out / MEMBERS_FILE).unlink(missing_ok=True)  # a spec that no longer names machines
    priorities = {f"{r.direction}/{r.name}": r.priority for r in state.rules.values()}
    record = {"comment": "NSG rule priorities kept stable across emits; see cloudports docs", "priorities": priorities}
    return files.write(
        out,
        {
            "main.tf": head + _main_tf(state, chosen),
            "rules.tf": head + block("locals", rules_locals(state, chosen)),
            **members,
            PRIORITIES_FILE: json.dumps(record, indent=2, sort_keys=True) + "\n",
        },
    )
