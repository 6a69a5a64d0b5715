"""Built-in service catalogs (data files); see README.md in this folder for what each contains."""

from __future__ import annotations

from pathlib import Path

CATALOG_DIR = Path(__file__).parent


def available_catalogs() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.yaml"))


def describe_catalog(name: str) -> dict:
    """Services of one catalog as plain data (for `cloudports catalog NAME`), with their ports as written."""
    import yaml  # type: ignore[import-untyped]  # no stubs installed (types-PyYAML)

    data = yaml.safe_load((CATALOG_DIR / f"{name}.yaml").read_text())
    services = []
    for svc_name, svc in (data.get("services") or {}).items():
        ports = [p if isinstance(p, str) else str(p) for p in svc.get("ports", [])]
        ports += [f"[{s}]" for s in svc.get("services", [])]
        services.append(
            {
                "name": svc_name,
                "ports": ports,
                "optional": bool(svc.get("optional")),
                "legacy": bool(svc.get("legacy")),
                "sources": svc.get("sources", []),
                "description": svc.get("description", ""),
            }
        )
    params = {k: (v or {}).get("default") for k, v in (data.get("parameters") or {}).items()}
    return {"description": data.get("description", ""), "services": services, "parameters": params}
