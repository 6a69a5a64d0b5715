"""`.checkov.baseline` beside the emitted Terraform: the rules an `allow_exposure` accepts, with its reason.

checkov flags a rule open to the internet on SSH, RDP, HTTP, ... whether or not the spec documented the risk.
Its baseline (`checkov --baseline FILE`) suppresses exactly the listed (resource, check id) pairs; the resource
is the address checkov reports on a plan (`terraform show -json plan`), e.g. one `for_each` instance, so an
accepted exposure is suppressed and every other rule is still checked. Inline `#checkov:skip` comments cannot
do that: they sit on the module's one `resource` block and would silence every instance.

What checkov reports on a target's rules is the target's knowledge: `cloudports.targets.<cloud>.scanners`
(`checkov_findings(state)`); a target without that module gets no baseline.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cloudports.compile import CompiledPolicy

BASELINE = ".checkov.baseline"
Findings = Callable[[Any], Iterable[tuple[str, list[str], list[str]]]]


def _findings_of(target: Any) -> Findings | None:
    package = type(target).__module__.rsplit(".", 1)[0]
    try:
        module = importlib.import_module(f"{package}.scanners")
    except ModuleNotFoundError:
        return None
    found: Findings | None = getattr(module, "checkov_findings", None)
    return found


def baseline(policy: CompiledPolicy, target: Any, state: Any) -> dict[str, Any] | None:
    """The baseline document, or None when the target declares nothing checkov reports."""
    findings = _findings_of(target)
    if findings is None:
        return None
    flows = [*policy.topology.flows, *policy.topology.skipped_flows]
    reasons = {str(f.loc): (f.allow_exposure or "").strip() for f in flows if (f.allow_exposure or "").strip()}
    entries = []
    for address, check_ids, origins in findings(state):
        accepted = sorted({reasons[o] for o in origins if o in reasons})
        # a rule merged from an accepted flow and another one is accepted only if every flow behind it is
        if accepted and all(o in reasons for o in origins):
            entries.append({"resource": address, "check_ids": sorted(check_ids), "reason": "; ".join(accepted)})
    # checkov matches a finding by resource and check id; "file" is informative ("reason" is ours, ignored by it)
    return {"failed_checks": [{"file": "/plan.json", "findings": entries}] if entries else []}


def write_baseline(policy: CompiledPolicy, target: Any, state: Any, directory: Path) -> Path | None:
    """Writes the baseline when some rule is accepted; else removes an earlier one, which would now suppress
    findings nobody accepted."""
    document = baseline(policy, target, state)
    path = directory / BASELINE
    if not document or not document["failed_checks"]:
        path.unlink(missing_ok=True)
        return None
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
