"""The interface every cloud implements, and what a target declares about itself.

A target turns the neutral rules into its cloud's state (build), shows that state as rows (show), and, where
it can, writes Terraform (emit) and opens a live backend (plan/apply/drift/destroy). What it cannot do it
declares: the CLI and the capability check refuse or warn from one place instead of each builder on its own.

To add a cloud, read docs/targets.md: one folder under cloudports/targets/ and one line in registry.BUILTIN.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from cloudports.errors import CloudportsError, Diagnostic, Loc
from cloudports.targets.declarations import Capabilities, Option

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy
    from cloudports.importer.model import Lab
    from cloudports.live.backend import Backend
    from cloudports.query.model import Point, Probe, Verdict
    from cloudports.query.space import Reachability
    from cloudports.spec.model import Topology

Row = dict[str, Any]


class TargetSettings(BaseModel):
    """Base of a target's settings: the spec's `targets.<name>` block (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def role_problems(self, roles: Collection[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """What is wrong with the roles these settings name: (path below `targets.<name>`, message, hint) each.
        The loader checks this once the roles are known, and places each problem at its path."""
        return []

    def network_problems(self, networks: Mapping[str, bool]) -> list[tuple[tuple[str | int, ...], str, str]]:
        """What is wrong with the networks these settings name (`networks`: name -> whether it has addresses), as
        role_problems says it."""
        return []

    def addressless_networks(self) -> Collection[str]:
        """The networks whose machines these settings name without addresses (an AWS security group): such a
        network may list no address blocks."""
        return ()


S = TypeVar("S", bound=TargetSettings)
St = TypeVar("St")


class Target(ABC, Generic[S, St]):
    """One cloud. Subclasses set the class attributes and implement build and rows."""

    name: ClassVar[str]  # the registry key and the spec's `targets.<name>`
    title: ClassVar[str]  # for people: "AWS security groups"
    settings_model: ClassVar[type[TargetSettings]]
    # The spec's `roles.<role>.members.<name>`: which machines carry the role; None if the target cannot place
    # machines in roles.
    members_model: ClassVar[type[TargetSettings] | None] = None
    capabilities: ClassVar[Capabilities] = Capabilities()
    options: ClassVar[tuple[Option, ...]] = ()  # live-command options
    import_options: ClassVar[tuple[Option, ...]] = ()  # further options of `import` (what to import)
    terraform_provider: ClassVar[str | None] = None  # e.g. "aws": the mirror `emit --check` looks for

    def settings(self, topology: Topology) -> S:
        found = topology.targets.get(self.name)
        return cast(S, found if found is not None else self.settings_model())

    @abstractmethod
    def build(self, policy: CompiledPolicy) -> St:
        """The desired state: what this cloud must hold for the spec (limits checked, errors raised)."""

    @abstractmethod
    def rows(self, state: St) -> list[Row]:
        """One row per rule, for `show` (each with an 'origin' column: the spec lines it came from)."""

    def role_names(self, state: St) -> dict[str, str]:
        """role -> the name its group carries in the rows (AWS security group, Azure ASG), for the graph page to
        tell which of a flow's rules concern which role; {} where rules do not name roles."""
        return {}

    def row_ends(self, row: Row) -> tuple[set[str], set[str]]:
        """What one of `rows`' rows lets traffic come from and go to: group names and address blocks, each bare
        (for the graph page); empty sets for a rule that lets nothing through (a deny) or where the target cannot
        tell."""
        return set(), set()

    def summary(self, state: St) -> str:
        """A few words for `validate`, e.g. '5 security groups, 155 rules'."""
        return f"{len(self.rows(state))} rules"

    def emit_state(self, policy: CompiledPolicy, out: Path) -> St:
        """The state `emit` writes into `out`: the desired state, whose names carry over from what an earlier
        emit left in `out` where the target keeps names (built once: the same state feeds the checkov baseline)."""
        return self.build(policy)

    def emit(self, policy: CompiledPolicy, out: Path, phase: str | None, state: St | None = None) -> list[Path]:
        """Write a Terraform root module of `state` (else emit_state's) into `out`; returns the files written."""
        raise self.unsupported("emit Terraform")

    def members_left_to_apply(self, topology: Topology) -> list[Diagnostic]:
        """Warnings for the roles whose machines `emit` cannot put into members.tf (chosen by tag, ...): Terraform
        needs keys known before it reads the cloud, so `cloudports apply` places those machines."""
        return []

    def open_backend(self, policy: CompiledPolicy, options: Mapping[str, str | None], adopt: bool) -> Backend:
        """The live backend for this spec; no API call is made until it is used."""
        raise self.unsupported("work on live resources (plan, apply, drift, destroy)")

    def import_lab(self, options: Mapping[str, str | None]) -> Lab:
        """A live lab read through the cloud's API, for `cloudports import` (options: live and import options)."""
        raise self.unsupported("import a live lab (import)")

    def unmanaged_rules(self, policy: CompiledPolicy, lab: Lab) -> list[str]:
        """The lab's live rules that the spec imported from it does not compile to: the spec keeps them as they
        are (`targets.<name>.unmanaged`) instead of apply deleting them. [] where the target cannot keep rules."""
        return []

    def explain(self, state: St, probe: Probe) -> Verdict:
        """Whether this cloud's state lets the probe's connection through, with the rules that decide it."""
        raise self.unsupported("answer queries (query --target)")

    def machine(self, state: St, name: str) -> Point | None:
        """The live machine `name` (an ID, a name or a private address) in a state read with machines, as a
        query endpoint with the groups it carries; None if there is no such machine."""
        return None

    def reachability(self, state: St) -> Reachability:
        """What this cloud's state allows between any two endpoints, as exact sets (for verify)."""
        raise self.unsupported("be verified (verify)")

    def unsupported(self, what: str) -> CloudportsError:
        return CloudportsError(
            [Diagnostic(None, f"target '{self.name}' ({self.title}) cannot {what}", "choose another --target")]
        )


def left_to_apply(target: str, topology: Topology, chosen_by: Mapping[str, str], by_name: str) -> list[Diagnostic]:
    """One warning per role whose machines are `chosen_by` (role -> 'tag', ...) something members.tf cannot hold;
    `by_name`: the selectors Terraform can attach (e.g. 'instance_ids or network_interface_ids')."""
    return [
        Diagnostic(
            topology.roles[role].loc,
            f"{target}: role '{role}' chooses its machines by {how}, which members.tf cannot hold: `cloudports "
            "apply` places them, not Terraform",
            f"name them ({by_name}) for Terraform to attach them, or run `cloudports apply` after `terraform apply`",
            "warning",
        )
        for role, how in sorted(chosen_by.items(), key=lambda item: _line(topology.roles[item[0]].loc))
    ]


def _line(loc: Loc | None) -> tuple[int, int]:
    return (loc.line, loc.col) if loc else (0, 0)
