"""The whole pipeline in one place: spec -> topology -> neutral rules -> a target's state.

Every command goes through here and the target registry; no cloud is named outside cloudports/targets/<cloud>/.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloudports.compile import CompiledPolicy, compile_topology
from cloudports.errors import Diagnostic
from cloudports.spec import load_topology
from cloudports.spec.loader import load_identity
from cloudports.targets import registry
from cloudports.targets.base import Target
from cloudports.targets.capabilities import check_capabilities


def compile_spec(
    spec: str | Path, variables: Mapping[str, str] | None = None, phase: str | None = None, keep_going: bool = False
) -> CompiledPolicy:
    return compile_topology(load_topology(spec, dict(variables or {}), phase), keep_going)


def prepare(policy: CompiledPolicy, name: str) -> tuple[Target[Any, Any], list[Diagnostic]]:
    """The target, and its warnings for this spec (raises for what the target cannot express)."""
    chosen = registry.get(name)
    return chosen, check_capabilities(chosen, policy)


def desired_state(policy: CompiledPolicy, name: str) -> Any:
    """A target's desired state for the spec, as `show`, `validate` and the tests see it."""
    return registry.get(name).build(policy)


def identity_policy(spec: str | Path) -> CompiledPolicy:
    """A policy that holds only the spec's identity (name and targets settings) and allows nothing: enough for
    a target's backend to find what cloudports owns for the spec, which is all `destroy` needs."""
    return CompiledPolicy(load_identity(spec), [])
