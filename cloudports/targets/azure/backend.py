"""The Azure live backend: plan (also drift), apply, plan_destroy, destroy in one resource group."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudports.compile import CompiledPolicy
from cloudports.live.plan import Plan
from cloudports.live.shared import shared
from cloudports.targets.azure.apply import Applier
from cloudports.targets.azure.arm import BUSY_MAX_WAIT, ArmSettings, network_client, resolve_settings
from cloudports.targets.azure.build import build_azure
from cloudports.targets.azure.diff import destroy_diff, diff
from cloudports.targets.azure.model import AzureState, LiveState
from cloudports.targets.azure.priorities import records
from cloudports.targets.azure.read import Reader, RgReads
from cloudports.targets.azure.settings import AzureSettings
from cloudports.targets.azure.snapshot import RgSnapshot
from cloudports.targets.azure.unmanaged import listed_rules
from cloudports.targets.declarations import flag_given
from cloudports.targets.ownership import NameConflicts, conflicts_mode


@dataclass(frozen=True)
class AzureOptions:
    """The Azure command-line options (target.py declares them)."""

    subscription: str | None = None
    resource_group: str | None = None
    arm_endpoint: str | None = None
    # Manage the rules the spec keeps unmanaged too, i.e. delete them (the CLI flag --prune).
    prune: str | None = None

    @property
    def pruning(self) -> bool:
        return flag_given(self.prune)


class AzureBackend:
    def __init__(
        self,
        policy: CompiledPolicy,
        settings: AzureSettings,
        arm: ArmSettings,
        client: Any,
        adopt: bool,
        reads: RgReads | None = None,
    ):
        self.policy = policy
        self.settings = settings  # the spec's targets.azure, with the resource group it is applied to
        self.arm = arm
        self.client = client
        self.conflicts = conflicts_mode(adopt)
        self.base = self.desired_for(None)  # names, tags, subnets: everything but the priorities
        # where the resource group is read: Resource Manager, or a fleet command's shared snapshot (snapshot.py)
        self.reads = reads or RgReads(client, arm.resource_group)

    @property
    def quota_scope(self) -> str:
        return f"azure:{self.arm.subscription}"  # Resource Manager's request limits are per subscription

    def desired_for(self, live: LiveState | None) -> AzureState:
        """The spec's desired state, every live rule keeping its priority unless it was moved by hand, and its
        name and the pairs it may still carry (identity.py)."""
        if live is None:
            return build_azure(self.policy, self.settings)
        recorded = {nsg.name: records(nsg.rules.values()) for nsg in live.state.nsgs.values()}
        kept = listed_rules(self.settings, live.state.nsgs.values())
        rules = {
            nsg.name: [r for r in nsg.rules.values() if r.name not in kept.get(nsg.name, {})]
            for nsg in live.state.nsgs.values()
        }  # kept rules are no one's previous rule: their names stay theirs
        return build_azure(self.policy, self.settings, live.priorities, recorded, rules, kept)

    def read(
        self,
        conflicts: NameConflicts | None = None,
        sleep: Callable[[float], None] = time.sleep,
        destroying: bool = False,
        machines: bool = False,
    ) -> LiveState:
        """What cloudports owns, once no write on it is still running: a plan made while a write (of a killed
        run, say) is in flight would be outdated - and refused by apply - as soon as that write lands."""
        waited, step, since = 0.0, max(self.arm.polling_interval, 0.5), None
        while True:
            reader = Reader(self.client, self.arm, self.base, self.reads, since)
            live = reader.read(conflicts or self.conflicts, destroying, machines)
            if not live.busy or waited >= BUSY_MAX_WAIT:
                return live
            if not waited:
                print(f"azure: waiting for writes still running on {', '.join(live.busy[:3])}", file=sys.stderr)
            since = time.monotonic()  # a shared read of the resource group must be newer than the one just seen
            sleep(step)
            waited += step

    def read_state(self, machines: bool = False) -> AzureState:
        return self.read(machines=machines).state

    def planned_state(self, live: AzureState) -> AzureState:
        # the live rules the spec keeps stay, and cloudports' own rules avoid their priorities
        return build_azure(
            self.policy, self.settings, None, None, None, listed_rules(self.settings, live.nsgs.values())
        )

    def plan(self) -> Plan:
        live = self.read()
        return diff(self.desired_for(live), live, self.arm).plan()

    def apply(self, plan: Plan) -> Plan:
        self._read_afresh()
        return Applier(self.client, self.arm, self.desired_for, self.read).apply(plan)

    def plan_destroy(self) -> Plan:
        return destroy_diff(self.base, self.read("ignore", destroying=True), self.arm).plan()

    def destroy(self, plan: Plan) -> Plan:
        self._read_afresh()
        read = lambda: self.read("ignore", destroying=True)  # noqa: E731
        return Applier(self.client, self.arm, self.desired_for, read).destroy(plan)

    def _read_afresh(self) -> None:
        """Writes read the resource group again to see what they did: from Resource Manager, never a shared
        snapshot (it stays as read)."""
        self.reads = RgReads(self.client, self.arm.resource_group)


def open_backend(
    policy: CompiledPolicy, settings: AzureSettings, values: Mapping[str, str | None], adopt: bool
) -> AzureBackend:
    """The Azure backend for a compiled spec; no Azure call is made until plan/apply/destroy."""
    options = AzureOptions(**values)
    arm = resolve_settings(
        subscription=options.subscription,
        resource_group=options.resource_group or settings.resource_group,
        location=settings.location,
        arm_endpoint=options.arm_endpoint,
    )
    placed = settings.model_copy(update={"resource_group": arm.resource_group})
    if options.pruning:  # the kept rules become extra rules: the plan removes them and says what they allowed
        placed = placed.model_copy(update={"unmanaged": []})
    # In a fleet command, the specs of one subscription share a client, and those of one resource group its read.
    client_key = ("azure", "client", dataclasses.replace(arm, resource_group="", location=""))
    client = shared(client_key, lambda: network_client(arm)) or network_client(arm)
    rg_key = ("azure", "rg", arm.subscription, arm.endpoint, arm.resource_group.lower())
    reads = shared(rg_key, lambda: RgSnapshot(client, arm.resource_group))
    return AzureBackend(policy, placed, arm, client, adopt, reads)
