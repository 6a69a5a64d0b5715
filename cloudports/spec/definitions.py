"""Networks and roles from their definitions in the spec files, each problem placed at file:line:column."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Any

from cloudports.errors import Problems
from cloudports.spec import model
from cloudports.spec.checks import check_cidrs
from cloudports.spec.documents import Doc
from cloudports.spec.yamlpos import key_loc


def build_networks(
    problems: Problems, network_defs: dict[str, tuple[Any, Doc]], addressless: Collection[str] = ()
) -> dict[str, model.Network]:
    """`addressless`: the networks a target names without addresses (an AWS security group's machines)."""
    networks: dict[str, model.Network] = {
        model.INTERNET: model.Network(
            model.INTERNET,
            (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")),
            "the whole internet (built in)",
        )
    }
    for name, (net, doc) in network_defs.items():
        loc = key_loc(doc.raw["networks"], name)
        if name == model.INTERNET:
            problems.error(loc, "'internet' is built in and cannot be redefined", "choose another network name")
            continue
        cidrs = [c for fam in ("ipv4", "ipv6") for c in check_cidrs(name, doc, fam, getattr(net, fam), problems)]
        if not net.ipv4 and not net.ipv6 and name not in addressless:
            problems.error(
                loc,
                f"network '{name}' has no address blocks",
                "add 'ipv4:' and/or 'ipv6:' lists (or, for another team's machines, name their security group "
                "under targets.aws.security_groups)",
            )
        networks[name] = model.Network(name, tuple(dict.fromkeys(cidrs)), net.description, loc)
    return networks


def build_roles(
    problems: Problems, role_defs: dict[str, tuple[Any, Doc]], networks: dict[str, model.Network], root: Doc
) -> dict[str, model.Role]:
    roles: dict[str, model.Role] = {}
    for name, (role, doc) in role_defs.items():
        loc = key_loc(doc.raw["roles"], name)
        if name in networks:
            problems.error(loc, f"'{name}' is both a role and a network", "rename one of them")
        roles[name] = model.Role(name, role.description, loc, {t: v for t, v in role.members or () if v is not None})
    if not roles:
        problems.error(root.raw.loc, "the spec defines no roles", "add a 'roles:' mapping")
    return roles
