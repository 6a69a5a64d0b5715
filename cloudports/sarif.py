"""validate's findings as SARIF 2.1.0, the format GitHub code scanning (and most CI scanners) read.

Each finding is a result with its rule, level and a region (line and column) in the spec file; paths are relative
to the directory validate ran in (the repository root in CI, so that code scanning can show the line), under
the %SRCROOT% base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudports import __version__
from cloudports.errors import Diagnostic
from cloudports.findings import Findings

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning"}


def _uri(file: str, root: Path) -> str:
    path = Path(file).resolve()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # outside the root: an absolute file URI, which code scanning shows without a link
        return path.as_uri()


def _result(d: Diagnostic, index: dict[str, int], root: Path) -> dict[str, Any]:
    assert d.loc is not None  # Findings places every diagnostic
    text = d.message + (f"\n{d.hint}" if d.hint else "")
    return {
        "ruleId": d.rule,
        "ruleIndex": index[d.rule],
        "level": _LEVEL.get(d.severity, "note"),
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(d.loc.file, root), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": max(d.loc.line, 1), "startColumn": max(d.loc.col, 1)},
                }
            }
        ],
    }


def _result_order(result: dict[str, Any]) -> tuple[str, str, str, int, int]:
    """Results by what they say, then where: the same spec in any order lists its findings in the same order."""
    where = result["locations"][0]["physicalLocation"]
    region = where["region"]
    uri = where["artifactLocation"]["uri"]
    return (result["ruleId"], result["message"]["text"], uri, region["startLine"], region["startColumn"])


def to_sarif(findings: Findings, root: Path | None = None) -> dict[str, Any]:
    """One run of the `cloudports` tool: its rules (those with findings) and the findings as results."""
    root = (root or Path.cwd()).resolve()
    rules = sorted(findings.rules.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    driver = {
        "name": "cloudports",
        "version": __version__,
        "rules": [
            {
                "id": r.id,
                "name": r.id.replace("/", "-"),
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.help},
                "help": {"text": r.help, "markdown": r.help},
            }
            for r in rules
        ],
    }
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "results": sorted((_result(d, index, root) for d in findings.diagnostics), key=_result_order),
            }
        ],
    }
