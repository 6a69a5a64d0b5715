"""Checks of spec values the schema cannot make alone, each problem placed at file:line:column: a network's
CIDRs, and what target settings say about roles (e.g. targets.azure.subnets[].roles) and networks (e.g.
targets.aws.prefix_lists) once they are known."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping

from cloudports.errors import Problems
from cloudports.spec import model
from cloudports.spec.documents import Doc
from cloudports.spec.schema import SpecFile
from cloudports.spec.yamlpos import locate


def check_cidrs(name: str, doc: Doc, family: str, values: list[str], problems: Problems) -> list[model.IPNetwork]:
    """A network's CIDRs of one family (`ipv4` / `ipv6`), each one that is not a canonical block of that
    family reported at its position instead."""
    out = []
    want = 4 if family == "ipv4" else 6
    for i, text in enumerate(values):
        loc = locate(doc.raw, ("networks", name, family, i))
        try:
            net = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            problems.error(loc, f"'{text}' is not a CIDR", "write an address block like 10.20.0.0/16 or fd00::/48")
            continue
        if net.version != want:
            other = "ipv6" if want == 4 else "ipv4"
            problems.error(loc, f"'{text}' is an IPv{net.version} block in the {family} list", f"move it to '{other}:'")
            continue
        if str(net) != str(text).strip() and net.with_prefixlen != str(text).strip():
            problems.error(loc, f"'{text}' has host bits set", f"the canonical form is {net.with_prefixlen}")
            continue
        out.append(net)
    return out


def check_target_roles(problems: Problems, doc: Doc, root: SpecFile, roles: Collection[str]) -> None:
    """Each target's TargetSettings.role_problems, at its place below `targets.<name>`."""
    for name, settings in root.targets or ():
        for path, message, hint in settings.role_problems(roles) if settings is not None else ():
            problems.error(locate(doc.raw, ("targets", name, *path)), f"targets.{name}: {message}", hint)


def check_target_networks(problems: Problems, doc: Doc, root: SpecFile, networks: Mapping[str, model.Network]) -> None:
    """Each target's TargetSettings.network_problems, at its place below `targets.<name>`."""
    addressed = {name: bool(net.cidrs) for name, net in networks.items()}
    for name, settings in root.targets or ():
        for path, message, hint in settings.network_problems(addressed) if settings is not None else ():
            problems.error(locate(doc.raw, ("targets", name, *path)), f"targets.{name}: {message}", hint)


def addressless_networks(root: SpecFile) -> set[str]:
    """The networks some target names without addresses (TargetSettings.addressless_networks)."""
    return {n for _, settings in root.targets or () if settings is not None for n in settings.addressless_networks()}
