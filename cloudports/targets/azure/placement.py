"""Importing one NSG per subnet: which rules a spec can say, given where each role's machines sit.

A spec gives a role the same rules in every subnet that lists it (targets.azure.subnets[].roles). A lab need not:
each NSG governs only the NICs of its own subnets, so a rule in front-nsg for the ASG `app` does nothing while every
`app` machine sits behind back-nsg, and the two NSGs may give `app` different rules. Turning such a rule into a flow
would write it into every NSG of `app`'s subnets and open traffic the lab never let through. So an allow rule is a
flow only where each role it guards has, in every NSG that governs a machine of that role, the same halves (the
same peers and ports); otherwise it is kept as it is (targets.azure.unmanaged), deciding exactly what it decides
today. A role with no machine in the imported subnets has nothing at stake: its rules become flows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from cloudports.importer.model import Half
from cloudports.targets.azure.arm import arm_errors


def role_homes(client: Any, rg: str, nsgs: Iterable[Any], role_of: Mapping[str, str]) -> dict[str, set[str]]:
    """Role -> the names of the imported NSGs that govern its machines: those of the subnets its NICs (of the
    resource group) sit in."""
    nsg_of = {str(s.id).lower(): str(n.name) for n in nsgs for s in (getattr(n, "subnets", None) or [])}
    with arm_errors("listing network interfaces in", rg):
        nics = list(client.network_interfaces.list(rg))
    homes: dict[str, set[str]] = defaultdict(set)
    for nic in nics:
        for config in getattr(nic, "ip_configurations", None) or []:
            nsg = nsg_of.get(str(getattr(getattr(config, "subnet", None), "id", "")).lower())
            for asg in getattr(config, "application_security_groups", None) or []:
                role = role_of.get(str(asg.id).lower())
                if nsg and role:
                    homes[role].add(nsg)
    return dict(homes)


def _what(half: Half) -> Half:
    """A half by what it allows (not by the rule it came from or its description)."""
    return replace(half, description="", rule="")


def misplaced(halves: Mapping[str, list[Half]], homes: Mapping[str, set[str]]) -> dict[tuple[str, str], str]:
    """(NSG, rule) -> why the rule cannot be a flow; `halves`: NSG name -> the halves of its rules (each naming its
    rule). A half of role R in NSG S fits when R has no machine anywhere imported, or when S governs some machine
    of R and every NSG governing one has the same half."""
    allowed = {nsg: {_what(h) for h in found} for nsg, found in halves.items()}
    why: dict[tuple[str, str], str] = {}
    for nsg, found in halves.items():
        for half in found:
            home = homes.get(half.role)
            if not home or (nsg, half.rule) in why:
                continue
            if nsg not in home:
                why[(nsg, half.rule)] = (
                    f"applies to role {half.role}, whose machines sit behind {', '.join(sorted(home))}"
                )
            elif lacking := sorted(n for n in home if _what(half) not in allowed.get(n, set())):
                why[(nsg, half.rule)] = (
                    f"gives role {half.role} what {', '.join(lacking)} does not give its machines there"
                )
    return why
