"""Azure rules as people read them: one row per rule for `show`, one line per rule in plans."""

from __future__ import annotations

from cloudports.targets.azure.model import AzureState, NsgRule
from cloudports.targets.base import Row


def side_text(rule: NsgRule, which: str, names: dict[str, str]) -> str:
    """One side of a rule: 'asg d365-web-asg' per ASG (an ASG cloudports does not own by its id's last part),
    else the prefixes."""
    asgs = rule.source_asgs if which == "source" else rule.destination_asgs
    if asgs:
        return ", ".join(f"asg {names.get(a, a.rsplit('/', 1)[-1])}" for a in asgs)
    return ", ".join(rule.source_prefixes if which == "source" else rule.destination_prefixes)


def rule_summary(rule: NsgRule, names: dict[str, str]) -> str:
    what = "any protocol" if rule.protocol == "*" else rule.protocol
    ports = "all ports" if rule.destination_ports == ("*",) else "port " + ",".join(rule.destination_ports)
    return (
        f"{rule.priority} {rule.direction} {rule.access}: {what} {ports} "
        f"from {side_text(rule, 'source', names) or '?'} to {side_text(rule, 'destination', names) or '?'}"
    )


def rows(state: AzureState) -> list[Row]:
    """One NSG: its rules by direction and priority; one per subnet: the same per NSG, with an 'nsg' column."""
    names = {role: a.name for role, a in state.asgs.items()}
    return [
        {
            **({"nsg": nsg.name} if state.split else {}),
            "priority": r.priority,
            "name": r.name,
            "direction": r.direction,
            "access": r.access,
            "protocol": r.protocol,
            "source": side_text(r, "source", names),
            "destination": side_text(r, "destination", names),
            "ports": ",".join(r.destination_ports),
            "description": r.description,
            "origin": ", ".join(nsg.rule_origins.get(r.name, [])),
        }
        for nsg in state.nsgs.values()
        for r in sorted(nsg.rules.values(), key=lambda r: (r.direction, r.priority))
    ]


def row_ends(row: Row) -> tuple[set[str], set[str]]:
    """A `rows` row's sources and destinations, as side_text writes them: ASG names (bare) or address prefixes;
    none for a Deny rule, which lets nothing through."""
    if row["access"] != "Allow":
        return set(), set()

    def names(text: object) -> set[str]:
        return {item.removeprefix("asg ") for item in str(text).split(", ") if item}

    return names(row["source"]), names(row["destination"])
