"""Reading the spec, its includes and the catalogs it names into validated documents with positions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cloudports.catalogs import CATALOG_DIR, available_catalogs
from cloudports.errors import Loc, Problems, SpecError, did_you_mean
from cloudports.spec.schema import CatalogFile, SpecFile, spec_file_model
from cloudports.spec.schema_errors import schema_errors
from cloudports.spec.yamlpos import MAX_SPEC_FILES, YamlBudget, key_loc, load_yaml, locate, resolve_spec_path

ROOT_ONLY = ("name", "egress", "targets")


@dataclass
class Doc:
    """One parsed file: its validated model and its position tree."""

    path: Path
    raw: Any
    parsed: SpecFile | CatalogFile
    catalog: str | None = None  # set for catalog files



def parse_document(
    path: Path,
    model_cls: type[SpecFile] | type[CatalogFile],
    problems: Problems,
    at: Loc | None = None,
    budget: YamlBudget | None = None,
) -> Doc | None:
    try:
        raw = load_yaml(path, at, budget)
    except SpecError as exc:  # collected, so that every include's problems are reported together
        problems.items.extend(exc.diagnostics)
        return None
    if not isinstance(raw, dict):
        problems.error(
            getattr(raw, "loc", Loc(str(path), 1, 1)),
            "the file must be a YAML mapping",
            "see docs/spec-format.md",
        )
        return None
    try:
        # by_name=False: 'from_' (the Python name of the 'from' alias) is an unknown key, as the docs say
        parsed = model_cls.model_validate(raw, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems.items.extend(schema_errors(path, raw, exc, model_cls))
        return None
    return Doc(path, raw, parsed)


def load_spec_files(root: Path, problems: Problems) -> list[Doc]:
    """The root file and its includes (depth first, each once); include cycles are errors."""
    docs: list[Doc] = []
    seen: set[Path] = set()
    budget = YamlBudget()

    def visit(path: Path, stack: tuple[Path, ...], include_loc: Loc | None) -> None:
        try:
            path = resolve_spec_path(path, include_loc)
        except SpecError as exc:
            problems.items.extend(exc.diagnostics)
            return
        if path in stack:
            chain = " -> ".join(p.name for p in (*stack, path))
            problems.error(include_loc, f"include cycle: {chain}", "remove one of these includes")
            return
        if path in seen:
            return
        seen.add(path)
        budget.files -= 1
        if budget.files < 0:
            problems.error(include_loc, f"more than {MAX_SPEC_FILES} spec files", f"MAX_SPEC_FILES is {MAX_SPEC_FILES}")
            return
        doc = parse_document(path, spec_file_model(), problems, include_loc, budget)
        if doc is None:
            return
        docs.append(doc)
        spec: SpecFile = doc.parsed  # type: ignore[assignment]
        if stack:  # an included file
            for key in ROOT_ONLY:
                if key in doc.raw:
                    problems.error(
                        key_loc(doc.raw, key),
                        f"'{key}' can only be set in the top-level spec, not in an included file",
                        f"move it to {stack[0].name}",
                    )
        for i, inc in enumerate(spec.include):
            visit(path.parent / inc, (*stack, path), locate(doc.raw, ("include", i)))

    visit(root, (), None)
    return docs


def load_catalogs(names: list[tuple[str, Loc | None]], problems: Problems) -> list[Doc]:
    """Built-in catalogs by name, with what they require, each once."""
    known = available_catalogs()
    docs: list[Doc] = []
    loaded: set[str] = set()

    def visit(name: str, loc: Loc | None) -> None:
        if name in loaded:
            return
        if name not in known:
            problems.error(loc, f"unknown catalog '{name}'", did_you_mean(name, known))
            return
        loaded.add(name)
        doc = parse_document(CATALOG_DIR / f"{name}.yaml", CatalogFile, problems)
        if doc is None:
            return
        doc.catalog = name
        cat: CatalogFile = doc.parsed  # type: ignore[assignment]
        for i, req in enumerate(cat.requires):
            visit(req, locate(doc.raw, ("requires", i)))
        docs.append(doc)

    for name, loc in names:
        visit(name, loc)
    return docs
