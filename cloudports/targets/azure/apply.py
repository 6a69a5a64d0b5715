"""Carrying out an Azure plan through azure-mgmt-network, in an order that never makes Azure reject a write.

Order: ASGs first (create, or fix tags) -> the NSG (a new one in one PUT with all its rules inline; an existing
one only has its tags patched, never PUT, which would replace its rules) -> rules one by one -> subnet
associations (once the rules are in place, so a subnet never runs on the default rules alone) -> ASGs the spec
no longer has (after the rules that used them are gone).

Rule writes are ordered so that no two rules hold the same (priority, direction) even for a moment, which Azure
refuses (SecurityRuleConflict): see :func:`order_rule_writes`. Each write waits for its long-running operation
(Azure serialises writes on one NSG anyway) and is retried while Azure reports AnotherOperationInProgress.

Every step can be interrupted: the next plan reads what is there and converges from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import models

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.plan import Plan, ensure_unchanged
from cloudports.targets.azure.arm import arm_errors, error_code, retry_busy, wait
from cloudports.targets.azure.diff import ASG, NSG, AzureDiff, destroy_diff, diff
from cloudports.targets.azure.live import LiveState, SubnetRef
from cloudports.targets.azure.model import ALLOW_PRIORITIES, DENY_PRIORITY, Asg, NsgRule

if TYPE_CHECKING:
    from cloudports.targets.azure.live import AzureBackend

# Up to this many rule writes go one by one (each is a PUT or DELETE plus its long-running operation, a few
# seconds each on Azure); more are sent as one PUT of the whole NSG: one operation, no intermediate state at all,
# guarded by If-Match so that nothing written meanwhile is overwritten unseen.
BULK_THRESHOLD = 20

# Free priorities for a rule that has to step aside while rules swap places: below every allow rule, above the
# structural denies, and never chosen by build_azure, so no desired rule is waiting for them.
PARKING = range(DENY_PRIORITY - 1, ALLOW_PRIORITIES.stop - 1, -1)


# ---------------------------------------------------------------------------------------- request bodies


def _one_or_many(values: tuple[str, ...], single: str, plural: str) -> dict[str, Any]:
    """Like the Terraform module: one value in the singular field (the only one that takes '*' or a service
    tag, and what Azure itself rewrites a one-element list into), several in the plural one."""
    if len(values) == 1:
        return {single: values[0]}
    return {plural: sorted(values)} if values else {}


def rule_properties(rule: NsgRule, asg_ids: dict[str, str]) -> dict[str, Any]:
    """NsgRule -> the flattened SecurityRule keyword arguments."""
    props: dict[str, Any] = {
        "priority": rule.priority,
        "direction": rule.direction,
        "access": rule.access,
        "protocol": rule.protocol,
        **_one_or_many(rule.source_ports, "source_port_range", "source_port_ranges"),
        **_one_or_many(rule.destination_ports, "destination_port_range", "destination_port_ranges"),
    }
    for side in ("source", "destination"):
        asgs = getattr(rule, f"{side}_asgs")
        if asgs:
            props[f"{side}_application_security_groups"] = [
                models.ApplicationSecurityGroup(id=asg_ids.get(a, a)) for a in asgs
            ]
        else:
            prefixes = getattr(rule, f"{side}_prefixes")
            props |= _one_or_many(prefixes, f"{side}_address_prefix", f"{side}_address_prefixes")
    if rule.description:
        props["description"] = rule.description
    return props


def security_rule(rule: NsgRule, asg_ids: dict[str, str], inline: bool = False) -> Any:
    return models.SecurityRule(**({"name": rule.name} if inline else {}), **rule_properties(rule, asg_ids))


# ------------------------------------------------------------------------------------------ write order


@dataclass(frozen=True)
class Step:
    action: Literal["put", "delete"]
    rule: NsgRule
    parked: bool = False  # a temporary priority, while rules swap places


def order_rule_writes(live: dict[str, NsgRule], puts: list[NsgRule], deletes: list[NsgRule]) -> list[Step]:
    """The rule writes, in an order where every PUT finds its (direction, priority) free.

    1. PUTs whose slot is free already (new flows are allowed before anything is taken away);
    2. the deletes, which free their slots;
    3. PUTs whose slot is now free, repeatedly (a moving rule frees its old slot for the next one);
    4. rules that wait on each other in a cycle (A wants B's slot and B wants A's): one steps aside to a free
       parking priority, which breaks the cycle, and later takes its own slot.
    """
    held = {(r.direction, r.priority): r.name for r in live.values()}
    at = {r.name: (r.direction, r.priority) for r in live.values()}
    pending = {r.name: r for r in puts}
    steps: list[Step] = []

    def vacate(name: str) -> None:
        slot = at.pop(name, None)
        if slot is not None and held.get(slot) == name:
            del held[slot]

    def place(rule: NsgRule, parked: bool = False) -> None:
        vacate(rule.name)
        held[(rule.direction, rule.priority)] = rule.name
        at[rule.name] = (rule.direction, rule.priority)
        steps.append(Step("put", rule, parked))

    def drain() -> None:
        progress = True
        while progress:
            progress = False
            for name in sorted(pending):
                rule = pending[name]
                if held.get((rule.direction, rule.priority), name) == name:
                    place(pending.pop(name))
                    progress = True

    drain()
    for rule in sorted(deletes, key=lambda r: r.name):
        vacate(rule.name)
        steps.append(Step("delete", rule))
    drain()
    while pending:
        rule = pending[min(pending)]
        blocker = held[(rule.direction, rule.priority)]
        if blocker not in pending:  # cannot happen: desired priorities are unique per direction
            raise CloudportsError(f"azure: rule {rule.name} needs priority {rule.priority}, held by {blocker}")
        free = next(
            (p for p in (*PARKING, *reversed(ALLOW_PRIORITIES)) if (pending[blocker].direction, p) not in held), None
        )
        if free is None:
            raise CloudportsError(f"azure: no free {rule.direction} priority left to reorder rules")
        place(replace(pending[blocker], priority=free), parked=True)
        drain()
    return steps


# ---------------------------------------------------------------------------------------------- applying


def _in_use(exc: HttpResponseError) -> bool:
    return "InUse" in error_code(exc) or "in use" in str(exc).lower()


class Applier:
    def __init__(self, backend: AzureBackend):
        self.backend = backend
        self.client = backend.client
        self.settings = backend.settings
        self.rg = backend.settings.resource_group

    def _diff(self, live: LiveState) -> AzureDiff:
        return diff(self.backend.desired_for(live.priorities), live, self.settings)

    # ------------------------------------------------------------------------------------------ apply

    def apply(self, approved: Plan) -> Plan:
        d = self._diff(self.backend.read())
        planned = d.plan()
        ensure_unchanged(approved, planned)
        asg_ids = {key: a.id for key, a in d.live.asgs.items()}
        for asg in d.create_asgs:
            asg_ids[asg.role] = self._put_asg(asg)
        for asg, tags, _why in d.tag_asgs:
            with arm_errors("tagging application security group", asg.name):
                self.client.application_security_groups.update_tags(self.rg, asg.name, {"tags": tags})
        nsg_name = d.desired.nsg_name
        if d.create_nsg:
            nsg_id = self._create_nsg(d, asg_ids)
        else:
            assert d.live.nsg is not None
            nsg_id = d.live.nsg.id
            if d.tag_nsg:
                with arm_errors("tagging network security group", nsg_name):
                    self.client.network_security_groups.update_tags(self.rg, nsg_name, {"tags": d.tag_nsg[0]})
            puts = d.add + [want for want, _have, _why in d.change]
            if len(puts) + len(d.remove) > BULK_THRESHOLD:
                self._put_all_rules(d, asg_ids)
            else:
                for step in order_rule_writes(d.live.rules, puts, d.remove):
                    self._write_rule(nsg_name, step, asg_ids)
        for subnet in d.associate:
            self._associate(subnet, nsg_id, d)
        left = self._delete_asgs(d)
        done = [c for c in planned.changes if not (c.kind == ASG and c.action == "remove" and c.name in left)]
        return Plan("azure", d.desired.topology, planned.scope, done, planned.notes + list(left.values()))

    def _put_asg(self, asg: Asg) -> str:
        body = models.ApplicationSecurityGroup(location=self.backend.base.location, tags=dict(asg.tags))
        result = wait(
            lambda: self.client.application_security_groups.begin_create_or_update(self.rg, asg.name, body),
            "creating application security group",
            asg.name,
        )
        return str(result.id)

    def _create_nsg(self, d: AzureDiff, asg_ids: dict[str, str]) -> str:
        """One PUT with every rule inline: no intermediate state, and nothing to clobber in a new NSG.

        If-None-Match: * makes Azure refuse (412) rather than overwrite an NSG created meanwhile by someone else.
        """
        body = models.NetworkSecurityGroup(
            location=d.desired.location,
            tags=dict(d.desired.tags),
            security_rules=[security_rule(r, asg_ids, inline=True) for r in d.desired.rules.values()],
        )
        result = wait(
            lambda: self.client.network_security_groups.begin_create_or_update(
                self.rg, d.desired.nsg_name, body, headers={"If-None-Match": "*"}
            ),
            "creating network security group",
            f"{d.desired.nsg_name} with {len(d.desired.rules)} rules",
        )
        return str(result.id)

    def _put_all_rules(self, d: AzureDiff, asg_ids: dict[str, str]) -> None:
        """Replace the NSG's whole rule set in one PUT (location, tags and flushConnection as they are).

        The NSG must still have the rules the plan was made from, and If-Match makes Azure refuse the PUT (412) if
        anything is written to the NSG between this read and the write."""
        from cloudports.targets.azure.live import normalise_rule

        name = d.desired.nsg_name
        with arm_errors("reading network security group", name):
            nsg = self.client.network_security_groups.get(self.rg, name)
        roles_by_id = {a.id.lower(): key for key, a in d.live.asgs.items()}
        now = {r.name: normalise_rule(r, roles_by_id) for r in nsg.security_rules or []}
        if now != d.live.rules:
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
        body = models.NetworkSecurityGroup(
            location=nsg.location,
            tags=dict(nsg.tags or {}),
            flush_connection=nsg.flush_connection,
            security_rules=[security_rule(r, asg_ids, inline=True) for r in d.desired.rules.values()],
        )
        wait(
            lambda: self.client.network_security_groups.begin_create_or_update(
                self.rg, name, body, headers={"If-Match": nsg.etag}
            ),
            "replacing the rules of network security group",
            f"{name} ({len(d.desired.rules)} rules)",
        )

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
        return None

    def _delete_asgs(self, d: AzureDiff) -> dict[str, str]:
        """Deletes ASGs; returns name -> note for each one left because something still uses it."""
        left = {}
        for asg in d.delete_asgs:
            why = self._delete_in_use(
                lambda name=asg.name: self.client.application_security_groups.begin_delete(self.rg, name),
                "deleting application security group",
                asg.name,
            )
            if why is not None:
                left[asg.name] = f"left application security group {asg.name}: still in use ({why})"
        return left

    # ---------------------------------------------------------------------------------------- destroy

    def destroy(self, approved: Plan) -> Plan:
        d = destroy_diff(self.backend.base, self.backend.read("ignore"), self.settings)
        planned = d.plan()
        ensure_unchanged(approved, planned)
        owned = d.live.owned_nsg_ids()
        for ref in d.dissociate:
            self._dissociate(ref, owned)
        left: dict[str, str] = {}
        for nsg in d.delete_nsgs:
            why = self._delete_in_use(
                lambda name=nsg.name: self.client.network_security_groups.begin_delete(self.rg, name),
                "deleting network security group",
                nsg.name,
            )
            if why is not None:
                left[nsg.name] = f"left network security group {nsg.name}: still in use ({why})"
        left |= self._delete_asgs(d)
        done = [c for c in planned.changes if not (c.kind in (NSG, ASG) and c.name in left)]
        return Plan("azure", d.desired.topology, planned.scope, done, list(left.values()))  # the plan said the rest

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
