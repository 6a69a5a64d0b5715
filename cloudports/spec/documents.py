"""Reading the spec, its includes and the catalogs it names into validated documents with positions."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class _Includes:
    """The walk over a spec and its includes (depth first, each once).

    A class, not a nested function that calls itself: that is a reference cycle (function -> closure cell ->
    function) which kept every document alive until the garbage collector's next full pass, instead of reference
    counting freeing them when the caller is done (a large spec's position trees are most of the loader's memory).
    """

    problems: Problems
    docs: list[Doc] = field(default_factory=list)
    seen: set[Path] = field(default_factory=set)
    budget: YamlBudget = field(default_factory=YamlBudget)

    def visit(self, path: Path, stack: tuple[Path, ...], include_loc: Loc | None) -> None:
        problems = self.problems
        try:
            path = resolve_spec_path(path, include_loc)
        except SpecError as exc:
            problems.items.extend(exc.diagnostics)
            return
        if path in stack:
            chain = " -> ".join(p.name for p in (*stack, path))
            problems.error(include_loc, f"include cycle: {chain}", "remove one of these includes")
            return
        if path in self.seen:
            return
        self.seen.add(path)
        self.budget.files -= 1
        if self.budget.files < 0:
            problems.error(include_loc, f"more than {MAX_SPEC_FILES} spec files", f"MAX_SPEC_FILES is {MAX_SPEC_FILES}")
            return
        doc = parse_document(path, spec_file_model(), problems, include_loc, self.budget)
        if doc is None:
            return
        self.docs.append(doc)
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
            self.visit(path.parent / inc, (*stack, path), locate(doc.raw, ("include", i)))


def load_spec_files(root: Path, problems: Problems) -> list[Doc]:
    """The root file and its includes (depth first, each once); include cycles are errors."""
    walk = _Includes(problems)
    walk.visit(root, (), None)
    return walk.docs


@dataclass
class _Catalogs:
    """The walk over the catalogs a spec names and what they require (a class for the reason _Includes is)."""

    problems: Problems
    known: list[str]
    docs: list[Doc] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)

    def visit(self, name: str, loc: Loc | None) -> None:
        if name in self.loaded:
            return
        if name not in self.known:
            self.problems.error(loc, f"unknown catalog '{name}'", did_you_mean(name, self.known))
            return
        self.loaded.add(name)
        doc = _catalog_doc(name, self.problems)
        if doc is None:
            return
        cat: CatalogFile = doc.parsed  # type: ignore[assignment]
        for i, req in enumerate(cat.requires):
            self.visit(req, locate(doc.raw, ("requires", i)))
        self.docs.append(doc)


# Built-in catalogs are files of the package that no one changes under a running command: a process that loads
# many specs (`drift FOLDER` of a hundred labs) parses each once rather than once per spec (about half of compiling
# a lab). Keyed by the file's size and time, kept only when parsed without a word; a Doc is never changed after.
_PARSED_CATALOGS: dict[tuple[str, int, int], Doc] = {}


def _catalog_doc(name: str, problems: Problems) -> Doc | None:
    path = CATALOG_DIR / f"{name}.yaml"
    try:
        stat = path.stat()
    except OSError:
        return parse_document(path, CatalogFile, problems)  # reported there
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key in _PARSED_CATALOGS:
        return _PARSED_CATALOGS[key]
    reported = len(problems.items)
    doc = parse_document(path, CatalogFile, problems)
    if doc is not None:
        doc.catalog = name
        if len(problems.items) == reported:
            _PARSED_CATALOGS[key] = doc
    return doc


def load_catalogs(names: list[tuple[str, Loc | None]], problems: Problems) -> list[Doc]:
    """Built-in catalogs by name, with what they require, each once."""
    walk = _Catalogs(problems, available_catalogs())
    for name, loc in names:
        walk.visit(name, loc)
    return walk.docs
