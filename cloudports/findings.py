"""Every finding `validate` can make about a spec, collected instead of stopping at the first failing stage.

`validate` in text mode stops where the pipeline stops (a spec error, then the exposure lint's errors, then each
target's limits). A code-scanning report wants all of them at once, each with a rule and a place in the spec:
this module compiles with the lint's errors kept, then asks every chosen target for its limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cloudports.compile.lint import RULES as LINT_RULES
from cloudports.errors import CloudportsError, Diagnostic, Loc
from cloudports.spec.model import Topology
from cloudports.targets import registry

SPEC_RULE = "spec/invalid"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    help: str


@dataclass
class Findings:
    spec: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)  # every one with a rule and, where known, a loc
    rules: dict[str, Rule] = field(default_factory=dict)

    def add(self, found: list[Diagnostic], rule: Rule, place: Topology | None = None) -> None:
        for d in found:
            d = d if d.rule else replace(d, rule=rule.id)
            self.diagnostics.append(d if d.loc else replace(d, loc=_place(d, self.spec, place)))
            self.rules.setdefault(d.rule, _LINT.get(d.rule, rule))

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)


_LINT = {rule_id: Rule(rule_id, title, text) for rule_id, (title, text) in LINT_RULES.items()}
_SPEC = Rule(SPEC_RULE, "The spec is not valid", "The message says what is wrong and how to fix it.")
_SPEC_WARNING = Rule("spec/warning", "The spec is valid but may not say what was meant", "The message says why.")
_ROLE = re.compile(r"role '([^']+)'")  # limit messages name the role whose group overflows, when one does


def _place(d: Diagnostic, spec: Path, topology: Topology | None) -> Loc:
    """A finding the pipeline could not place: at the role it names, else at the top of the spec."""
    named = _ROLE.search(d.message)
    role = topology.roles.get(named.group(1)) if topology and named else None
    return role.loc if role and role.loc else Loc(str(spec), 1, 1)


def _target_rules(name: str) -> tuple[Rule, Rule]:
    title = registry.get(name).title
    limits = Rule(
        f"limits/{name}",
        f"The compiled rules exceed a quota or limit of {title}",
        "The message names the quota or limit and how to raise it or narrow the flows.",
    )
    capability = Rule(
        f"capability/{name}",
        f"{title} cannot express part of the spec exactly",
        "The message says what the target widens or cannot express, and which targets can.",
    )
    return limits, capability


def collect(spec: Path, variables: Mapping[str, str], phase: str | None, targets: list[str]) -> Findings:
    """Spec errors, exposure lint findings (errors and warnings), and each target's capability and limit findings."""
    from cloudports.pipeline import compile_spec, prepare

    findings = Findings(spec)
    try:
        policy = compile_spec(spec, variables, phase, keep_going=True)
    except CloudportsError as exc:  # the spec itself is wrong: nothing further can be judged
        findings.add(exc.diagnostics, _SPEC)
        return findings
    topology = policy.topology
    findings.add(policy.errors, _SPEC, topology)
    findings.add(policy.warnings, _SPEC_WARNING, topology)
    for name in targets:
        limits, capability = _target_rules(name)
        try:
            target, warnings = prepare(policy, name)
            findings.add(warnings, capability, topology)
        except CloudportsError as exc:
            findings.add(exc.diagnostics, capability, topology)
            continue
        try:
            target.build(policy)
        except CloudportsError as exc:
            findings.add(exc.diagnostics, limits, topology)
    return findings
