"""pydantic's validation errors, turned into diagnostics at file:line:column with the keys that would be right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cloudports.errors import Diagnostic, Loc, did_you_mean
from cloudports.spec.yamlpos import key_loc, locate


def schema_errors(doc_path: Path, raw: Any, exc: ValidationError, model_cls: type[BaseModel]) -> list[Diagnostic]:
    """Turn pydantic's errors into positioned diagnostics (one per distinct place)."""
    out: dict[tuple, Diagnostic] = {}
    for err in exc.errors():
        path = tuple(err["loc"])
        loc = locate(raw, path, Loc(str(doc_path), 1, 1))
        where = ".".join(str(p) for p in path if not (isinstance(p, str) and p[:1].isupper()))
        if err["type"] == "extra_forbidden":
            key = path[-1]
            allowed = _allowed_keys(model_cls, path[:-1])
            loc = key_loc(_node_at(raw, path[:-1]), key) or loc
            diag = Diagnostic(loc, f"unknown key '{key}'", did_you_mean(str(key), allowed) if allowed else "")
        elif err["type"] == "missing":
            diag = Diagnostic(loc, f"'{path[-1]}' is required here", f"add '{path[-1]}:' to {where or 'the file'}")
        elif err["type"] == "string_pattern_mismatch":
            diag = _pattern_mismatch(loc, where, err)
        elif err["type"] == "too_short":
            diag = Diagnostic(loc, f"{where}: {err['msg'].lower()}", "list at least one item (see docs/spec-format.md)")
        else:
            diag = Diagnostic(loc, f"{where}: {err['msg'].lower()}", "see docs/spec-format.md or `cloudports schema`")
        out.setdefault((loc, diag.message[:20]), diag)
    return list(out.values())


# The forms of identifier the spec takes besides names, by the first characters of their pattern.
_ID_FORMS = {"^vpc-": "a VPC ID such as vpc-0a1b2c3d", "^i-": "an instance ID such as i-0123456789abcdef0"}
_ID_FORMS["^eni-"] = "a network interface ID such as eni-0123456789abcdef0"


def _pattern_mismatch(loc: Loc | None, where: str, err: Any) -> Diagnostic:
    pattern = str(err.get("ctx", {}).get("pattern", ""))
    form = next((text for start, text in _ID_FORMS.items() if pattern.startswith(start)), None)
    if form:
        return Diagnostic(loc, f"{where}: '{err['input']}' is not {form.split(' such as')[0]}", f"expected {form}")
    if pattern.startswith("^[a-z0-9]"):
        return Diagnostic(
            loc,
            f"{where}: '{err['input']}' is not a valid name",
            "names are lower-case letters, digits and '-' (services may also use '.' and '_')",
        )
    return Diagnostic(loc, f"{where}: '{err['input']}' is not valid here", f"expected text matching {pattern}")


def _node_at(raw: Any, path: tuple) -> Any:
    node = raw
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _allowed_keys(model_cls: type[BaseModel], path: tuple) -> list[str]:
    """Walk the annotations along `path` (through models, dicts, lists, unions) to list the keys allowed there."""
    current: Any = model_cls
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    found = _inner_model(current)
    return [f.alias or n for n, f in found.model_fields.items()] if found else []


def _step(annotation: Any, part: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {(f.alias or n): f for n, f in annotation.model_fields.items()}
        if part in fields:
            return fields[part].annotation
        return annotation if isinstance(part, str) and part[:1].isupper() else None  # union member label
    origin = getattr(annotation, "__origin__", None)
    args: tuple[Any, ...] = getattr(annotation, "__args__", ()) or ()
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    for arg in args:  # unions / Annotated: first member that accepts the step
        stepped = _step(arg, part)
        if stepped is not None:
            return stepped
    return None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside X | None, Annotated[X, ...] ... if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
