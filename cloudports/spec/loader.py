"""Read a spec file, its includes and the catalogs it names, and check everything into a Topology.

The loader reports every problem it finds (not only the first), each at file:line:column with a hint, and
never lets a Python exception reach the user for bad input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudports.errors import Diagnostic, Loc, Problems, SpecError, did_you_mean
from cloudports.gcpause import gc_paused
from cloudports.spec import model
from cloudports.spec.checks import addressless_networks, check_target_networks, check_target_roles
from cloudports.spec.definitions import build_networks, build_roles
from cloudports.spec.documents import Doc, load_catalogs, load_spec_files, parse_document
from cloudports.spec.ports import PortSyntaxError, looks_like_port, near_port, parse_port
from cloudports.spec.postree import PosDict, PosList
from cloudports.spec.schema import CatalogFile, ParameterDecl, PortLong, SpecFile, spec_file_model
from cloudports.spec.variables import check_var_value, unknown_var, var_label
from cloudports.spec.yamlpos import key_loc, locate


@dataclass
class _Param:
    value: int | str | None
    loc: Loc | None
    source: str  # "catalog X", "spec", "--var"
    description: str = ""


@dataclass
class _Ctx:
    problems: Problems = field(default_factory=Problems)
    params: dict[str, _Param] = field(default_factory=dict)


class _Resolver:
    """Resolves service names (possibly composed) and inline ports to PortSpecs."""

    def __init__(self, ctx: _Ctx, services: dict[str, tuple[Any, Doc]]):
        self.ctx = ctx
        self.defs = services
        self.done: dict[str, model.Service] = {}
        self.failed: set[str] = set()
        # Inline ports already read: the parameters have their values by now, so the same text always gives the
        # same port (a large spec writes each port many times). Failures are not kept: each is reported where it is.
        self.inline: dict[str, model.PortSpec] = {}

    def lookup_param(self, name: str) -> int | str:
        param = self.ctx.params.get(name)
        if param is None:
            raise PortSyntaxError(f"unknown parameter '{name}'", did_you_mean(name, self.ctx.params))
        if param.value is None:
            where = f" (declared at {param.loc})" if param.loc else ""
            raise PortSyntaxError(
                f"parameter '{name}' has no value{where}", f"pass --var {name}=VALUE or give it a default"
            )
        return param.value

    def port(self, item: str | PortLong, loc: Loc | None) -> model.PortSpec | None:
        if type(item) is str and item in self.inline:
            return self.inline[item]
        try:
            found = parse_port(item, self.lookup_param)
        except PortSyntaxError as exc:
            param = self.ctx.params.get(exc.param or "")
            if param is not None and param.source == "--var" and exc.param:  # say which option to change
                label = var_label(exc.param, str(param.value))
                self.ctx.problems.error(loc, f"{label}: {exc}", f"{exc.hint}, e.g. --var {exc.param}=8")
            else:
                self.ctx.problems.error(loc, str(exc), exc.hint)
            return None
        if type(item) is str:
            self.inline[item] = found
        return found

    def service(self, name: str, loc: Loc | None, stack: tuple[str, ...] = ()) -> model.Service | None:
        if name in self.done:
            return self.done[name]
        if name in self.failed:
            return None
        if name not in self.defs:
            meant = near_port(name)
            hint = f"did you mean the port {meant}?" if meant else did_you_mean(name, self.defs)
            self.ctx.problems.error(loc, f"unknown service '{name}'", hint)
            return None
        if name in stack:
            self.ctx.problems.error(
                loc,
                f"service '{name}' contains itself: {' -> '.join((*stack, name))}",
                "a composed service cannot include itself; remove one of these 'services:' references",
            )
            self.failed.add(name)
            return None
        svc, doc = self.defs[name]
        base = ("services", name)
        ports: list[model.PortSpec] = []
        ok = True
        for i, item in enumerate(svc.ports):
            spec = self.port(item, locate(doc.raw, (*base, "ports", i)))
            ok &= spec is not None
            if spec:
                ports.append(spec)
        for i, sub in enumerate(svc.services):
            inner = self.service(sub, locate(doc.raw, (*base, "services", i)), (*stack, name))
            ok &= inner is not None
            if inner:
                ports.extend(inner.ports)
        if ok and not ports:
            self.ctx.problems.error(
                key_loc(doc.raw["services"], name),
                f"service '{name}' has no ports",
                "add 'ports:' or 'services:'",
            )
            ok = False
        if not ok:
            self.failed.add(name)
            return None
        result = model.Service(
            name=name,
            ports=model.unique_ports(ports),
            description=svc.description,
            sources=tuple(svc.sources),
            optional=svc.optional,
            legacy=svc.legacy,
            catalog=doc.catalog,
            loc=key_loc(doc.raw["services"], name),
        )
        self.done[name] = result
        return result


def _declare_params(ctx: _Ctx, catalogs: list[Doc], specs: list[Doc], variables: dict[str, str]) -> None:
    for doc in catalogs:
        cat: CatalogFile = doc.parsed  # type: ignore[assignment]
        for name, d in cat.parameters.items():
            loc = key_loc(doc.raw["parameters"], name)
            ctx.params[name] = _Param(d.default, loc, f"catalog {doc.catalog}", d.description)
    for doc in specs:
        spec: SpecFile = doc.parsed  # type: ignore[assignment]
        for name, value in spec.parameters.items():
            loc = key_loc(doc.raw["parameters"], name)
            if name in ctx.params and ctx.params[name].source == "spec":
                ctx.problems.error(loc, f"parameter '{name}' is defined twice", f"first at {ctx.params[name].loc}")
                continue
            decl = value if isinstance(value, ParameterDecl) else ParameterDecl(default=value)
            known = ctx.params.get(name, _Param(None, None, ""))  # re-describing a catalog's keeps its default, text
            default = known.value if decl.default is None else decl.default
            ctx.params[name] = _Param(default, loc, "spec", decl.description or known.description)
    for name, value in variables.items():
        problem = check_var_value(name, value) if name in ctx.params else unknown_var(name, value, list(ctx.params))
        if problem:
            ctx.problems.items.append(problem)
            continue
        ctx.params[name] = _Param(value, None, "--var", ctx.params[name].description)
    for name, param in ctx.params.items():
        if param.value is None:  # declared without a default and not given: an error whether used or not
            hint = f"pass --var {name}=VALUE or give it a default"
            ctx.problems.error(param.loc, f"parameter '{name}' has no value", hint)


def _collect_named(ctx: _Ctx, docs: list[Doc], section: str, kinds: dict[str, tuple[Any, Doc]], what: str) -> None:
    for doc in docs:
        items = getattr(doc.parsed, section)
        for name, value in items.items():
            loc = key_loc(doc.raw[section], name)
            if name in kinds:
                other_doc = kinds[name][1]
                first = key_loc(other_doc.raw[section], name)
                origin = f"catalog '{other_doc.catalog}'" if other_doc.catalog else str(first)
                ctx.problems.error(loc, f"duplicate {what} '{name}'", f"'{name}' is already defined in {origin}")
                continue
            kinds[name] = (value, doc)


def _spec_of(doc: Doc) -> SpecFile:
    assert isinstance(doc.parsed, SpecFile)  # for mypy: catalogs never reach the spec-only steps
    return doc.parsed


def _names(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@dataclass
class _FlowAt:
    """Where a flow was written: its position tree and position (positions below it are looked up from there)."""

    node: Any
    loc: Loc

    def at(self, *path: str | int) -> Loc:
        return locate(self.node, path, self.loc) or self.loc


def _plain_ends(src: Any, dst: Any, roles: dict[str, model.Role], networks: dict[str, model.Network]) -> bool:
    """One known name on each side, a role among them, not two networks: what _flow_ends finds right."""
    if type(src) is not str or type(dst) is not str:
        return False
    known = (src in roles or src in networks) and (dst in roles or dst in networks)
    return known and (src in roles or dst in roles) and not (src in networks and dst in networks)


def _flow_ends(
    problems: Problems, where: _FlowAt, flow: Any, roles: dict[str, model.Role], networks: dict[str, model.Network]
) -> dict[str, list[str]] | None:
    """The flow's 'from' and 'to' names (each once), or None after reporting what is wrong with them."""
    if _plain_ends(flow.from_, flow.to, roles, networks):  # most flows
        return {"from": [flow.from_], "to": [flow.to]}
    flow_loc = where.loc
    ok = True
    ends: dict[str, list[str]] = {}
    for key, written in (("from", flow.from_), ("to", flow.to)):
        names = _names(written)
        if not names:
            problems.error(where.at(key), f"the flow's '{key}' is empty", "name at least one role or network")
            ok = False
        for j, name in enumerate(names):
            if name not in roles and name not in networks:
                problems.error(
                    where.at(key) if isinstance(written, str) else where.at(key, j),
                    f"unknown role or network '{name}' in '{key}'",
                    did_you_mean(name, sorted(set(roles) | set(networks))),
                )
                ok = False
        ends[key] = list(dict.fromkeys(names))
    if ok and not any(n in roles for n in ends["from"] + ends["to"]):
        problems.error(flow_loc, "a flow needs a role on at least one side", "networks alone have no rules to carry it")
        ok = False
    for name in ends["from"]:
        if ok and name in networks and all(t in networks for t in ends["to"]):
            problems.error(flow_loc, f"flow from network '{name}' to networks only", "one side must be a role")
            ok = False
    return ends if ok else None


