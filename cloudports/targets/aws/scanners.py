"""What Terraform scanners report on this target's emitted rules, so that emit can write their baselines.

checkov (3.x) fails an ingress rule from 0.0.0.0/0 or ::/0 that reaches these ports; a rule an `allow_exposure`
accepts goes into the `.checkov.baseline` emit writes (cloudports/emit/checkov.py), with the reason.
The address is the emitted root's: module "security_groups", resource "this" keyed by the rule's Terraform key.
"""

from __future__ import annotations

from collections.abc import Iterator

from cloudports.targets.aws.emit import emitted_keys
from cloudports.targets.aws.model import AwsState

# check id -> port it guards (-1: the rule opens every port and protocol)
CHECKOV_INGRESS = {"CKV_AWS_24": 22, "CKV_AWS_25": 3389, "CKV_AWS_260": 80, "CKV_AWS_277": -1}
ADDRESS = 'module.security_groups.aws_vpc_security_group_ingress_rule.this["{key}"]'


def checkov_findings(state: AwsState) -> Iterator[tuple[str, list[str], list[str]]]:
    """(resource address, the check ids that fail on it, its spec origins) for each ingress rule that a check
    would fail: open to the whole IPv4 or IPv6 internet on a port a check guards."""
    # The rules open to the internet picked before sorting; the emitted keys (which take every rule: rules
    # that would share a key keep their own) worked out only once a rule is reported: most specs have none.
    open_rules = {
        key: rule
        for key, rule in state.rules.items()
        if rule.direction == "ingress" and (rule.cidr_ipv4 or rule.cidr_ipv6) in ("0.0.0.0/0", "::/0")
    }
    addresses: dict[str, str] | None = None
    for key, rule in sorted(open_rules.items()):
        every = rule.ip_protocol == "-1"
        ranged = rule.ip_protocol in ("tcp", "udp") and rule.from_port is not None and rule.to_port is not None
        ids = [
            check
            for check, port in CHECKOV_INGRESS.items()
            if every or (ranged and port >= 0 and rule.from_port <= port <= rule.to_port)  # type: ignore[operator]
        ]
        if ids:
            addresses = emitted_keys(state) if addresses is None else addresses
            yield ADDRESS.format(key=addresses[key]), ids, state.rule_origins.get(key, [])
