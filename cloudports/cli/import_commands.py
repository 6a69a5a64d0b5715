"""import: a live lab's firewall rules -> a topology spec that `plan --adopt` and `verify --live` agree with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloudports.cli import common
from cloudports.cli.common import TARGET_METAVAR
from cloudports.cli.target_options import TargetOptions, options_for, with_import_options
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets import registry

EXPRESSED, APPROXIMATED = 0, 2


@with_import_options
def import_(
    target: Annotated[str, typer.Option("--target", "-t", help="The cloud to read", metavar=TARGET_METAVAR)],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Where to write the spec (YAML)", metavar="FILE")],
    name: Annotated[str | None, typer.Option("--name", help="The topology's name (default: from the lab)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists")] = False,
    *,
    target_options: TargetOptions,
) -> int:
    """Write a topology spec from a live lab (roles, networks, catalog services, flows).

    Roles from groups, networks from CIDRs, catalog services by name, flows. Exit 0 when everything was
    expressed, 2 when something was approximated (listed), 1 on error."""
    from cloudports.importer.finish import allow_refused_exposure, keep_unmanaged
    from cloudports.importer.synthesis import build_spec
    from cloudports.importer.write import spec_text, valid_name

    chosen = registry.get(target)
    if out_file.exists() and not force:
        raise CloudportsError([Diagnostic(None, f"--out {out_file} exists", "choose another file, or pass --force")])
    options = options_for(chosen, target_options, importing=True)
    lab = chosen.import_lab({**options, "name": valid_name(name) if name else None})
    spec, notes = build_spec(lab)
    source = ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if v)

    def write() -> None:
        out_file.write_text(spec_text(spec, notes, target, source), encoding="utf-8")

    write()  # the last steps read the spec as written (the lint and the compiler judge the file)
    if allow_refused_exposure(out_file, spec):
        write()
    if keep_unmanaged(chosen, out_file, spec, lab, notes):
        write()
    for note in notes:
        common.err.print(f"warning: {note}", style="yellow", markup=False, highlight=False)
    flows, roles = len(spec["flows"]), len(spec["roles"])
    common.out.print(f"wrote {out_file}: {roles} roles, {flows} flows, {len(notes)} approximation(s)", markup=False)
    return APPROXIMATED if notes else EXPRESSED


import_.__name__ = "import"
COMMANDS = (import_,)
