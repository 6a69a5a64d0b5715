"""Rules moving between the groups of one split role (split.py): the groups' write calls, interleaved so that a
moved rule is added to its new group before it leaves its old one.

order.py orders each group's calls on its own; a rule that moves from `web` to `web-2` is a removal there and an
addition here, and only the role as a whole knows they are one rule. Every group of a role sits on the same
machines, so the rule allows the same traffic in either group: taking it from one is safe once the other has it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import replace

from cloudports.targets.aws.model import AwsState, SgRule
from cloudports.targets.aws.order import Step


def interleave(units: list[list[Step]], desired: AwsState, live: AwsState) -> list[Step]:
    """The steps of every group, each group's in its own order, a removal of a moving rule held back until its
    new group has it. When every group waits on another (two full groups swapping rules) the first goes ahead,
    as order.py plans a gap for one group alone."""

    def role(group: str) -> str:
        return desired.role_of(group) if group in desired.groups else live.role_of(group)

    def content(rule: SgRule) -> str:
        return replace(rule, group=role(rule.group)).key

    wanted: dict[str, set[str]] = defaultdict(set)
    present: dict[str, set[str]] = defaultdict(set)
    for rule in desired.rules.values():
        wanted[content(rule)].add(rule.group)
    for rule in live.rules.values():
        present[content(rule)].add(rule.group)

    def ready(step: Step) -> bool:
        taken = [r for r, _ in step.remove] + [old for old, _, _ in step.pairs]
        for rule in taken:
            elsewhere = wanted[content(rule)] - {step.group}
            if elsewhere and not elsewhere & present[content(rule)]:
                return False
        return True

    def done(step: Step) -> None:
        for rule in step.add:
            present[content(rule)].add(step.group)
        for old, _, new in step.pairs:
            present[content(old)].discard(step.group)
            present[content(new)].add(step.group)
        for rule, _ in step.remove:
            present[content(rule)].discard(step.group)

    queues = [deque(unit) for unit in units if unit]
    out: list[Step] = []
    while queues:
        queue = next((q for q in queues if ready(q[0])), queues[0])
        step = queue.popleft()
        done(step)
        out.append(step)
        queues = [q for q in queues if q]
    return out
