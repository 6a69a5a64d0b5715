"""The whole pipeline in one place: spec -> topology -> neutral rules -> per-cloud desired state."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cloudports.compile import CompiledPolicy, compile_topology
from cloudports.spec import load_topology
from cloudports.targets.aws.build import build_aws
from cloudports.targets.aws.model import AwsDesiredState
from cloudports.targets.azure.build import build_azure
from cloudports.targets.azure.model import AzureDesiredState

TARGETS = ("aws", "azure")


def compile_spec(
    spec: str | Path, variables: Mapping[str, str] | None = None, phase: str | None = None
) -> CompiledPolicy:
    return compile_topology(load_topology(spec, dict(variables or {}), phase))


def desired_state(
    policy: CompiledPolicy,
    target: str,
    *,
    vpc_id: str | None = None,
    previous_priorities: Mapping[tuple[str, str], int] | None = None,
) -> AwsDesiredState | AzureDesiredState:
    if target == "aws":
        return build_aws(policy, vpc_id=vpc_id)
    if target == "azure":
        return build_azure(policy, previous_priorities)
    raise ValueError(f"unknown target {target!r}")
