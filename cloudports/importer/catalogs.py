"""The built-in catalogs' services with their ports resolved (parameter defaults applied), for recognising them
in imported rules."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from cloudports.catalogs import available_catalogs
from cloudports.errors import CloudportsError
from cloudports.spec.model import PortSpec


def expanded_catalog_services() -> dict[frozenset[PortSpec], tuple[str, str]]:
    """Port set -> (service name, catalog), through the real loader so that expansion is the compiler's.

    Where services share a port set, the first in its catalog file wins (catalogs list the common case first:
    ad-ds-member-to-dc before ad-ds-dc-to-dc). Only a service of several ports is recognised: one port (tcp/8080,
    icmpv6/128) says nothing about which product listens there, and the name would claim more than the rule
    says. A service with a port from a parameter is never used: a later `--var` would move a live port."""
    candidates: dict[frozenset[PortSpec], list[tuple[str, str]]] = {}
    from cloudports.spec import load_topology

    for catalog in available_catalogs():
        spec = {"name": "catalog-probe", "catalogs": [catalog], "roles": {"a": {}}, "flows": []}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "probe.yaml"
            path.write_text(yaml.safe_dump(spec))
            try:
                topology = load_topology(path)
            except CloudportsError:
                continue  # e.g. a catalog parameter without a default: its services cannot be matched
        for name, service in topology.services.items():
            # a service that is "all" would name any allow-all rule after one product: not a recognition
            if service.catalog == catalog and _recognisable(service.ports):
                candidates.setdefault(frozenset(service.ports), []).append((name, catalog))
    return {ports: names[0] for ports, names in candidates.items()}


def _recognisable(ports: tuple[PortSpec, ...]) -> bool:
    """Several ports, none of them "all" (it would name any allow-all rule after one product) and none from a
    parameter."""
    return len(set(ports)) > 1 and all(p.protocol != "all" and not any(p.params) for p in ports)