def _flow_ports(resolver: _Resolver, where: _FlowAt, flow: Any) -> list[model.PortSpec] | None:
    """The ports of a flow's services (inline or named), or None after reporting what is wrong."""
    ports: list[model.PortSpec] = []
    ok = True
    for j, item in enumerate(flow.services):
        if type(item) is str:  # a port or service already resolved needs no position (only a problem has one)
            if looks_like_port(item):
                known_port = resolver.inline.get(item)
                if known_port is not None:
                    ports.append(known_port)
                    continue
            else:
                known = resolver.done.get(item)
                if known is not None:
                    ports += known.ports
                    continue
        loc = where.at("services", j)
        if isinstance(item, PortLong) or looks_like_port(item):
            spec_port = resolver.port(item, loc)
            ports += [spec_port] if spec_port else []
            ok &= spec_port is not None
        else:
            svc = resolver.service(item, loc)
            ports += list(svc.ports) if svc else []
            ok &= svc is not None
    return ports if ok else None


def _build_flows(
    problems: Problems,
    specs: list[Doc],
    roles: dict[str, model.Role],
    networks: dict[str, model.Network],
    resolver: _Resolver,
    phase: str | None,
) -> tuple[list[model.Flow], list[model.Flow]]:
    """The flows of this phase and the ones left out (other phases), numbered in spec order."""
    flows: list[model.Flow] = []
    skipped: list[model.Flow] = []
    for doc in specs:
        raw_flows = doc.raw.get("flows")
        for i, flow in enumerate(_spec_of(doc).flows):
            node = raw_flows[i] if isinstance(raw_flows, list) and i < len(raw_flows) else None
            # A flow's mapping knows its own position, and its services list the list's: no Loc made again.
            flow_loc = node.loc if isinstance(node, PosDict) else locate(doc.raw, ("flows", i))
            where = _FlowAt(node, flow_loc or Loc(str(doc.path), 1, 1))
            ends = _flow_ends(problems, where, flow, roles, networks)
            ports = _flow_ports(resolver, where, flow)
            if ends is None or ports is None:
                continue
            flow_loc = where.loc
            services = node.get("services") if isinstance(node, PosDict) else None
            names_written = tuple(
                item if isinstance(item, str) else str(parse_port(item, resolver.lookup_param))
                for item in flow.services
            )
            entry = model.Flow(
                index=len(flows) + len(skipped),
                sources=tuple(ends["from"]),
                destinations=tuple(ends["to"]),
                ports=model.unique_ports(ports),
                service_names=names_written,
                description=flow.description,
                phase=flow.phase,
                allow_exposure=flow.allow_exposure,
                loc=flow_loc,
                ports_loc=services.loc if isinstance(services, PosList) else where.at("services"),
            )
            (flows if flow.phase is None or flow.phase == phase else skipped).append(entry)
    return flows, skipped


