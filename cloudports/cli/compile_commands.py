"""validate, show, emit: commands that compile a spec and need no cloud account."""

from __future__ import annotations

import json
import shutil
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cloudports.cli import common, console
from cloudports.cli.common import (
    TARGET_METAVAR,
    Format,
    FormatOpt,
    PhaseOpt,
    SpecArg,
    TargetOpt,
    VarOpt,
    compile_policy,
    for_target,
    print_rows,
)
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.gcpause import gc_paused
from cloudports.targets import registry

if TYPE_CHECKING:
    from cloudports.compile import CompiledPolicy
    from cloudports.targets.base import Target


# The commands that compile a spec and need no cloud run with the cyclic collector paused from loading to
# writing (see gcpause): one pause instead of one per stage, so that nothing built by one stage is walked while
# the next one runs.


class ValidateFormat(StrEnum):
    text = "text"
    sarif = "sarif"


@gc_paused()
def validate(
    specs: Annotated[
        list[Path],
        typer.Argument(
            help="Topology spec(s) (YAML); several are checked one by one", metavar="SPEC", show_default=False
        ),
    ],
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="Check only this target's limits (repeatable); default: every target",
            metavar=TARGET_METAVAR,
            autocompletion=registry.names,
        ),
    ] = None,
    fmt: Annotated[
        ValidateFormat, typer.Option("--format", "-f", help="text, or SARIF 2.1.0 for code scanning")
    ] = ValidateFormat.text,
    var: VarOpt = None,
    phase: PhaseOpt = None,
) -> int:
    """Check specs (names, CIDRs, ports, parameters, exposure lint, every target's quotas and limits).

    Exit 0 valid (warnings allowed), 1 errors in any. --format sarif prints every finding as SARIF on stdout."""
    names = list(dict.fromkeys(target or registry.names()))
    for name in names:
        registry.get(name)
    if fmt is ValidateFormat.sarif:
        return _sarif(specs, var, phase, names)
    if len(specs) == 1:  # one spec: its errors are the command's, as for every other command
        return _validate_one(specs[0], names, var, phase)
    failed = False
    for spec in specs:  # several (a pre-commit hook passes every changed spec): each is judged, all are reported
        try:
            _validate_one(spec, names, var, phase)
        except CloudportsError as exc:
            failed = True
            for d in exc.diagnostics:
                console.say((d.render(), "red"), stderr=True)
    return 1 if failed else 0


def _validate_one(spec: Path, names: list[str], var: list[str] | None, phase: str | None) -> int:
    policy = compile_policy(spec, var, phase)
    summaries = []
    for name in names:
        chosen = for_target(policy, name)
        summaries.append(f"{name}: {chosen.summary(chosen.build(policy))}")
    topo = policy.topology
    console.say(
        ("ok", "green"),
        f" {spec}: topology '{topo.name}', {len(topo.roles)} roles, {len(topo.flows)} flows"
        f" ({len(topo.skipped_flows)} in other phases), {len(policy.rules)} neutral rules; " + "; ".join(summaries),
    )
    return 0


def _sarif(specs: list[Path], var: list[str] | None, phase: str | None, names: list[str]) -> int:
    """Every finding of every spec at once (a spec's errors stop the rest of that spec), as one SARIF run on
    stdout; exit 1 when any is an error."""
    from cloudports.findings import collect
    from cloudports.sarif import to_sarif
    from cloudports.spec.variables import parse_var_options

    found = [collect(spec, parse_var_options(var), phase, names) for spec in specs]
    findings = found[0]
    for more in found[1:]:
        findings.diagnostics += more.diagnostics
        findings.rules.update(more.rules)
    common.write_out(json.dumps(to_sarif(findings), indent=2) + "\n")
    return 1 if findings.failed else 0


@gc_paused()
def show(
    spec: SpecArg, target: TargetOpt, fmt: FormatOpt = Format.table, var: VarOpt = None, phase: PhaseOpt = None
) -> None:
    """Show the compiled rules for one target, each with the spec line(s) it came from."""
    policy = compile_policy(spec, var, phase)
    chosen = for_target(policy, target)
    rows = chosen.rows(chosen.build(policy))
    if fmt is Format.json:
        from cloudports.live.plan import JSON_VERSION

        head = {"version": JSON_VERSION, "command": "show", "target": target, "topology": policy.topology.name}
        common.out.print_json(json.dumps({**head, "rules": rows}))
        return
    print_rows(f"{target}: {policy.topology.name} ({len(rows)} rules)", rows)


