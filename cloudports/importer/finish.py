"""The last steps of an import, on the spec as written: what only the compiler can tell.

- `allow_exposure` goes on exactly the flows whose exposure the lint would refuse (a live lab is taken as it was
  found; the reason says to review it), and on no other flow.
- Every live rule the written spec does not compile to is listed as kept, not managed
  (`targets.<target>.unmanaged`), so that adopting the lab deletes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudports.errors import CloudportsError

if TYPE_CHECKING:
    from cloudports.importer.model import Lab
    from cloudports.targets.base import Target

REVIEW = "imported from a live lab as it was found; review this exposure"


def allow_refused_exposure(spec_file: Path, spec: dict[str, Any]) -> bool:
    """Mark the flows the exposure lint refuses; whether any was marked."""
    from cloudports.compile.lint import refused_flows
    from cloudports.spec import load_topology

    try:
        refused = refused_flows(load_topology(spec_file))
    except CloudportsError:  # the spec does not load (validate says why)
        return False
    for index in refused:
        spec["flows"][index]["allow_exposure"] = REVIEW
    return bool(refused)


def keep_unmanaged(chosen: Target[Any, Any], spec_file: Path, spec: dict[str, Any], lab: Lab, notes: list[str]) -> bool:
    """List the live rules the spec does not compile to as unmanaged, each said in the notes; whether any was."""
    from cloudports.pipeline import compile_spec

    try:
        kept = chosen.unmanaged_rules(compile_spec(spec_file), lab)
    except CloudportsError:  # the spec does not compile (validate says why): nothing can be compared
        return False
    if not kept:
        return False
    spec["targets"].setdefault(chosen.name, {})["unmanaged"] = kept
    kept_text = f"kept as it is, not managed (targets.{chosen.name}.unmanaged)"
    for key in kept:  # what the reader said of the rule, and that it stays
        said = [i for i, note in enumerate(notes) if note.startswith(f"{key}:")]
        for i in said:
            notes[i] = f"{notes[i].removesuffix('; left out').removesuffix(', left out')}; {kept_text}"
        notes += [] if said else [f"{key}: {kept_text}"]
    return True