def _warn_empty(
    problems: Problems, root: Doc, flows: list[model.Flow], skipped: list[model.Flow], phase: str | None
) -> None:
    if phase is not None and not any(f.phase == phase for f in flows):
        phases = sorted({f.phase for f in skipped if f.phase})
        problems.warning(
            None, f"--phase {phase}: no flow has phase '{phase}'", did_you_mean(phase, phases) if phases else ""
        )
    if not flows:
        problems.warning(root.raw.loc, "the spec has no flows (for this phase)", "nothing will be allowed")


@gc_paused()  # builds a large acyclic structure: see gcpause
def load_topology(
    path: str | Path, variables: dict[str, str] | None = None, phase: str | None = None
) -> model.Topology:
    """Load and check a spec; raises SpecError listing every problem found."""
    path = Path(path)
    problems = Problems()
    if not os.path.lexists(path):  # lexists: also False (not ValueError) for a path with a NUL byte
        raise SpecError([Diagnostic(None, f"spec file not found: {path}", "pass the path of a topology YAML file")])
    specs = load_spec_files(path, problems)
    problems.raise_if_errors()
    root: SpecFile = specs[0].parsed  # type: ignore[assignment]
    if root.name is None:
        problems.error(specs[0].raw.loc, "the spec has no 'name'", "add e.g. 'name: my-lab' (used in ownership tags)")

    catalog_names = [
        (name, locate(doc.raw, ("catalogs", i))) for doc in specs for i, name in enumerate(_spec_of(doc).catalogs)
    ]
    catalogs = load_catalogs(catalog_names, problems)
    problems.raise_if_errors()

    ctx = _Ctx(problems)
    _declare_params(ctx, catalogs, specs, variables or {})

    services: dict[str, tuple[Any, Doc]] = {}
    _collect_named(ctx, catalogs + specs, "services", services, "service")
    network_defs: dict[str, tuple[Any, Doc]] = {}
    role_defs: dict[str, tuple[Any, Doc]] = {}
    _collect_named(ctx, specs, "networks", network_defs, "network")
    _collect_named(ctx, specs, "roles", role_defs, "role")

    networks = build_networks(problems, network_defs, addressless_networks(root))
    roles = build_roles(problems, role_defs, networks, specs[0])
    resolver = _Resolver(ctx, services)
    flows, skipped = _build_flows(problems, specs, roles, networks, resolver, phase)
    check_target_roles(problems, specs[0], root, roles)
    check_target_networks(problems, specs[0], root, networks)

    # Every service is resolved (not only the used ones) so that catalog mistakes surface at once.
    for name in services:
        resolver.service(name, None)
    problems.raise_if_errors()

    _warn_empty(problems, specs[0], flows, skipped, phase)
    return model.Topology(
        name=root.name or "unnamed",
        description=root.description,
        egress=root.egress or "open",
        networks=networks,
        roles=roles,
        services={n: s for n, s in resolver.done.items()},
        flows=flows,
        parameters={n: p.value for n, p in ctx.params.items() if p.value is not None},
        parameter_descriptions={n: p.description for n, p in ctx.params.items()},
        targets={name: value for name, value in root.targets or () if value is not None},
        phase=phase,
        skipped_flows=skipped,
        warnings=list(problems.warnings),
    )


def load_identity(path: str | Path) -> model.Topology:
    """Only what identifies a spec's resources — its `name:` and `targets:` — as a Topology without roles or
    flows. `destroy` needs no more, so it works for a spec that no longer compiles (a parameter without a value,
    a flow naming a removed role); the file itself must still be valid YAML of the spec's shape."""
    path, problems = Path(path), Problems()
    if not os.path.lexists(path):
        raise SpecError([Diagnostic(None, f"spec file not found: {path}", "pass the path of a topology YAML file")])
    doc = parse_document(path, spec_file_model(), problems)
    problems.raise_if_errors()
    root = _spec_of(doc) if doc else None
    if root is None or root.name is None:
        where = doc.raw.loc if doc else Loc(str(path), 1, 1)
        raise SpecError([Diagnostic(where, "the spec has no 'name'", "destroy finds resources by the spec's name")])
    targets = {name: value for name, value in root.targets or () if value is not None}
    return model.Topology(root.name, root.description, "open", {}, {}, {}, [], {}, targets)
