"""Built-in service catalogs (data files); see README.md in this folder for what each contains."""

from __future__ import annotations

from pathlib import Path

CATALOG_DIR = Path(__file__).parent


def available_catalogs() -> list[str]:
    return sorted(p.stem for p in CATALOG_DIR.glob("*.yaml"))
