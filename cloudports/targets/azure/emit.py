"""Azure desired state -> a self-contained Terraform root module using modules/azure-nsg.

Priorities and what each rule holds are recorded in cloudports-priorities.json next to the HCL; the next emit
into the same directory reads them back so that adding or removing a flow never renames, renumbers or rewrites a
rule that did not carry it (identity.py): Terraform updates rules in place instead of replacing them. Rules that
take over what another rule of the change stops allowing are written first (written_first, handover.py), and a
rule that changes between the module's two rule resources gets a `moved` block in moved.tf.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloudports.emit import files
from cloudports.emit.hcl import Raw, block, string
from cloudports.emit.params import Parameter, Variables, choose, variables_hcl
from cloudports.targets.azure.emit_members import FILE as MEMBERS_FILE
from cloudports.targets.azure.emit_members import members_tf
from cloudports.targets.azure.handover import taking_over
from cloudports.targets.azure.model import AzureState, Nsg, NsgRule, Priorities
from cloudports.targets.azure.priorities import ONLY_NSG
from cloudports.targets.azure.scanners import ADDRESS, SPLIT_ADDRESS

MODULE = "azure-nsg"
PRIORITIES_FILE = "cloudports-priorities.json"
MOVED_FILE = "moved.tf"


def read_record(out: Path) -> dict[str, Any]:
    """The record the last emit left in `out`, parsed once for everything read back from it ({} without one; a
    damaged record only costs stability, never correctness)."""
    path = Path(out) / PRIORITIES_FILE
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_previous_priorities(out: Path) -> Priorities:
    return previous_priorities(read_record(out))


def read_previous_rules(out: Path) -> dict[str, list[NsgRule]]:
    return previous_rules(read_record(out))


def previous_priorities(record: Mapping[str, Any]) -> Priorities:
    """NSG name -> (direction, rule name) -> priority. Keys are 'direction/rule' for the one NSG of a spec
    (filed under ONLY_NSG: the format predates several NSGs) and 'nsg/direction/rule' with one NSG per subnet."""
    found: Priorities = {}
    try:
        for key, value in record.get("priorities", {}).items():
            nsg, direction, name = key.split("/", 2) if key.count("/") == 2 else (ONLY_NSG, *key.split("/", 1))
            found.setdefault(nsg, {})[(direction, name)] = int(value)
    except (ValueError, AttributeError, TypeError):
        return {}
    return found


def previous_rules(record: Mapping[str, Any]) -> dict[str, list[NsgRule]]:
    """NSG name (ONLY_NSG for the one NSG of a spec) -> the allow rules the last emit recorded (their contents)."""
    found: dict[str, list[NsgRule]] = {}
    try:
        for key, value in record.get("rules", {}).items():
            nsg, direction, name = key.split("/", 2) if key.count("/") == 2 else (ONLY_NSG, *key.split("/", 1))
            side: dict[str, Any] = {f: tuple(str(v) for v in value.get(f, ())) for f in _SIDES}
            rule = NsgRule(name, direction, "Allow", str(value["protocol"]), tuple(value["ports"]), **side)
            found.setdefault(nsg, []).append(rule)
    except (ValueError, AttributeError, TypeError, KeyError):
        return {}
    return found


def _previous_keys(out: Path) -> tuple[set[str], set[str]]:
    """The record's rule keys, and those of them the last emit wrote first."""
    record = read_record(out)
    try:
        return set(record.get("priorities", {})), {str(key) for key in record.get("written_first", [])}
    except (AttributeError, TypeError):
        return set(), set()


def mark_written_first(state: AzureState, previous: Mapping[str, list[NsgRule]]) -> None:
    """Sets each NSG's written_first: the rules that take over what another rule allowed in the last emit
    (previous: read_previous_rules)."""
    for nsg in state.nsgs.values():
        nsg.written_first = frozenset(
            taking_over(previous.get(nsg.name if state.split else ONLY_NSG, []), nsg.rules.values())
        )


def _written_first(state: AzureState) -> set[str]:
    """Record keys of the rules written first."""
    return {_key(state, nsg, nsg.rules[name]) for nsg in state.nsgs.values() for name in nsg.written_first}


