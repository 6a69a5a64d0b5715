"""AWS: one security group per role, rules referencing the peer role's group or one CIDR each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets.aws.model import AwsState
from cloudports.targets.aws.options import IMPORT_OPTIONS, OPTIONS
from cloudports.targets.aws.settings import AwsMembers, AwsSettings
from cloudports.targets.base import Capabilities, Row, Target, left_to_apply

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy
    from cloudports.importer.model import Lab
    from cloudports.live.backend import Backend
    from cloudports.query.model import Point, Probe, Verdict
    from cloudports.query.space import Reachability
    from cloudports.spec.model import Topology


class AwsTarget(Target[AwsSettings, AwsState]):
    name = "aws"
    title = "AWS security groups"
    settings_model = AwsSettings
    members_model = AwsMembers
    capabilities = Capabilities(
        icmp_types=True, icmp_families=True, egress=True, terraform=True, live=True, addressless_networks=True
    )
    terraform_provider = "aws"
    options = OPTIONS
    import_options = IMPORT_OPTIONS

    # The builder, the writer and the rows are imported where used: every command imports every target (for its
    # options), and most use one of them or none.
    def build(self, policy: CompiledPolicy) -> AwsState:
        from cloudports.targets.aws.build import build_aws

        return build_aws(policy, self.settings(policy.topology))

    def rows(self, state: AwsState) -> list[Row]:
        from cloudports.targets.aws.rows import rows

        return rows(state)

    def role_names(self, state: AwsState) -> dict[str, str]:
        return {role: group.name for role, group in state.groups.items()}

    def row_ends(self, row: Row) -> tuple[set[str], set[str]]:
        from cloudports.targets.aws.rows import row_ends

        return row_ends(row)

    def import_lab(self, options: Mapping[str, str | None]) -> Lab:
        from cloudports.targets.aws.api import ec2_client
        from cloudports.targets.aws.importer import read_lab

        vpc = options.get("vpc_id")
        if not vpc:
            raise CloudportsError([Diagnostic(None, "aws: import needs the VPC", "pass --vpc-id vpc-...")])
        ec2 = ec2_client(options.get("profile"), options.get("region"), AwsSettings().region)
        return read_lab(ec2, vpc, dict(options))

    def unmanaged_rules(self, policy: CompiledPolicy, lab: Lab) -> list[str]:
        compiled = self.build(policy).rules
        return sorted(key for key in lab.live_rules if key not in compiled)

    def explain(self, state: AwsState, probe: Probe) -> Verdict:
        from cloudports.targets.aws.explain import explain

        return explain(state, probe)

    def machine(self, state: AwsState, name: str) -> Point | None:
        from cloudports.targets.aws.explain import machine_point

        return machine_point(state, name)

    def reachability(self, state: AwsState) -> Reachability:
        from cloudports.targets.aws.explain import AwsReachability

        return AwsReachability(state)

    def summary(self, state: AwsState) -> str:
        return f"{len(state.groups)} security groups, {len(state.rules)} rules"

    def emit(self, policy: CompiledPolicy, out: Path, phase: str | None, state: AwsState | None = None) -> list[Path]:
        from cloudports.emit.params import spec_parameters
        from cloudports.targets.aws.emit import emit_aws

        return emit_aws(state or self.emit_state(policy, out), out, phase, spec_parameters(policy.topology))

    def members_left_to_apply(self, topology: Topology) -> list[Diagnostic]:
        from cloudports.targets.aws.emit_members import chosen_live

        chosen = chosen_live(topology.members_for(self.name))
        return left_to_apply(self.name, topology, chosen, "instance_ids or network_interface_ids")

    def open_backend(self, policy: CompiledPolicy, options: Mapping[str, str | None], adopt: bool) -> Backend:
        # Imported here so that compile-only commands never load boto3.
        from cloudports.targets.aws.backend import open_backend

        return open_backend(policy, self.settings(policy.topology), options, adopt)
