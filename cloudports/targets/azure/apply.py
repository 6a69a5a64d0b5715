"""Carrying out an Azure plan through azure-mgmt-network, in an order that never makes Azure reject a write.

Order: ASGs first (create, or fix tags) -> the NSGs (a new one in one PUT with all its rules inline; an existing
one only has its tags patched, never PUT, which would replace its rules) -> rules one by one, the additions of
every NSG before the deletions of any (with one NSG per subnet a role's rules may move between NSGs) -> subnet
associations (once the rules are in place, so a subnet never runs on the default rules alone) -> NIC membership
(members) -> NSGs of an earlier split the spec no longer has (their subnets now on their new NSG) -> ASGs the
spec no longer has (after the rules and NICs that used them let go).

Independent writes - the ASG PUTs, the NIC PUTs, the ASG deletions - run concurrently, at most
CLOUDPORTS_AZURE_CONCURRENCY (default 8) at once; the writes on the one NSG stay one after another.

Rule writes are ordered so that no two rules hold the same (priority, direction) even for a moment (writes.py).
Each write waits for its long-running operation
(Azure serialises writes on one NSG anyway) and is retried while Azure reports AnotherOperationInProgress.

Every step can be interrupted: the next plan reads what is there and converges from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError
from azure.mgmt.network import models

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.membership import Regroup
from cloudports.live.plan import Plan, ensure_unchanged
from cloudports.live.progress import step
from cloudports.targets.azure.arm import (
    BUSY_MAX_WAIT,
    ArmSettings,
    arm_errors,
    concurrently,
    error_code,
    retry_busy,
    wait,
)
from cloudports.targets.azure.diff import ASG, NSG, AzureDiff, NsgDiff, destroy_diff, diff
from cloudports.targets.azure.members import region_problems, vnet_problems
from cloudports.targets.azure.model import Asg, AzureState, LiveAsg, LiveState, Nic, NsgRule, SubnetRef
from cloudports.targets.azure.normalise import canonical, normalise_rule
from cloudports.targets.azure.read import running
from cloudports.targets.azure.writes import Step, nsg_body, order_rule_writes, security_rule
from cloudports.targets.ownership import SPEC_TAG, is_mine, left_in_use

# Up to this many rule writes go one by one (each is a PUT or DELETE plus its long-running operation, a few
# seconds each on Azure); more are sent as one PUT of the whole NSG: one operation, no intermediate state at all,
# guarded by If-Match so that nothing written meanwhile is overwritten unseen.
BULK_THRESHOLD = 20


_REGION_HINT = (
    "create the NIC's machine in the spec's region (targets.azure.location), or take it out of the role's members"
)


_VNET_HINT = "split the role into one per virtual network, or select only the machines of one virtual network"


def _in_use(exc: HttpResponseError) -> bool:
    return "InUse" in error_code(exc) or "in use" in str(exc).lower()


class Applier:
    """Carries out one plan. `desired_for` builds the spec's state keeping the given live priorities; `read`
    reads what cloudports owns now (the plan is re-made from it and must match what was approved)."""

    def __init__(
        self,
        client: Any,
        settings: ArmSettings,
        desired_for: Callable[[LiveState | None], AzureState],
        read: Callable[[], LiveState],
    ):
        self.client = client
        self.settings = settings
        self.rg = settings.resource_group
        self.desired_for = desired_for
        self.read = read

    def _diff(self, live: LiveState) -> AzureDiff:
        return diff(self.desired_for(live), live, self.settings)

    # ------------------------------------------------------------------------------------------ apply

    def apply(self, approved: Plan) -> Plan:
        d = self._diff(self.read())
        planned = d.plan()
        ensure_unchanged(approved, planned)
        problems = [(p, _REGION_HINT) for p in region_problems(d.desired, d.regroups)]
        problems += [(p, _VNET_HINT) for p in vnet_problems(d.live, d.regroups)]
        if problems:
            raise CloudportsError([Diagnostic(None, f"azure: {p}; nothing was changed", h) for p, h in problems])
        asg_ids = {key: a.id for key, a in d.live.asgs.items()}
        made = concurrently(self.settings.concurrency, lambda a: self._put_asg(a, d.desired.location), d.create_asgs)
        asg_ids |= {asg.role: asg_id for asg, asg_id in zip(d.create_asgs, made, strict=True)}
        for live_asg, change in d.tag_asgs:
            self._patch_tags(
                self.client.application_security_groups, "application security group", live_asg.name, change.after
            )
        nsg_ids = self._write_nsgs(d, asg_ids)
        for subnet, nsg in d.associate:
            self._associate(subnet, nsg_ids[nsg], d)
        # after the rules: a NIC never sits in an ASG whose rules are half written
        concurrently(self.settings.concurrency, lambda r: self._regroup(r, asg_ids), d.regroups)
        left = self._delete_nsgs(d) | self._delete_asgs(d)  # NSGs of an earlier split, once their subnets moved
        done = [c for c in planned.changes if not (c.kind in (NSG, ASG) and c.action == "remove" and c.name in left)]
        return Plan("azure", d.desired.topology, planned.scope, done, planned.notes + list(left.values()))

    def _patch_tags(self, operations: Any, kind: str, name: str, tags: dict[str, str]) -> None:
        """PATCH a resource's tags. azure-core does not re-send a PATCH whose answer was lost, but tags are safe to
        check: read them back and send the PATCH once more only if they did not land."""
        with arm_errors(f"tagging {kind}", name):
            try:
                operations.update_tags(self.rg, name, {"tags": tags})
            except (ServiceRequestError, ServiceResponseError):
                now = dict(operations.get(self.rg, name).tags or {})
                if any(now.get(k) != v for k, v in tags.items()):
                    operations.update_tags(self.rg, name, {"tags": tags})

    def _write_nsgs(self, d: AzureDiff, asg_ids: dict[str, str]) -> dict[str, str]:
        """Every NSG's rule writes, the additions of all NSGs before any deletion in one: a flow that moves from
        one NSG to another (its role moved to another subnet) is in the new one before it leaves the old one.
        Returns NSG name -> ID."""
        nsg_ids, rests = {}, []
        for n in d.nsgs:
            if n.live is None:
                nsg_ids[n.name] = self._create_nsg(d, n, asg_ids)
            else:
                nsg_ids[n.name] = n.live.id
                rests.append(self._update_nsg(d, n, asg_ids))
        for rest in rests:
            rest()
        return nsg_ids

    def _update_nsg(self, d: AzureDiff, n: NsgDiff, asg_ids: dict[str, str]) -> Callable[[], None]:
        """Tags patched (never a PUT of the NSG itself, which would replace its rules), then the rule writes up to
        the first deletion; returns the rest, for once every NSG has its new rules.

        More than BULK_THRESHOLD writes go as whole-NSG PUTs, each atomic: one with a single NSG (nothing
        elsewhere waits on it); with several and deletions, one with the additions now (the rules as the writes up
        to the first deletion leave them) and one with the final rules in the rest."""
        if n.tag:
            self._patch_tags(self.client.network_security_groups, "network security group", n.name, n.tag.after)
        steps = order_rule_writes(n.live_rules, n.add + [want for want, _have, _why in n.change], n.remove)
        first = next((i for i, s in enumerate(steps) if s.action == "delete"), len(steps))
        if n.writes <= BULK_THRESHOLD:
            self._write_rules(n.name, steps[:first], asg_ids)
            return lambda: self._write_rules(n.name, steps[first:], asg_ids)
        if not n.remove or len(d.nsgs) == 1:
            self._put_all_rules(d, n.name, asg_ids, n.live_rules, n.want.rules)
            return lambda: None
        interim = {**n.live_rules, **{s.rule.name: s.rule for s in steps[:first]}}
        if first:  # (only deletions: nothing to write before the other NSGs' additions)
            self._put_all_rules(d, n.name, asg_ids, n.live_rules, interim)
        return lambda: self._put_all_rules(d, n.name, asg_ids, interim, n.want.rules)

    def _put_asg(self, asg: Asg, location: str) -> str:
        body = models.ApplicationSecurityGroup(location=location, tags=dict(asg.tags))
        result = wait(
            lambda: self.client.application_security_groups.begin_create_or_update(self.rg, asg.name, body),
            "creating application security group",
            asg.name,
        )
        return str(result.id)

    def _create_nsg(self, d: AzureDiff, n: NsgDiff, asg_ids: dict[str, str]) -> str:
        """One PUT with every rule inline: no intermediate state, and nothing to clobber in a new NSG.

        If-None-Match: * makes Azure refuse (412) rather than overwrite an NSG created meanwhile by someone else.
        """
        rules = [security_rule(r, asg_ids, inline=True) for r in n.want.rules.values()]
        body = nsg_body(d.desired.location, dict(d.desired.tags), rules)
        created = len(n.want.rules) + 1  # the NSG and its rules
        action = "creating network security group"
        result = self._put_nsg(d, n.name, n.want.rules, asg_ids, body, {"If-None-Match": "*"}, action, created)
        return str(result.id)

    def _put_nsg(
        self,
        d: AzureDiff,
        name: str,
        rules: dict[str, NsgRule],
        asg_ids: dict[str, str],
        body: Any,
        headers: dict[str, str],
        action: str,
        changes: int,
    ) -> Any:
        """PUT the whole NSG under a precondition. A 412 may be our own write: its answer was lost and azure-core
        sent the PUT again, which then found the NSG changed - by the first attempt. It is recognised as done
        when the NSG carries this spec's tags and exactly the `rules` written; anything else stays a 412."""
        subject = f"{name} ({len(rules)} rules)"
        with arm_errors(action, subject):
            try:
                done = retry_busy(
                    lambda: self.client.network_security_groups.begin_create_or_update(
                        self.rg, name, body, headers=headers
                    ).result(),
                    subject=subject,
                )
                step(name, changes)  # every rule in one write
                return done
            except HttpResponseError as exc:
                if exc.status_code != 412:
                    raise
                landed = self._landed(d, name, rules, asg_ids)
                if landed is None:
                    raise
                return landed

    def _landed(self, d: AzureDiff, name: str, want: dict[str, NsgRule], asg_ids: dict[str, str]) -> Any | None:
        """The NSG, if it is this spec's and holds exactly the `want` rules (after any running write ends)."""
        roles_by_id = {i.lower(): role for role, i in asg_ids.items()}
        waited = 0.0
        try:
            nsg = self.client.network_security_groups.get(self.rg, name)
        except ResourceNotFoundError:
            return None
        while running(nsg) and waited < BUSY_MAX_WAIT:
            time.sleep(max(self.settings.polling_interval, 0.2))
            waited += max(self.settings.polling_interval, 0.2)
            nsg = self.client.network_security_groups.get(self.rg, name)
        tags = {str(k): str(v) for k, v in (nsg.tags or {}).items()}
        if not is_mine(tags, d.desired.topology, d.desired.tags[SPEC_TAG]):
            return None
        rules = {r.name: normalise_rule(r, roles_by_id) for r in nsg.security_rules or []}
        return nsg if rules == {key: canonical(r) for key, r in want.items()} else None

    def _put_all_rules(
        self, d: AzureDiff, name: str, asg_ids: dict[str, str], now: dict[str, NsgRule], then: dict[str, NsgRule]
    ) -> None:
        """Replace the NSG's whole rule set, `now`, by `then` in one PUT (location, tags and flushConnection as
        they are).

        The NSG must still have the rules `now` (those the plan was made from, or those the first of two PUTs
        left), and If-Match makes Azure refuse the PUT (412) if anything is written to the NSG between this read
        and the write."""
        with arm_errors("reading network security group", name):
            nsg = self.client.network_security_groups.get(self.rg, name)
        roles_by_id = {a.id.lower(): key for key, a in d.live.asgs.items()}
        found = {r.name: normalise_rule(r, roles_by_id) for r in nsg.security_rules or []}
        if found != {key: canonical(r) for key, r in now.items()}:
            raise CloudportsError(
                [
                    Diagnostic(
                        None,
                        f"azure: the rules of network security group {name} changed since the plan was made; "
                        "nothing was written to it",
                        "run the command again to see the new plan",
                    )
                ]
            )
        # Only what a PUT may set, as it is now; read-only parts (default rules, subnets, state) stay out.
        rules = [security_rule(r, asg_ids, inline=True) for r in then.values()]
        flush = {} if nsg.flush_connection is None else {"flushConnection": nsg.flush_connection}
        body = nsg_body(nsg.location, dict(nsg.tags or {}), rules, **flush)
        action = "replacing the rules of network security group"
        changes = sum(now.get(k) != r for k, r in then.items()) + len(now.keys() - then.keys())
        self._put_nsg(d, name, then, asg_ids, body, {"If-Match": str(nsg.etag)}, action, changes)

    def _write_rules(self, nsg: str, steps: list[Step], asg_ids: dict[str, str]) -> None:
        for each in steps:
            self._write_rule(nsg, each, asg_ids)

    def _write_rule(self, nsg: str, step: Step, asg_ids: dict[str, str]) -> None:
        rule = step.rule
        subject = f"{rule.name} in network security group {nsg}"
        if step.action == "delete":
            wait(lambda: self.client.security_rules.begin_delete(self.rg, nsg, rule.name), "deleting rule", subject)
            return
        body = security_rule(rule, asg_ids)
        action = f"writing rule (priority {rule.priority}{', temporarily' if step.parked else ''})"
        wait(lambda: self.client.security_rules.begin_create_or_update(self.rg, nsg, rule.name, body), action, subject)

    def _associate(self, ref: SubnetRef, nsg_id: str, d: AzureDiff) -> None:
        """GET the subnet, point it at the NSG, PUT it back (everything else in it unchanged)."""
        subject = f"subnet {ref.key} (resource group {ref.resource_group})"
        with arm_errors("reading", subject):
            subnet = self.client.subnets.get(ref.resource_group, ref.virtual_network, ref.name)
        current = str(getattr(subnet.network_security_group, "id", "") or "").lower()
        if current and current != nsg_id.lower() and current not in d.live.owned_nsg_ids():
            raise CloudportsError(
                f"azure: {subject} was associated with {current.rsplit('/', 1)[-1]} meanwhile; left alone"
            )
        subnet.network_security_group = models.NetworkSecurityGroup(id=nsg_id)
        wait(
            lambda: self.client.subnets.begin_create_or_update(
                ref.resource_group, ref.virtual_network, ref.name, subnet
            ),
            "associating the network security group with",
            subject,
        )

    def _delete_in_use(self, start: Any, action: str, subject: str) -> str | None:
        """Delete; when Azure answers that something still uses the resource, return why instead of failing."""
        with arm_errors(action, subject):
            try:
                retry_busy(lambda: start().result(), subject=subject)
            except HttpResponseError as exc:
                if not _in_use(exc):
                    raise
                return " ".join(str(getattr(exc.error, "message", None) or exc.message).split())
        step(subject)
        return None

    def _delete_nsgs(self, d: AzureDiff) -> dict[str, str]:
        """Deletes NSGs; returns name -> note for each one left because something still uses it."""
        left: dict[str, str] = {}
        for nsg in d.delete_nsgs:
            why = self._delete_in_use(
                lambda name=nsg.name: self.client.network_security_groups.begin_delete(self.rg, name),
                "deleting network security group",
                nsg.name,
            )
            if why is not None:
                left[nsg.name] = left_in_use("network security group", nsg.name, why)
        return left

    def _delete_asgs(self, d: AzureDiff) -> dict[str, str]:
        """Deletes ASGs; returns name -> note for each one left because something still uses it."""

        def delete(asg: LiveAsg) -> str | None:
            return self._delete_in_use(
                lambda: self.client.application_security_groups.begin_delete(self.rg, asg.name),
                "deleting application security group",
                asg.name,
            )

        whys = concurrently(self.settings.concurrency, delete, d.delete_asgs)
        return {
            asg.name: left_in_use("application security group", asg.name, why)
            for asg, why in zip(d.delete_asgs, whys, strict=True)
            if why is not None
        }

    # ---------------------------------------------------------------------------------------- destroy

    def destroy(self, approved: Plan) -> Plan:
        d = destroy_diff(self.desired_for(None), self.read(), self.settings)
        planned = d.plan()
        ensure_unchanged(approved, planned)
        asg_ids = {key: a.id for key, a in d.live.asgs.items()}
        # Azure refuses to delete an ASG that a NIC still uses
        concurrently(self.settings.concurrency, lambda r: self._regroup(r, asg_ids), d.regroups)
        owned = d.live.owned_nsg_ids()
        for ref in d.dissociate:
            self._dissociate(ref, owned)
        left = self._delete_nsgs(d) | self._delete_asgs(d)
        done = [c for c in planned.changes if not (c.kind in (NSG, ASG) and c.name in left)]
        return Plan("azure", d.desired.topology, planned.scope, done, list(left.values()))  # the plan said the rest

    def _regroup(self, change: Regroup[Nic], asg_ids: dict[str, str]) -> None:
        """GET the NIC, change the ASGs of every IP configuration, PUT it back under If-Match (everything else in
        it unchanged, and a write by someone else in between makes Azure refuse rather than be overwritten)."""
        nic = change.machine
        subject = f"network interface {nic.label} (resource group {nic.resource_group})"
        with arm_errors("reading", subject):
            try:
                raw = self.client.network_interfaces.get(nic.resource_group, nic.name)
            except ResourceNotFoundError:
                return  # deleted meanwhile: nothing to attach to or take off
        gone = {asg_ids[r].lower() for r in change.detach}
        for config in raw.ip_configurations or []:
            kept = [a for a in config.application_security_groups or [] if str(a.id).lower() not in gone]
            have = {str(a.id).lower() for a in kept}
            added = [asg_ids[r] for r in change.attach if asg_ids[r].lower() not in have]
            config.application_security_groups = kept + [models.ApplicationSecurityGroup(id=i) for i in added]
        headers = {"If-Match": str(raw.etag)} if raw.etag else {}
        wait(
            lambda: self.client.network_interfaces.begin_create_or_update(
                nic.resource_group, nic.name, raw, headers=headers
            ),
            "changing the application security groups of",
            subject,
            changes=len(change.attach) + len(change.detach),
        )

    def _dissociate(self, ref: SubnetRef, owned: set[str]) -> None:
        subject = f"subnet {ref.key} (resource group {ref.resource_group})"
        with arm_errors("reading", subject):
            subnet = self.client.subnets.get(ref.resource_group, ref.virtual_network, ref.name)
        current = str(getattr(subnet.network_security_group, "id", "") or "").lower()
        if current not in owned:
            return  # associated with something else meanwhile: not ours to touch
        subnet.network_security_group = None
        wait(
            lambda: self.client.subnets.begin_create_or_update(
                ref.resource_group, ref.virtual_network, ref.name, subnet
            ),
            "removing the network security group from",
            subject,
        )
