"""YAML loading that remembers where every key and value came from.

PyYAML builds plain dicts and lists and forgets positions; validation errors must say file:line:column, so we
compose the node tree ourselves and keep each node's start mark next to the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cloudports.errors import Diagnostic, Loc, SpecError


class PosDict(dict):
    """A mapping that knows the position of itself, of each key and of each value."""

    loc: Loc
    key_locs: dict[Any, Loc]
    value_locs: dict[Any, Loc]


class PosList(list):
    """A sequence that knows the position of itself and of each item."""

    loc: Loc
    item_locs: list[Loc]


def _loc(file: str, node: yaml.Node) -> Loc:
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader):
        self.file = file
        self.loader = loader

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            out = PosDict()
            out.loc, out.key_locs, out.value_locs = _loc(self.file, node), {}, {}
            self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
            for key_node, value_node in node.value:
                key = self.build(key_node)
                if isinstance(key, (dict, list)):
                    raise SpecError([Diagnostic(_loc(self.file, key_node), "a mapping key must be a plain value")])
                if key in out:
                    raise SpecError(
                        [
                            Diagnostic(
                                _loc(self.file, key_node),
                                f"duplicate key '{key}'",
                                f"'{key}' is already defined at line {out.key_locs[key].line}; keep one of them",
                            )
                        ]
                    )
                out[key] = self.build(value_node)
                out.key_locs[key] = _loc(self.file, key_node)
                out.value_locs[key] = _loc(self.file, value_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = PosList()
            seq.loc, seq.item_locs = _loc(self.file, node), []
            for item in node.value:
                seq.append(self.build(item))
                seq.item_locs.append(_loc(self.file, item))
            return seq
        return self.loader.construct_object(node, deep=True)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file into PosDict/PosList/scalars; syntax errors become SpecError with a position."""
    text = path.read_text(encoding="utf-8")
    # libyaml's parser when available (about 5x faster on large specs); same nodes and marks either way
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Diagnostic(Loc(str(path), 1, 1), "the file is empty", "write a YAML mapping")])
        return _Builder(str(path), loader).build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(str(path), mark.line + 1, mark.column + 1) if mark else Loc(str(path), 1, 1)
        raise SpecError([Diagnostic(loc, f"YAML syntax error: {exc.problem or exc}", exc.context or "")]) from None
    finally:
        loader.dispose()


def locate(node: Any, path: tuple, default: Loc | None = None) -> Loc | None:
    """The most precise known position for a path of keys/indices below `node`."""
    best = getattr(node, "loc", default)
    for part in path:
        if isinstance(node, PosDict) and part in node:
            best = node.value_locs.get(part, best)
            node = node[part]
        elif isinstance(node, PosList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locs[part]
            node = node[part]
        else:
            break
    return best


def key_loc(node: Any, key: Any) -> Loc | None:
    """Position of a mapping key (better than the value's position for 'duplicate name' messages)."""
    if isinstance(node, PosDict):
        return node.key_locs.get(key, node.loc)
    return getattr(node, "loc", None)
