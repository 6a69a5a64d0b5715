"""Security rules of an NSG (the securityRules sub-collection) and its six default rules.

The inline ``properties.securityRules`` of an NSG and this sub-collection are the same data (see nsgs.py).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ArmError
from .model import DEFAULT_RULE_TYPE, NSG_TYPE, RULE_TYPE, Nsg, Request, Response, Rule, key_of, new_etag
from .resources import Handlers
from .rule_validation import check_rule_set, rule_asg_ids, validate_rule
from .store import check_preconditions, get_child
from .validation import validate_name

# The six default rules (name, direction, priority, source, destination, access, description).
DEFAULT_RULES = [
    ("AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", "Inbound", 65500, "*", "*", "Deny", "Deny all inbound traffic"),
    ("AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny", "Deny all outbound traffic"),
]  # fmt: skip


def render_rule(nsg: Nsg, rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "id": f"{nsg.id}/securityRules/{rule.name}",
        "etag": nsg.etag,  # Azure's Network RP gives a rule the etag of its NSG
        "type": RULE_TYPE,
        "properties": {"provisioningState": rule.state, **json.loads(json.dumps(rule.props))},
    }


def render_default_rules(nsg: Nsg) -> list[dict[str, Any]]:
    out = []
    for name, direction, priority, source, destination, access, description in DEFAULT_RULES:
        props = {
            "provisioningState": "Succeeded",
            "description": description,
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": destination,
            "access": access,
            "priority": priority,
            "direction": direction,
            "sourcePortRanges": [],
            "destinationPortRanges": [],
            "sourceAddressPrefixes": [],
            "destinationAddressPrefixes": [],
        }
        out.append(
            {
                "name": name,
                "id": f"{nsg.id}/defaultSecurityRules/{name}",
                "etag": nsg.etag,
                "type": DEFAULT_RULE_TYPE,
                "properties": props,
            }
        )
    return out


class SecurityRuleHandlers(Handlers):
    routes = ("rule_list", "rule", "default_rule_list", "default_rule")

    def _nsg(self, sub: str, rg: str, nsg: str) -> Nsg:
        return self.store.get(self.store.nsgs, NSG_TYPE, sub, rg, nsg)

    def rule_list_get(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        target = self._nsg(sub, rg, nsg)
        return self.page(req, [render_rule(target, r) for r in target.rules.values()])

    def rule_get(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        target = self._nsg(sub, rg, nsg)
        return 200, {}, render_rule(target, get_child(target.rules, rule, target.id, "securityRules"))

    def rule_put(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        body = req.json_object()
        target = self._nsg(sub, rg, nsg)
        validate_name(rule)
        existing = target.rules.get(rule.lower())
        check_preconditions(req, target.etag if existing else None)
        self.ops.ensure_unlocked(target.id)
        rule_id = f"{target.id}/securityRules/{rule}"
        canonical = validate_rule(
            body.get("properties"),
            rule_id=rule_id,
            path="properties",
            resolve_asg=self.store.asg_resolver(location=target.location, referrer=rule_id),
        )
        self.store.check_rule_asg_vnets(rule_id, rule_asg_ids(canonical))
        others = [(r.name, r.props) for k, r in target.rules.items() if k != rule.lower()]
        check_rule_set([*others, (rule, canonical)], target.id)

        entry = Rule(existing.name if existing else rule, canonical, "Updating")
        if existing is not None:  # replaced in place: the rule keeps its position
            target.rules = {k: (entry if k == rule.lower() else r) for k, r in target.rules.items()}
        else:
            target.rules[rule.lower()] = entry
        target.etag = new_etag()
        target.state = "Updating"
        headers = self.ops.start(req, sub, target.location, lock=target.id, targets=[target, entry])
        return (200 if existing else 201), headers, render_rule(target, entry)

    def rule_delete(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        target = self.store.nsgs.get(key_of(sub, rg, nsg))
        existing = target.rules.get(rule.lower()) if target else None
        check_preconditions(req, target.etag if target and existing else None)
        if target is None or existing is None:
            return 204, {}, None
        self.ops.ensure_unlocked(target.id)
        existing.state = "Deleting"
        target.state = "Updating"
        target.etag = new_etag()

        def remove() -> None:
            if target.rules.get(rule.lower()) is existing:
                del target.rules[rule.lower()]

        headers = self.ops.start(
            req, sub, target.location, lock=target.id, targets=[target, existing], on_success=remove, delete=True
        )
        return 202, headers, None

    def default_rule_list_get(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        return self.page(req, render_default_rules(self._nsg(sub, rg, nsg)))

    def default_rule_get(self, req: Request, sub: str, rg: str, nsg: str, rule: str) -> Response:
        target = self._nsg(sub, rg, nsg)
        for item in render_default_rules(target):
            if item["name"].lower() == rule.lower():
                return 200, {}, item
        raise ArmError(404, "NotFound", f"Resource {target.id}/defaultSecurityRules/{rule} not found.")
