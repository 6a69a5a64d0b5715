"""The AWS live backend: plan (also drift), apply, plan_destroy, destroy against one VPC through boto3."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudports.compile import CompiledPolicy
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.plan import Plan
from cloudports.live.shared import shared
from cloudports.targets.aws.api import ec2_client
from cloudports.targets.aws.apply import Applier
from cloudports.targets.aws.build import build_aws
from cloudports.targets.aws.diff import destroy_diff, diff
from cloudports.targets.aws.model import AwsState, LiveState
from cloudports.targets.aws.read import VpcReads, read_live, read_prefix_lists
from cloudports.targets.aws.settings import AwsSettings
from cloudports.targets.aws.snapshot import VpcSnapshot
from cloudports.targets.declarations import flag_given
from cloudports.targets.ownership import NameConflicts, conflicts_mode


@dataclass(frozen=True)
class AwsOptions:
    """The AWS command-line options (target.py declares them)."""

    profile: str | None = None
    region: str | None = None
    vpc_id: str | None = None
    # Accept an update that no order of API calls can make without briefly blocking declared flows (the CLI
    # flag --allow-gap): "true", "1" or "yes".
    allow_gap: str | None = None
    # Manage the rules the spec keeps unmanaged too, i.e. delete them (the CLI flag --prune).
    prune: str | None = None

    @property
    def gap_allowed(self) -> bool:
        return flag_given(self.allow_gap)

    @property
    def pruning(self) -> bool:
        return flag_given(self.prune)


class AwsBackend:
    def __init__(
        self, desired: AwsState, ec2: Any, adopt: bool = False, allow_gap: bool = False, reads: VpcReads | None = None
    ):
        self.desired = desired
        self.ec2 = ec2
        self.conflicts = conflicts_mode(adopt)
        self.allow_gap = allow_gap
        # plan and drift read the VPC through this: EC2 itself, or a fleet command's shared snapshot (snapshot.py)
        self.reads = reads or VpcReads(ec2, desired.vpc_id or "")

    @property
    def quota_scope(self) -> str:
        return f"aws:{self.ec2.meta.region_name}"  # EC2 throttles per account and region; one client, one account

    def read(self, conflicts: NameConflicts | None = None, destroying: bool = False) -> LiveState:
        return read_live(self.ec2, self.desired, conflicts or self.conflicts, destroying, reads=self.reads)

    def read_state(self, machines: bool = False) -> AwsState:
        """The live state for query and verify, with whether the VPC carries IPv6 at all."""
        live = read_live(self.ec2, self.desired, self.conflicts, machines=machines, reads=self.reads)
        has_ipv6 = live.vpc_has_ipv6
        live.state.ipv6 = self.reads.has_ipv6() if has_ipv6 is None else has_ipv6
        # the prefix lists the spec names, as they are: verify compares their entries with the network's CIDRs
        live.state.prefix_lists = read_prefix_lists(self.ec2, self.desired.prefix_lists)
        return live.state

    def planned_state(self, live: AwsState) -> AwsState:
        kept = {key: live.rules[key] for key in self.desired.unmanaged if key in live.rules}
        # the VPC's address families are the live ones: traffic of a family the VPC lacks is neither opened nor closed;
        # so are the prefix lists' entries (apply never changes a list)
        lists = live.prefix_lists or self.desired.prefix_lists
        return dataclasses.replace(
            self.desired, rules={**self.desired.rules, **kept}, ipv6=live.ipv6, prefix_lists=lists
        )

    def plan(self) -> Plan:
        return diff(self.desired, self.read()).plan()

    def apply(self, plan: Plan) -> Plan:
        self._read_afresh()
        return Applier(self.ec2, self.desired, self.read, self.allow_gap).apply(plan)

    def plan_destroy(self) -> Plan:
        return destroy_diff(self.desired, self.read("ignore", destroying=True)).plan()

    def destroy(self, plan: Plan) -> Plan:
        self._read_afresh()
        return Applier(self.ec2, self.desired, lambda: self.read("ignore", destroying=True)).destroy(plan)

    def _read_afresh(self) -> None:
        """Writes read the VPC again to see what they did: from EC2, never a shared snapshot (it stays as read)."""
        self.reads = VpcReads(self.ec2, self.desired.vpc_id or "")


def _place(topology: str, settings: AwsSettings, options: AwsOptions) -> tuple[AwsSettings, Any]:
    """(settings with the VPC and region it will be applied to, the EC2 client).

    Region: --region, then the spec's region when it names one, then boto3's chain (AWS_DEFAULT_REGION, the
    profile), then the spec's default. In a fleet command, specs asking for the same client share one (boto3's
    clients are thread-safe; each costs megabytes of service model)."""
    vpc_id = options.vpc_id or settings.vpc_id
    if not vpc_id:
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"aws: no VPC given for topology '{topology}'",
                    "pass --vpc-id vpc-... or set targets.aws.vpc_id in the spec",
                )
            ]
        )
    spec_region = settings.region if "region" in settings.model_fields_set else None
    asked = (options.profile, options.region or spec_region, settings.region)
    ec2 = shared(("aws", "ec2", *asked), lambda: ec2_client(*asked)) or ec2_client(*asked)
    return settings.model_copy(update={"vpc_id": vpc_id, "region": ec2.meta.region_name}), ec2


def open_backend(
    policy: CompiledPolicy, settings: AwsSettings, values: Mapping[str, str | None], adopt: bool
) -> AwsBackend:
    """The AWS backend for a compiled spec; no AWS call is made until plan/apply/destroy. The state is built
    once, with the VPC and region it will be applied to."""
    options = AwsOptions(**values)
    placed, ec2 = _place(policy.topology.name, settings, options)
    if options.pruning:  # the kept rules become extra rules: the plan removes them and says what they allowed
        placed = placed.model_copy(update={"unmanaged": []})
    # one read of the VPC for every spec of a fleet command in it: same credentials, region and VPC
    vpc = placed.vpc_id or ""
    reads = shared(("aws", "vpc", options.profile, placed.region, vpc), lambda: VpcSnapshot(ec2, vpc))
    return AwsBackend(build_aws(policy, placed), ec2, adopt, options.gap_allowed, reads)