@gc_paused()
def emit(
    spec: SpecArg,
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            "-t",
            help="Target cloud (repeatable: each target's root goes into DIR/TARGET, the spec compiled once)",
            metavar=TARGET_METAVAR,
            autocompletion=registry.names,
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the generated root module", metavar="DIR")
    ],
    var: VarOpt = None,
    phase: PhaseOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Run terraform fmt -check and validate on the result")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write even into a folder holding other files")] = False,
    allow_unchecked: Annotated[
        bool,
        typer.Option("--allow-unchecked", help="With --check: exit 0 when Terraform or its provider is missing"),
    ] = False,
) -> None:
    """Write a self-contained Terraform root module, with TOPOLOGY.md (diagram and flows).

    `terraform init && terraform apply` in DIR; TOPOLOGY.md is for people browsing the repository. With several
    targets, each root goes into DIR/TARGET (`-t aws -t azure --out terraform`: terraform/aws, terraform/azure)."""
    names = list(dict.fromkeys(target))
    policy = compile_policy(spec, var, phase)
    roots = {name: out_dir / name if len(names) > 1 else out_dir for name in names}
    chosen = {name: for_target(policy, name) for name in names}
    if not force:
        from cloudports.emit.files import check_output_dir

        for name, root in roots.items():
            check_output_dir(root, chosen[name].terraform_provider)
    from cloudports.graph.markdown import topology_text  # here: the graph is not needed for --help

    topology = topology_text(policy)  # drawn once, the same file beside every root
    for name, root in roots.items():
        _emit_root(policy, chosen[name], root, phase, topology)
        if check:
            _terraform_check(root, chosen[name], allow_unchecked)


def _emit_root(
    policy: CompiledPolicy, chosen: Target[Any, Any], out_dir: Path, phase: str | None, topology: str
) -> None:
    """One target's root: its Terraform, TOPOLOGY.md and (where a flow accepts what checkov flags) the baseline."""
    from cloudports.emit.checkov import write_baseline
    from cloudports.graph.markdown import write_topology_md

    state = chosen.emit_state(policy, out_dir)  # built once: the Terraform and the checkov baseline name the same rules
    written = chosen.emit(policy, out_dir, phase, state)  # makes out_dir
    written = [*written, write_topology_md(out_dir, topology)]

    baseline = write_baseline(policy, chosen, state, out_dir)
    written += [baseline] if baseline else []
    console.say(f"wrote {len(written)} files to {out_dir} (modules under {out_dir / 'modules'})")
    common.warn(chosen.members_left_to_apply(policy.topology))


def _unchecked(what: str, allowed: bool) -> None:
    """--check could not run: an error (a CI job must not pass unchecked), unless --allow-unchecked."""
    if not allowed:
        raise CloudportsError(
            [Diagnostic(None, f"--check could not run: {what}", "install it, or pass --allow-unchecked")]
        )
    console.say((f"warning: check skipped: {what} (--allow-unchecked)", "yellow"), stderr=True)


def _terraform_check(directory: Path, target: Target[Any, Any], allow_unchecked: bool) -> None:
    from cloudports.emit.terraform_cli import TerraformCLI, find_provider_mirror, find_terraform

    if not find_terraform():
        _unchecked("terraform is not installed (not on PATH)", allow_unchecked)
        return
    provider = target.terraform_provider
    cli = TerraformCLI(directory, provider=provider)
    code, stdout, stderr = cli.fmt()
    if code != 0:
        raise CloudportsError(f"terraform fmt -check found unformatted files:\n{stdout}{stderr}")
    console.say("terraform fmt -check: ok")
    if not provider or not find_provider_mirror(provider):
        what = f"terraform validate needs a local mirror of the hashicorp/{provider} provider (no downloads)"
        _unchecked(f"{what}; set CLOUDPORTS_TF_PLUGIN_MIRROR", allow_unchecked)
        return
    # init leaves .terraform and a lock file behind; remove what this check created so that the directory
    # holds exactly what emit wrote.
    leftovers = [p for p in (directory / ".terraform", directory / ".terraform.lock.hcl") if not p.exists()]
    try:
        for step in ("init", "validate"):
            code, stdout, stderr = cli.init(backend=False) if step == "init" else cli.validate()
            if code != 0:
                raise CloudportsError(f"terraform {step} failed:\n{stdout}{stderr}")
    finally:
        for path in leftovers:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    console.say("terraform validate: ok")


COMMANDS = (validate, show, emit)
