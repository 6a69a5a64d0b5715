"""Built-in service catalogs (data files); see README.md in this folder for what each contains."""

from __future__ import annotations

from pathlib import Path

CATALOG_DIR = Path(__file__).parent


def available_catalogs() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.yaml"))


def _load(name: str) -> dict:
    import yaml

    return yaml.safe_load((CATALOG_DIR / f"{name}.yaml").read_text()) or {}


def _all_services() -> dict[str, dict]:
    """Every built-in catalog's services by name (names are unique across catalogs)."""
    found: dict[str, dict] = {}
    for catalog in available_catalogs():
        found.update(_load(catalog).get("services") or {})
    return found


def expand_ports(name: str, services: dict[str, dict], seen: tuple[str, ...] = ()) -> list[str]:
    """Ports of a service as written (``tcp/${param}`` kept), members of composed services expanded in order."""
    svc = services.get(name)
    if svc is None or name in seen:  # unknown or cyclic: the loader reports it; show nothing here
        return []
    ports = [p if isinstance(p, str) else str(p) for p in svc.get("ports", [])]
    for member in svc.get("services", []):
        ports += [p for p in expand_ports(member, services, (*seen, name)) if p not in ports]
    return ports


def describe_catalog(name: str) -> dict:
    """Services of one catalog as plain data (for `cloudports catalog NAME`), with their ports as written and, for
    composed services, the members and their expanded ports."""
    data = _load(name)
    every = _all_services()
    services = []
    for svc_name, svc in (data.get("services") or {}).items():
        services.append(
            {
                "name": svc_name,
                "ports": expand_ports(svc_name, every),
                "members": list(svc.get("services", [])),
                "optional": bool(svc.get("optional")),
                "legacy": bool(svc.get("legacy")),
                "sources": svc.get("sources", []),
                "description": svc.get("description", ""),
            }
        )
    params = {k: (v or {}).get("default") for k, v in (data.get("parameters") or {}).items()}
    return {
        "description": data.get("description", ""),
        "requires": data.get("requires", []),
        "services": services,
        "parameters": params,
    }