def _moved_tf(state: AzureState, first: set[str], out: Path) -> str:
    """`moved` blocks for the rules that change between the module's rule resources ("first" and "this") since
    the last emit, so that Terraform moves them in its state instead of destroying and re-creating them."""
    before, before_first = _previous_keys(out)
    if not before:  # a first emit into `out`: nothing to move (and no need to sort every rule to find that)
        return ""
    address = SPLIT_ADDRESS if state.split else ADDRESS
    blocks = []
    for nsg, rule in sorted(state.all_rules(), key=lambda nr: (nr[0].name, nr[1].direction, nr[1].name)):
        key = _key(state, nsg, rule)
        if key not in before or (key in before_first) == (key in first):
            continue
        moves = ("first", "this") if key in before_first else ("this", "first")
        where = [address.format(nsg=nsg.name, resource=resource, name=rule.name) for resource in moves]
        blocks.append(f"moved {{\n  from = {where[0]}\n  to   = {where[1]}\n}}\n")
    return "\n".join(blocks)


_SIDES = ("source_asgs", "source_prefixes", "destination_asgs", "destination_prefixes")


def _key(state: AzureState, nsg: Nsg, rule: NsgRule) -> str:
    return f"{nsg.name}/{rule.direction}/{rule.name}" if state.split else f"{rule.direction}/{rule.name}"


def _priority_record(state: AzureState) -> dict[str, int]:
    return {_key(state, nsg, rule): rule.priority for nsg, rule in state.all_rules()}


# json.dumps(value, sort_keys=True), with one encoder: dumps makes a new one per call when given an option
_ONE_LINE = json.JSONEncoder(sort_keys=True).encode


def _record_text(record: dict, rules: dict[str, dict]) -> str:
    """The record as JSON, each rule's contents on one line (a large NSG's record stays quick to write and its
    changes read as one line per rule)."""
    head = json.dumps(record, indent=2, sort_keys=True).removesuffix("\n}")
    lines = (f"    {json.dumps(key)}: {_ONE_LINE(value)}" for key, value in sorted(rules.items()))
    return head + ',\n  "rules": {\n' + ",\n".join(lines) + "\n  }\n}\n"


def _rules_record(state: AzureState) -> dict[str, dict]:
    """What each allow rule holds: the next emit keeps each pair in its rule (read_previous_rules)."""
    return {
        _key(state, nsg, rule): {
            "protocol": rule.protocol,
            "ports": list(rule.destination_ports),
            **{side: list(getattr(rule, side)) for side in _SIDES if getattr(rule, side)},
        }
        for nsg, rule in state.all_rules()
        if rule.access == "Allow"
    }


def choose_variables(state: AzureState, parameters: Mapping[str, Parameter]) -> Variables:
    if not parameters:  # no parameter can be a variable: no need to read every rule's ports (as aws/emit.py)
        return Variables(parameters, frozenset(), frozenset())
    usages = ((params, entry.isdigit()) for _nsg, r in state.all_rules() for entry, params in r.port_params)
    return choose(parameters, usages)


def _ports(rule: NsgRule, chosen: Variables | None) -> list:
    """The port entries, a variable's as a reference to it (a value equal to another entry is harmless: azurerm
    holds the ports as a set)."""
    if chosen is None or not chosen.variables:  # no port is a variable: the entries as they are
        return list(rule.destination_ports)
    params = dict(rule.port_params)
    variables = {e: chosen.of(params.get(e, ("",)), e.isdigit()) for e in rule.destination_ports}
    return [Raw(f"tostring(var.{variables[e]})") if variables.get(e) else e for e in rule.destination_ports]


def _rule_value(rule: NsgRule, chosen: Variables | None = None, first: bool = False) -> dict:
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
    if first:
        value["written_first"] = True
    return value


