"""Azure: one NSG for the topology and one application security group per role."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cloudports.targets.azure.model import AzureState, NsgRule, Priorities
from cloudports.targets.azure.options import IMPORT_OPTIONS, OPTIONS
from cloudports.targets.azure.settings import AzureMembers, AzureSettings
from cloudports.targets.base import Capabilities, Row, Target, left_to_apply

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy
    from cloudports.errors import Diagnostic
    from cloudports.importer.model import Lab
    from cloudports.live.backend import Backend
    from cloudports.query.model import Point, Probe, Verdict
    from cloudports.query.space import Reachability
    from cloudports.spec.model import Topology


class AzureTarget(Target[AzureSettings, AzureState]):
    name = "azure"
    title = "Azure network security groups"
    settings_model = AzureSettings
    members_model = AzureMembers
    # NSG rules match protocol 'Icmp' without type or code, for IPv4 and IPv6 alike (azure.md §1).
    capabilities = Capabilities(icmp_types=False, icmp_families=False, egress=True, terraform=True, live=True)
    terraform_provider = "azurerm"
    options = OPTIONS
    import_options = IMPORT_OPTIONS

    def build(
        self,
        policy: CompiledPolicy,
        previous_priorities: Priorities | None = None,
        previous_rules: Mapping[str, Iterable[NsgRule]] | None = None,
    ) -> AzureState:
        """previous_priorities: NSG name -> (direction, rule name) -> priority that rules keep where consistent;
        previous_rules: NSG name -> its rules, whose names keep their pairs (identity.py)."""
        # The builder, the writer and the rows are imported where used: every command imports every target (for
        # its options), and most use one of them or none.
        from cloudports.targets.azure.build import build_azure

        return build_azure(policy, self.settings(policy.topology), previous_priorities, None, previous_rules)

    def rows(self, state: AzureState) -> list[Row]:
        from cloudports.targets.azure.rows import rows

        return rows(state)

    def role_names(self, state: AzureState) -> dict[str, str]:
        return {role: asg.name for role, asg in state.asgs.items()}

    def row_ends(self, row: Row) -> tuple[set[str], set[str]]:
        from cloudports.targets.azure.rows import row_ends

        return row_ends(row)

    def import_lab(self, options: Mapping[str, str | None]) -> Lab:
        from cloudports.targets.azure.arm import network_client, resolve_settings
        from cloudports.targets.azure.importer import read_lab

        arm = resolve_settings(
            subscription=options.get("subscription"),
            resource_group=options.get("resource_group"),
            location=AzureSettings().location,
            arm_endpoint=options.get("arm_endpoint"),
        )
        return read_lab(network_client(arm), arm, dict(options))

    def explain(self, state: AzureState, probe: Probe) -> Verdict:
        from cloudports.targets.azure.explain import explain

        return explain(state, probe)

    def machine(self, state: AzureState, name: str) -> Point | None:
        from cloudports.targets.azure.explain import machine_point

        return machine_point(state, name)

    def reachability(self, state: AzureState) -> Reachability:
        from cloudports.targets.azure.explain import AzureReachability

        return AzureReachability(state)

    def summary(self, state: AzureState) -> str:
        nsgs = f"{len(state.nsgs)} NSGs, " if state.split else ""
        least = f" (no packing needs fewer than {state.least_rules})" if state.least_rules else ""
        return f"{nsgs}{len(state.asgs)} ASGs, {len(state.all_rules())} NSG rules{least}"

    def emit_state(self, policy: CompiledPolicy, out: Path) -> AzureState:
        # Rules keep the names, contents and priorities recorded beside earlier emitted Terraform in `out`.
        # Rules that take over what another rule allowed are written first (make before break).
        from cloudports.targets.azure.emit import mark_written_first, previous_priorities, previous_rules, read_record

        record = read_record(out)  # parsed once: 2.6 MB of JSON at 10,000 flows
        previous = previous_rules(record)
        state = self.build(policy, previous_priorities(record), previous)
        mark_written_first(state, previous)
        return state

    def emit(self, policy: CompiledPolicy, out: Path, phase: str | None, state: AzureState | None = None) -> list[Path]:
        from cloudports.emit.params import spec_parameters
        from cloudports.targets.azure.emit import emit_azure

        return emit_azure(state or self.emit_state(policy, out), out, phase, spec_parameters(policy.topology))

    def members_left_to_apply(self, topology: Topology) -> list[Diagnostic]:
        from cloudports.targets.azure.emit_members import chosen_live

        return left_to_apply(self.name, topology, chosen_live(topology.members_for(self.name)), "network_interfaces")

    def open_backend(self, policy: CompiledPolicy, options: Mapping[str, str | None], adopt: bool) -> Backend:
        # Imported here so that compile-only commands never load the Azure SDK.
        from cloudports.targets.azure.backend import open_backend

        return open_backend(policy, self.settings(policy.topology), options, adopt)
