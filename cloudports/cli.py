"""The `cloudports` command line.

Exit codes: 0 ok; 1 error (including usage errors); 2 "changes present" for `plan --detailed-exitcode` and
`drift`, as Terraform does. Bad input never prints a traceback.
"""

from __future__ import annotations

import json
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudports import __version__
from cloudports.errors import CloudportsError
from cloudports.pipeline import compile_spec, desired_state

app = typer.Typer(
    name="cloudports",
    help="Compile a topology spec into AWS security groups and Azure NSGs; emit Terraform, apply, detect drift.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


class Target(StrEnum):
    aws = "aws"
    azure = "azure"


class Format(StrEnum):
    table = "table"
    json = "json"


SpecArg = Annotated[Path, typer.Argument(help="Topology spec (YAML)", show_default=False)]
TargetOpt = Annotated[Target, typer.Option("--target", "-t", help="Cloud to compile for")]
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", help="Override a parameter: name=value (repeatable)", show_default=False)
]
PhaseOpt = Annotated[str | None, typer.Option("--phase", help="Also include flows of this phase (e.g. setup)")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format")]


def _vars(items: list[str] | None) -> dict[str, str]:
    result = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CloudportsError(f"--var {item!r}: expected name=value, e.g. --var d365_web_port=5555")
        result[name.strip()] = value.strip()
    return result


def _warn(diagnostics) -> None:
    for d in diagnostics:
        err.print(d.render(), style="yellow", markup=False, highlight=False)


def _compile(spec: Path, var: list[str] | None, phase: str | None):
    policy = compile_spec(spec, _vars(var), phase)
    _warn(policy.warnings)
    return policy


@app.command()
def validate(spec: SpecArg, var: VarOpt = None, phase: PhaseOpt = None) -> None:
    """Check a spec (names, CIDRs, ports, parameters, exposure lint, cloud quotas and limits)."""
    policy = _compile(spec, var, phase)
    aws = desired_state(policy, "aws")
    azure = desired_state(policy, "azure")
    _warn(azure.warnings)
    topo = policy.topology
    out.print(
        f"[green]ok[/green] {spec}: topology '{topo.name}', {len(topo.roles)} roles, {len(topo.flows)} flows"
        f" ({len(topo.skipped_flows)} in other phases), {len(policy.rules)} neutral rules;"
        f" aws: {len(aws.groups)} security groups, {len(aws.rules)} rules;"
        f" azure: {len(azure.asgs)} ASGs, {len(azure.rules)} NSG rules"
    )


def _aws_rows(state) -> list[dict]:
    return [
        {
            "group": state.groups[r.group].name,
            "direction": r.direction,
            "protocol": "all" if r.ip_protocol == "-1" else r.ip_protocol,
            "ports": r.ports,
            "peer": r.referenced_group and f"sg {state.groups[r.referenced_group].name}" or r.peer.split(":", 1)[1],
            "description": r.description,
            "origin": ", ".join(state.rule_origins.get(k, [])),
            "key": k,
        }
        for k, r in state.rules.items()
    ]


def _azure_rows(state) -> list[dict]:
    def side(rule, which):
        asgs = getattr(rule, f"{which}_asgs")
        return ", ".join(f"asg {state.asgs[a].name}" for a in asgs) or ", ".join(getattr(rule, f"{which}_prefixes"))

    return [
        {
            "priority": r.priority,
            "name": r.name,
            "direction": r.direction,
            "access": r.access,
            "protocol": r.protocol,
            "source": side(r, "source"),
            "destination": side(r, "destination"),
            "ports": ",".join(r.destination_ports),
            "description": r.description,
            "origin": ", ".join(state.rule_origins.get(r.name, [])),
        }
        for r in sorted(state.rules.values(), key=lambda r: (r.direction, r.priority))
    ]


@app.command()
def show(
    spec: SpecArg, target: TargetOpt, fmt: FormatOpt = Format.table, var: VarOpt = None, phase: PhaseOpt = None
) -> None:
    """Show the compiled rules for one cloud, each with the spec line(s) it came from."""
    policy = _compile(spec, var, phase)
    state = desired_state(policy, target.value)
    rows = _aws_rows(state) if target is Target.aws else _azure_rows(state)
    if target is Target.azure:
        _warn(state.warnings)
    if fmt is Format.json:
        out.print_json(json.dumps({"target": target.value, "topology": policy.topology.name, "rules": rows}))
        return
    table = Table(title=f"{target.value}: {policy.topology.name} ({len(rows)} rules)")
    columns = [c for c in (rows[0].keys() if rows else ()) if c != "key"]
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    out.print(table)


@app.command()
def emit(
    spec: SpecArg,
    target: TargetOpt,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for the generated root module")],
    var: VarOpt = None,
    phase: PhaseOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Run terraform fmt -check and validate on the result")] = False,
) -> None:
    """Write a self-contained Terraform root module (`terraform init && terraform apply` in OUT)."""
    policy = _compile(spec, var, phase)
    if target is Target.aws:
        from cloudports.targets.aws.emit import emit_aws

        written = emit_aws(desired_state(policy, "aws"), out_dir, phase)
    else:
        from cloudports.targets.azure.emit import emit_azure, read_previous_priorities

        state = desired_state(policy, "azure", previous_priorities=read_previous_priorities(out_dir))
        _warn(state.warnings)
        written = emit_azure(state, out_dir, phase)
    out.print(f"wrote {len(written)} files to {out_dir} (modules under {out_dir / 'modules'})")
    if check:
        _terraform_check(out_dir, target)


def _terraform_check(directory: Path, target: Target) -> None:
    from cloudports.emit.terraform_cli import TerraformCLI, find_provider_mirror, find_terraform

    if not find_terraform():
        out.print("[yellow]check skipped: terraform is not installed[/yellow]")
        return
    cli = TerraformCLI(directory)
    code, stdout, stderr = cli.fmt()
    if code != 0:
        raise CloudportsError(f"terraform fmt -check found unformatted files:\n{stdout}{stderr}")
    out.print("terraform fmt -check: ok")
    provider = "aws" if target is Target.aws else "azurerm"
    if not find_provider_mirror(provider):
        out.print(
            f"[yellow]validate skipped: no local mirror of the hashicorp/{provider} provider (no downloads)[/yellow]"
        )
        return
    # init leaves .terraform and a lock file behind; remove what this check created so that the directory
    # holds exactly what emit wrote.
    leftovers = [p for p in (directory / ".terraform", directory / ".terraform.lock.hcl") if not p.exists()]
    try:
        for step in ("init", "validate"):
            code, stdout, stderr = getattr(cli, step)(**({"backend": False} if step == "init" else {}))
            if code != 0:
                raise CloudportsError(f"terraform {step} failed:\n{stdout}{stderr}")
    finally:
        for path in leftovers:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    out.print("terraform validate: ok")


@app.command()
def catalog(name: Annotated[str | None, typer.Argument(help="Catalog to list; all when omitted")] = None) -> None:
    """List the built-in service catalogs, or the services of one."""
    from cloudports.catalogs import available_catalogs, describe_catalog

    names = available_catalogs()
    if name is None:
        table = Table(title="Built-in catalogs")
        table.add_column("catalog")
        table.add_column("services")
        table.add_column("description")
        for n in names:
            info = describe_catalog(n)
            table.add_row(n, str(len(info["services"])), info["description"])
        out.print(table)
        return
    if name not in names:
        from cloudports.errors import did_you_mean

        raise CloudportsError(f"unknown catalog '{name}'; {did_you_mean(name, names)}")
    info = describe_catalog(name)
    table = Table(title=f"{name}: {info['description']}")
    for col in ("service", "ports", "flags", "sources", "description"):
        table.add_column(col, overflow="fold")
    for svc in info["services"]:
        flags = ", ".join(f for f in ("optional", "legacy") if svc[f])
        table.add_row(svc["name"], " ".join(svc["ports"]), flags, ", ".join(svc["sources"]), svc["description"])
    out.print(table)
    if info["parameters"]:
        out.print("parameters: " + ", ".join(f"{k}={v}" for k, v in info["parameters"].items()))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editor completion and checking)."""
    from cloudports.spec.schema import spec_json_schema

    sys.stdout.write(json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n")


@app.command()
def version() -> None:
    """Print the cloudports version."""
    out.print(__version__)


# ----------------------------------------------------------------------------------- live: plan/apply/drift

ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS: named profile")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS: region (overrides the spec)")]
VpcOpt = Annotated[str | None, typer.Option("--vpc-id", help="AWS: VPC (overrides the spec)")]
SubOpt = Annotated[str | None, typer.Option("--subscription", help="Azure: subscription (or AZURE_SUBSCRIPTION_ID)")]
RgOpt = Annotated[str | None, typer.Option("--resource-group", help="Azure: resource group (overrides the spec)")]
ArmOpt = Annotated[
    str | None, typer.Option("--arm-endpoint", help="Azure: Resource Manager URL (or CLOUDPORTS_ARM_ENDPOINT)")
]


def _backend(
    spec, target, var, phase, profile, region, vpc_id, subscription, resource_group, arm_endpoint, adopt=False
):
    from cloudports.live.backend import LiveOptions, open_backend

    policy = _compile(spec, var, phase)
    options = LiveOptions(profile, region, vpc_id, adopt, subscription, resource_group, arm_endpoint)
    return open_backend(target.value, policy, options)


def _print_plan(plan, fmt: Format, mode: str) -> None:
    if fmt is Format.json:
        sys.stdout.write(plan.to_json(mode) + "\n")
    else:
        from cloudports.live.report import render_plan

        render_plan(plan, out, mode)


@app.command()
def plan(
    spec: SpecArg,
    target: TargetOpt,
    fmt: FormatOpt = Format.table,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes")
    ] = False,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    vpc_id: VpcOpt = None,
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Take over same-name groups that lack cloudports tags")
    ] = False,
    subscription: SubOpt = None,
    resource_group: RgOpt = None,
    arm_endpoint: ArmOpt = None,
) -> None:
    """Show what `apply` would change in the live cloud."""
    backend = _backend(
        spec, target, var, phase, profile, region, vpc_id, subscription, resource_group, arm_endpoint, adopt
    )
    result = backend.plan()
    _print_plan(result, fmt, "plan")
    if detailed_exitcode and not result.empty:
        raise typer.Exit(2)


@app.command()
def apply(
    spec: SpecArg,
    target: TargetOpt,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation")] = False,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    vpc_id: VpcOpt = None,
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Take over same-name groups that lack cloudports tags")
    ] = False,
    subscription: SubOpt = None,
    resource_group: RgOpt = None,
    arm_endpoint: ArmOpt = None,
) -> None:
    """Make the live cloud match the spec (shows the plan and asks first)."""
    backend = _backend(
        spec, target, var, phase, profile, region, vpc_id, subscription, resource_group, arm_endpoint, adopt
    )
    planned = backend.plan()
    _print_plan(planned, fmt, "plan")
    if planned.empty:
        return
    if not auto_approve and not typer.confirm("Apply these changes?", default=False):
        raise CloudportsError("apply cancelled; nothing was changed")
    done = backend.apply(planned)
    counts = done.counts()
    # with --format json the summary goes to stderr, so that stdout stays one JSON document
    (err if fmt is Format.json else out).print(
        f"[green]applied:[/green] {counts['add']} created, {counts['change']} updated, {counts['remove']} deleted"
    )


@app.command()
def drift(
    spec: SpecArg,
    target: TargetOpt,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    phase: PhaseOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    vpc_id: VpcOpt = None,
    subscription: SubOpt = None,
    resource_group: RgOpt = None,
    arm_endpoint: ArmOpt = None,
) -> None:
    """Compare live rules with the spec. Exit 0 in sync, 2 drift, 1 error."""
    backend = _backend(spec, target, var, phase, profile, region, vpc_id, subscription, resource_group, arm_endpoint)
    result = backend.plan()
    _print_plan(result, fmt, "drift")
    if not result.empty:
        raise typer.Exit(2)


@app.command()
def destroy(
    spec: SpecArg,
    target: TargetOpt,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation")] = False,
    fmt: FormatOpt = Format.table,
    var: VarOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    vpc_id: VpcOpt = None,
    subscription: SubOpt = None,
    resource_group: RgOpt = None,
    arm_endpoint: ArmOpt = None,
) -> None:
    """Remove what cloudports owns for this topology (never anything else)."""
    backend = _backend(spec, target, var, None, profile, region, vpc_id, subscription, resource_group, arm_endpoint)
    planned = backend.plan_destroy()
    _print_plan(planned, fmt, "plan")
    if planned.empty:
        return
    if not auto_approve and not typer.confirm("Destroy these resources?", default=False):
        raise CloudportsError("destroy cancelled; nothing was changed")
    done = backend.destroy(planned)
    console = err if fmt is Format.json else out  # keep stdout one JSON document with --format json
    for note in done.notes:
        console.print(f"note: {note}")
    console.print(f"[green]destroyed:[/green] {done.counts()['remove']} resources")


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to exit 1 (usage errors too: 2 means 'changes present')."""
    from typer._click.exceptions import ClickException

    try:
        result = app(args=argv, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except CloudportsError as exc:
        for d in exc.diagnostics:
            err.print(d.render(), style="red", markup=False, highlight=False)
        return 1
    except ClickException as exc:
        exc.show()
        return 1
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 1
    except OSError as exc:
        err.print(f"error: {exc}", style="red", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