def rules_locals(state: AzureState, chosen: Variables | None = None) -> dict:
    """The module's inputs as data; ports of variables are references to them. One NSG: its name, rules and
    subnets; one per subnet: network_security_groups, name -> its rules and the keys of its subnets."""

    def rules(nsg: Nsg) -> dict:
        return {name: _rule_value(r, chosen, name in nsg.written_first) for name, r in nsg.rules.items()}

    asgs = {role: {"name": a.name, "tags": dict(a.tags)} for role, a in state.asgs.items()}
    subnets = {
        s.key: {"virtual_network": s.virtual_network, "name": s.name, "resource_group": s.resource_group}
        for nsg in state.nsgs.values()
        for s in nsg.subnets
    }
    if state.split:
        nsgs = {
            nsg.name: {
                "security_rules": rules(nsg),
                "subnets": [s.key for s in nsg.subnets],
            }
            for nsg in state.nsgs.values()
        }
        return {
            "tags": state.tags,
            "application_security_groups": asgs,
            "network_security_groups": nsgs,
            "subnets": subnets,
        }
    nsg = state.nsg
    return {
        "nsg_name": nsg.name,
        "tags": state.tags,
        "application_security_groups": asgs,
        "security_rules": rules(nsg),
        "subnets": subnets,
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
    return providers + variables_hcl(chosen) + _SUBNET_IDS + (_SPLIT_TF if state.split else _MODULE_TF)


# Subnet IDs, the module call(s) and the outputs: the same for every spec (with one NSG, or one per subnet).
_SUBNET_IDS = """
data "azurerm_client_config" "current" {}

locals {
  # Subnets the spec names, as resource IDs (a subnet without its own resource group uses the NSG's).
  subnet_ids = {
    for key, s in local.subnets : key => format(
      "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s",
      data.azurerm_client_config.current.subscription_id,
      coalesce(s.resource_group, var.resource_group_name),
      s.virtual_network,
      s.name,
    )
  }
}
"""

_MODULE_TF = f"""
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


_SPLIT_TF = f"""
# One application security group per role, shared by every NSG (the rules of each NSG name them).
resource "azurerm_application_security_group" "this" {{
  for_each = local.application_security_groups

  name                = each.value.name
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = merge(local.tags, each.value.tags)
}}

# One NSG per subnet, with the rules of the roles whose machines sit in it.
module "nsg" {{
  source   = "./modules/{MODULE}"
  for_each = local.network_security_groups

  resource_group_name            = var.resource_group_name
  location                       = var.location
  nsg_name                       = each.key
  tags                           = local.tags
  application_security_group_ids = {{ for role, asg in azurerm_application_security_group.this : role => asg.id }}
  security_rules                 = each.value.security_rules
  subnet_ids                     = {{ for key in each.value.subnets : key => local.subnet_ids[key] }}
}}

output "network_security_group_ids" {{
  description = "Network security group ID per NSG name"
  value       = {{ for name, nsg in module.nsg : name => nsg.network_security_group_id }}
}}

output "application_security_group_ids" {{
  description = "Application security group ID per role (put each VM's NIC into its role's ASG)"
  value       = {{ for role, asg in azurerm_application_security_group.this : role => asg.id }}
}}
"""


def emit_azure(
    state: AzureState, out: Path, phase: str | None = None, parameters: Mapping[str, Parameter] | None = None
) -> list[Path]:
    """parameters: the spec's (cloudports.emit.params.spec_parameters); those that can be become variables. The
    state is the target's emit_state (built from the record in `out`, its written_first marked)."""
    head = files.header(state.topology, phase)
    files.copy_module(MODULE, out)
    chosen = choose_variables(state, parameters or {})
    members = members_tf(state, head)
    if not members:
        (out / MEMBERS_FILE).unlink(missing_ok=True)  # a spec that no longer names machines
    first = _written_first(state)
    moved = _moved_tf(state, first, out)
    if not moved:
        (out / MOVED_FILE).unlink(missing_ok=True)
    record: dict[str, Any] = {
        "comment": "NSG rule priorities and contents kept stable across emits; see cloudports docs",
        "priorities": _priority_record(state),
    }
    if first:  # only then, so that a spec emitted afresh has the record it always had
        record["written_first"] = sorted(first)
    return files.write(
        out,
        {
            "main.tf": head + _main_tf(state, chosen),
            "rules.tf": head + block("locals", rules_locals(state, chosen)),
            **members,
            **({MOVED_FILE: head + moved} if moved else {}),
            PRIORITIES_FILE: _record_text(record, _rules_record(state)),
        },
    )
