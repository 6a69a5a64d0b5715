"""AWS rules as people read them: one row per rule for `show`, one line per rule in plans."""

from __future__ import annotations

from cloudports.targets.aws.model import AwsState, SgRule
from cloudports.targets.base import Row


def peer_text(rule: SgRule, names: dict[str, str]) -> str:
    """'sg d365-web', 'sg sg-0abc' (a group cloudports does not own), 'prefix list pl-1', or the CIDR; with the
    spec's network a group or list is, where the rule was built from one: 'prefix list pl-1 (offices)'."""
    peer = rule.peer.split(":", 1)[1]
    network = f" ({rule.network})" if rule.network else ""
    if rule.referenced_group:
        return f"sg {names.get(rule.referenced_group, rule.referenced_group)}"
    if rule.referenced_group_id:
        return f"sg {peer}{network}"
    if rule.prefix_list_id:
        return f"prefix list {peer}{network}"
    return peer


def protocol_text(rule: SgRule) -> str:
    return "all" if rule.ip_protocol == "-1" else rule.ip_protocol


def rule_summary(rule: SgRule, names: dict[str, str]) -> str:
    way = "from" if rule.direction == "ingress" else "to"
    what = "all traffic" if rule.ip_protocol == "-1" else f"{rule.ip_protocol} {rule.ports}"
    return f"{names.get(rule.group, rule.group)} {rule.direction}: {what} {way} {peer_text(rule, names)}"


def rows(state: AwsState) -> list[Row]:
    names = {role: g.name for role, g in state.groups.items()}
    return [
        {
            "group": names[r.group],
            "direction": r.direction,
            "protocol": protocol_text(r),
            "ports": r.ports,
            "peer": peer_text(r, names),
            "description": r.description,
            "origin": ", ".join(state.rule_origins.get(k, [])),
            "key": k,
        }
        for k, r in state.rules.items()
    ]


def row_ends(row: Row) -> tuple[set[str], set[str]]:
    """A `rows` row's sources and destinations: its group on one side, its peer (bare) on the other."""
    peer = str(row["peer"])
    peer = peer.split(" ", 1)[1] if peer.startswith("sg ") else peer
    group = {str(row["group"])}
    return ({peer}, group) if row["direction"] == "ingress" else (group, {peer})
