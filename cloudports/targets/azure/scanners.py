"""What Terraform scanners report on this target's emitted rules, so that emit can write their baselines.

checkov (3.x) fails an inbound allow rule from the internet (`*`, `0.0.0.0/0`, `Internet`, ...) that reaches
these ports, and any inbound UDP allowed from the internet (CKV_AZURE_77); a rule an `allow_exposure` accepts
goes into the `.checkov.baseline` emit writes (cloudports/emit/checkov.py), with the reason. The address is the
emitted root's: module "nsg", resource "this" (or "first" for a rule written first) keyed by the rule name.
"""

from __future__ import annotations

from collections.abc import Iterator

from cloudports.targets.azure.model import AzureState, NsgRule

CHECKOV_PORTS = {"CKV_AZURE_9": 3389, "CKV_AZURE_10": 22, "CKV_AZURE_160": 80}
CHECKOV_UDP = "CKV_AZURE_77"
ADDRESS = 'module.nsg.azurerm_network_security_rule.{resource}["{name}"]'
SPLIT_ADDRESS = 'module.nsg["{nsg}"].azurerm_network_security_rule.{resource}["{name}"]'  # one NSG per subnet
_INTERNET = {"*", "internet", "any"}  # and any prefix ending in /0, as checkov reads them


def _reaches(ranges: tuple[str, ...], port: int) -> bool:
    for text in ranges:
        low, _, high = text.partition("-")
        if text == "*" or int(low) <= port <= int(high or low):
            return True
    return False


def _checks(rule: NsgRule) -> list[str]:
    ids = [
        c
        for c, port in CHECKOV_PORTS.items()
        if rule.protocol in ("Tcp", "*") and _reaches(rule.destination_ports, port)
    ]
    return ids + ([CHECKOV_UDP] if rule.protocol in ("Udp", "*") else [])


def checkov_findings(state: AzureState) -> Iterator[tuple[str, list[str], list[str]]]:
    """(resource address, the check ids that fail on it, its spec origins) for each inbound allow rule from the
    internet that a check would fail."""
    for nsg, rule in sorted(state.all_rules(), key=lambda nr: (nr[0].name, nr[1].name)):
        name = rule.name
        from_internet = any(p.lower() in _INTERNET or p.endswith("/0") for p in rule.source_prefixes)
        if rule.direction != "Inbound" or rule.access != "Allow" or not from_internet:
            continue
        ids = _checks(rule)
        if ids:
            resource = "first" if name in nsg.written_first else "this"
            address = (SPLIT_ADDRESS if state.split else ADDRESS).format(nsg=nsg.name, resource=resource, name=name)
            yield address, ids, nsg.rule_origins.get(name, [])
