"""Write the inputs/outputs section of each module's README, in terraform-docs' `markdown table` format.

The section sits between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` and holds Requirements, Providers,
Modules, Resources, Inputs and Outputs, read from the module's .tf files with python-hcl2 (type expressions
as written, from the source text). terraform-docs itself is a Go binary that cannot be installed here; this
writes what it writes for these modules, so either tool can maintain the section.

    python tools/terraform_docs.py            # rewrite the sections
    python tools/terraform_docs.py --check    # exit 1 when a README is out of date (tests/test_module_docs.py)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parent.parent
MODULES = ("aws-security-groups", "azure-nsg")
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _unq(value: Any) -> Any:
    """python-hcl2 keeps the quotes of strings and keys, and marks blocks; plain values instead."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, dict):
        return {_unq(k): _unq(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unq(v) for v in value]
    return value


def _parse(module: Path) -> tuple[dict[str, list[Any]], str]:
    """Every top-level block of the module's .tf files by kind, and their concatenated source text."""
    blocks: dict[str, list[Any]] = {}
    text = ""
    for path in sorted(module.glob("*.tf")):
        source = path.read_text()
        text += source + "\n"
        for kind, items in _unq(hcl2.loads(source)).items():
            blocks.setdefault(kind, []).extend(items)
    return blocks, text


def _type_source(text: str, name: str) -> str:
    """The `type = ...` expression of a variable as written (balanced brackets, over several lines)."""
    start = re.search(rf'^variable "{re.escape(name)}" {{$', text, re.M)
    found = re.compile(r"^  type\s*=\s*", re.M).search(text, start.end()) if start else None
    if found is None:
        return "any"
    depth, out = 0, []
    for char in text[found.end() :]:
        if char == "\n" and depth == 0:
            break
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        out.append(char)
    return "".join(out).strip()


def _escape(text: str) -> str:
    return text.replace("_", "\\_")


def _anchor(kind: str, name: str) -> str:
    return f'<a name="{kind}_{name}"></a> [{_escape(name)}](#{kind}\\_{_escape(name)})'


def _cell(text: str) -> str:
    return text.strip().replace("|", "\\|").replace("\n", "<br/>")


def _code(text: str) -> str:
    """A type or default: inline code, or a <pre> block for multi-line text (as terraform-docs does)."""
    if "\n" not in text:
        return f"`{text}`"
    lines = text.split("\n")
    return "<pre>" + "<br/>".join(line.replace("|", "\\|") for line in lines) + "</pre>"


def _default(value: Any) -> str:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return _code(value[2:-1])
    return _code(json.dumps(value, indent=2) if isinstance(value, (dict, list)) and value else json.dumps(value))


def _table(title: str, columns: list[str], rows: list[str], none: str) -> str:
    if not rows:
        return f"## {title}\n\n{none}\n"
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join(f":{'-' * len(c)}:" if c == "Required" else "-" * (len(c) + 2) for c in columns) + "|"
    return f"## {title}\n\n{header}\n{rule}\n" + "\n".join(rows) + "\n"


def _requirements(blocks: dict[str, list[Any]]) -> tuple[list[str], list[str]]:
    """(requirements rows, providers rows): Terraform's version and each provider's constraint."""
    settings = {k: v for t in blocks.get("terraform", []) for k, v in t.items()}
    providers = {k: v for p in settings.get("required_providers", []) for k, v in p.items()}
    requirements = []
    if "required_version" in settings:
        requirements.append(f"| {_anchor('requirement', 'terraform')} | {settings['required_version']} |")
    requirements += [
        f"| {_anchor('requirement', n)} | {p.get('version', 'n/a')} |" for n, p in sorted(providers.items())
    ]
    return requirements, [
        f"| {_anchor('provider', n)} | {p.get('version', 'n/a')} |" for n, p in sorted(providers.items())
    ]


def _resources(blocks: dict[str, list[Any]], sources: dict[str, str]) -> list[str]:
    rows = []
    for kind, folder in (("resource", "resources"), ("data", "data-sources")):
        for block in blocks.get(kind, []):
            for rtype, named in block.items():
                provider, _, bare = rtype.partition("_")
                docs = f"https://registry.terraform.io/providers/{sources.get(provider, provider)}/latest/docs"
                url = f"{docs}/{folder}/{bare}"
                label = "resource" if kind == "resource" else "data source"
                prefix = "data." if kind == "data" else ""
                rows += [
                    (f"{prefix}{rtype}.{name}", f"| [{prefix}{rtype}.{name}]({url}) | {label} |") for name in named
                ]
    return [row for _, row in sorted(rows)]


def _inputs(blocks: dict[str, list[Any]], text: str) -> list[str]:
    rows = []
    for block in blocks.get("variable", []):
        for name, body in block.items():
            default = _default(body["default"]) if "default" in body else "n/a"
            required = "no" if "default" in body else "yes"
            description = _cell(body.get("description", "n/a"))
            rows.append(
                (
                    name,
                    f"| {_anchor('input', name)} | {description} | {_code(_type_source(text, name))} "
                    f"| {default} | {required} |",
                )
            )
    return [row for _, row in sorted(rows)]


def _outputs(blocks: dict[str, list[Any]]) -> list[str]:
    rows = [
        (name, f"| {_anchor('output', name)} | {_cell(body.get('description', 'n/a'))} |")
        for block in blocks.get("output", [])
        for name, body in block.items()
    ]
    return [row for _, row in sorted(rows)]


def _modules(blocks: dict[str, list[Any]]) -> list[str]:
    rows = [
        (name, f"| {_anchor('module', name)} | {body.get('source', 'n/a')} | {body.get('version', 'n/a')} |")
        for block in blocks.get("module", [])
        for name, body in block.items()
    ]
    return [row for _, row in sorted(rows)]


def render(module: Path) -> str:
    """The generated section, markers included."""
    blocks, text = _parse(module)
    requirements, providers = _requirements(blocks)
    settings = {k: v for t in blocks.get("terraform", []) for k, v in t.items()}
    sources = {k: v.get("source", k) for p in settings.get("required_providers", []) for k, v in p.items()}
    parts = [
        _table("Requirements", ["Name", "Version"], requirements, "No requirements."),
        _table("Providers", ["Name", "Version"], providers, "No providers."),
        _table("Modules", ["Name", "Source", "Version"], _modules(blocks), "No modules."),
        _table("Resources", ["Name", "Type"], _resources(blocks, sources), "No resources."),
        _table("Inputs", ["Name", "Description", "Type", "Default", "Required"], _inputs(blocks, text), "No inputs."),
        _table("Outputs", ["Name", "Description"], _outputs(blocks), "No outputs."),
    ]
    return BEGIN + "\n" + "\n".join(parts) + END


def updated(readme: str, section: str) -> str:
    """The README with its section replaced (appended when it has no markers yet)."""
    if BEGIN in readme and END in readme:
        head, _, rest = readme.partition(BEGIN)
        return head + section + rest.partition(END)[2]
    return readme.rstrip("\n") + "\n\n" + section + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name in MODULES:
        module = REPO / "modules" / name
        readme = module / "README.md"
        current = readme.read_text()
        wanted = updated(current, render(module))
        if wanted != current:
            stale.append(str(readme.relative_to(REPO)))
            if "--check" not in argv:
                readme.write_text(wanted)
    if stale and "--check" in argv:
        print(f"out of date: {', '.join(stale)}; run: python tools/terraform_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
