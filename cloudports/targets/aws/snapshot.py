"""One read of a VPC shared by every spec of a fleet command that lives in it (live/shared.py).

`drift FOLDER` of a hundred labs in one VPC lists the VPC's groups once, reads the rules of all cloudports' groups
once, and each lab then picks out its own groups from that (read.py, as it does from its own listing): the same owned
groups, the same rules, so the same plan as `drift` of that spec alone, for the API calls of one spec.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cloudports.live.shared import ReadOnce
from cloudports.targets.aws.model import Machine
from cloudports.targets.aws.read import Groups, VpcReads
from cloudports.targets.ownership import TOPOLOGY_TAG


class VpcSnapshot(VpcReads):
    """VpcReads answered from one read of each kind, made by the first spec that asks while the others wait."""

    def __init__(self, ec2: Any, vpc: str):
        super().__init__(ec2, vpc)
        self._once = ReadOnce()

    def groups(self) -> Groups:
        return self._once("groups", lambda: VpcReads.groups(self))

    def rules(self, group_ids: list[str], action: str = "reading security group rules") -> list[dict[str, Any]]:
        by_group = self._once("rules", self._all_rules)
        unknown = [g for g in group_ids if g not in by_group]  # not cloudports': asked of EC2 itself
        found = [rule for g in group_ids if g in by_group for rule in by_group[g]]
        return found + (VpcReads.rules(self, unknown, action) if unknown else [])

    def _all_rules(self) -> dict[str, list[dict[str, Any]]]:
        """The rules of every group in the VPC that cloudports tagged, by group ID (a group without rules: an empty
        list): the groups a spec can own. The rest (a shared VPC's other groups, an untagged group --adopt takes
        over) are read when a spec asks for them."""
        ids = [g["GroupId"] for g in self.groups() if any(t["Key"] == TOPOLOGY_TAG for t in g.get("Tags") or [])]
        by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rule in VpcReads.rules(self, ids):
            by_group[rule["GroupId"]].append(rule)
        return {g: by_group[g] for g in ids}

    def machines(self, instance_tags: bool) -> dict[str, Machine]:
        # a copy: the caller's live state owns its dict (the Machines themselves are frozen)
        return dict(self._once(("machines", instance_tags), lambda: VpcReads.machines(self, instance_tags)))

    def has_ipv6(self) -> bool:
        return self._once("ipv6", lambda: VpcReads.has_ipv6(self))
