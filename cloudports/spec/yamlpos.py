"""YAML loading that remembers where every key and value came from.

PyYAML builds plain dicts and lists and forgets positions; validation errors must say file:line:column, so we
build the values ourselves and keep each one's start mark next to it: straight from libyaml's events for plain
documents (yamlevents, fast), and from a composed node tree (_Builder here) for everything else, including
every document with a problem to report.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

import yaml

from cloudports.errors import Diagnostic, Loc, SpecError
from cloudports.gcpause import gc_paused
from cloudports.spec.postree import Pos, PosDict, PosList
from cloudports.spec.yamlevents import EventBuilder, Unusual

# Limits that keep time and memory bounded whatever the input (docs/spec-format.md, "Limits"). The examples
# are under 5 KB, 6 levels deep and 2,000 nodes, so real specs stay far below every one of them.
MAX_FILE_BYTES = 1 << 20  # one YAML file (the spec or an include): larger ones are refused before reading
MAX_SPEC_BYTES = 4 << 20  # the spec and all its includes together
MAX_SPEC_FILES = 200  # the spec and its includes: bounds include chains (each level is a Python frame)
MAX_DEPTH = 64  # nesting of mappings and lists; libyaml's composer recurses in C and crashes the process near 10^4
MAX_NODES = 200_000  # values after alias expansion, over the spec and its includes: stops "billion laughs"

_LIMITS_HINT = "limits are in docs/spec-format.md (section Limits); split or simplify the spec"
_SYNTAX_HINT = "check indentation, brackets and quoting here (a value containing ': ' or ' #' needs quotes)"


@dataclass
class YamlBudget:
    """What one spec (with its includes) may still use; shared by all its files so the limits are totals.

    The limits are read when a budget is made, so that a process that lifts them (benchmarks/compile.py at
    100,000 flows) gets a budget to match."""

    nodes: int = field(default_factory=lambda: MAX_NODES)
    spec_bytes: int = field(default_factory=lambda: MAX_SPEC_BYTES)
    files: int = field(default_factory=lambda: MAX_SPEC_FILES)


def _loc(file: str, node: yaml.Node) -> Loc:
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _pos(loc: Loc) -> Pos:
    return (loc.line, loc.col)


def _fail(loc: Loc | None, message: str, hint: str) -> NoReturn:
    raise SpecError([Diagnostic(loc, message, hint)])


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader, budget: YamlBudget):
        self.file = file
        self.loader = loader
        self.budget = budget
        self.open: set[int] = set()  # nodes being built: an alias back into one of them is a cycle
        self.locs: dict[int, Loc] = {}  # an alias repeats its nodes: one Loc each, however often expanded

    def loc(self, node: yaml.Node) -> Loc:
        found = self.locs.get(id(node))
        if found is None:
            found = self.locs[id(node)] = _loc(self.file, node)
        return found

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.budget.nodes -= 1
        if self.budget.nodes < 0:
            _fail(
                self.loc(node),
                f"the spec expands to more than {MAX_NODES} values (aliases included)",
                f"MAX_NODES is {MAX_NODES}; {_LIMITS_HINT}",
            )
        if depth > MAX_DEPTH:
            _fail(
                self.loc(node),
                f"nesting deeper than {MAX_DEPTH} levels (aliases included)",
                f"MAX_DEPTH is {MAX_DEPTH}; {_LIMITS_HINT}",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.open:
            _fail(
                self.loc(node),
                "recursive alias: this value contains itself",
                "an alias (*name) cannot point at a value that encloses it; copy the part you need",
            )
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, depth)
            return self._sequence(cast(yaml.SequenceNode, node), depth)  # the only other collection node
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, KeyError, IndexError, TypeError, OverflowError, AttributeError):
            # PyYAML's constructors for explicit tags (!!int, !!float, !!bool, !!timestamp) raise these on bad text;
            # !!timestamp on text that is no date reads the groups of a regular expression that did not match
            # (AttributeError: 'NoneType' object has no attribute 'groupdict')
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            _fail(
                self.loc(node),
                f"'{node.value[:40]}' is not a valid {tag}",
                f"remove the tag {tag} or write a valid value",
            )

    def _sequence(self, node: yaml.SequenceNode, depth: int) -> PosList:
        seq = PosList()
        seq.loc, seq.item_locs = self.loc(node), []
        for item in node.value:
            seq.append(self.build(item, depth + 1))
            seq.item_locs.append(_pos(self.loc(item)))
        return seq

    def _mapping(self, node: yaml.MappingNode, depth: int) -> PosDict:
        out = PosDict()
        out.loc, out.key_locs, out.value_locs = self.loc(node), {}, {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)  # merged after the explicit keys, which win (as in PyYAML)
                continue
            key = self.build(key_node, depth + 1)
            if isinstance(key, (dict, list)):
                _fail(self.loc(key_node), "a mapping key must be a plain value", "use a name as the key")
            if key in out:
                _fail(
                    self.loc(key_node),
                    f"duplicate key '{key}'",
                    f"'{key}' is already defined at line {out.key_locs[key][0]}; keep one of them",
                )
            out[key] = self.build(value_node, depth + 1)
            out.key_locs[key] = _pos(self.loc(key_node))
            out.value_locs[key] = _pos(self.loc(value_node))
        for value_node in merges:
            self._merge(out, value_node, depth)
        return out

    def _merge(self, out: PosDict, value_node: yaml.Node, depth: int) -> None:
        """YAML merge keys (<<: *base or <<: [*a, *b]) built here so that they count against the limits."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                _fail(
                    self.loc(source),
                    "'<<' can only merge a mapping or a list of mappings",
                    "write '<<: *name' where '&name' marks a mapping",
                )
            merged = self._mapping_of(source, depth + 1)
            for key, value in merged.items():
                if key not in out:  # earlier sources and explicit keys win
                    out[key] = value
                    out.key_locs[key] = merged.key_locs[key]
                    out.value_locs[key] = merged.value_locs[key]

    def _mapping_of(self, node: yaml.MappingNode, depth: int) -> PosDict:
        result = self.build(node, depth)
        assert isinstance(result, PosDict)
        return result


def _short(path: Path) -> str:
    text = repr(str(path))[1:-1]  # repr: a NUL or control character shows as an escape
    return text if len(text) <= 120 else text[:117] + "..."


_PATH_HINT = "name an existing YAML file (no NUL bytes, no symlink loops, path parts under 255 bytes)"


def resolve_spec_path(path: Path, at: Loc | None) -> Path:
    """The absolute path, symlinks resolved (to find include cycles); problems are reported `at`."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symlink loop, before Python 3.13
        _fail(at, f"cannot resolve {_short(path)}: {exc}", _PATH_HINT)


def read_spec_text(path: Path, at: Loc | None, budget: YamlBudget | None = None) -> str:
    """The text of a regular file of at most MAX_FILE_BYTES, decoded as UTF-8; problems are reported `at`."""
    shown = _short(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it like /dev/zero
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        _fail(at, f"file not found: {shown}", "include paths are relative to the including file")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _fail(at, f"cannot read {shown}: {reason}", _PATH_HINT)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            _fail(at, f"{shown} is not a regular file", "name a YAML file (not a folder, device or pipe)")
        data = b""
        if info.st_size <= MAX_FILE_BYTES:  # a sparse 2 GiB file is refused without reading it
            with open(fd, "rb", closefd=False) as handle:
                # read(n) allocates n bytes first: ask for the file's size, and only read on (still bounded) when
                # there is more than it said, as with /proc files, which claim size 0
                want = info.st_size + 1
                data = handle.read(want)
                if len(data) == want:
                    data += handle.read(MAX_FILE_BYTES + 1 - len(data))
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES or info.st_size > MAX_FILE_BYTES:
        _fail(
            at, f"{shown} is larger than {MAX_FILE_BYTES} bytes", f"MAX_FILE_BYTES is {MAX_FILE_BYTES}; {_LIMITS_HINT}"
        )
    if budget is not None:
        budget.spec_bytes -= len(data)
        if budget.spec_bytes < 0:
            _fail(
                at,
                f"the spec and its includes exceed {MAX_SPEC_BYTES} bytes",
                f"MAX_SPEC_BYTES is {MAX_SPEC_BYTES}; {_LIMITS_HINT}",
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line, col = before.count(b"\n") + 1, len(before) - (before.rfind(b"\n") + 1) + 1
        _fail(
            Loc(str(path), line, col),
            f"byte 0x{data[exc.start]:02x} is not UTF-8 text",
            "save the file as UTF-8 (or remove the byte)",
        )


def _text_loc(file: str, text: str, index: int) -> Loc:
    line_start = text.rfind("\n", 0, index) + 1
    return Loc(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def _check_depth(file: str, text: str) -> None:
    """Refuse deep nesting from the event stream, before libyaml's recursive composer sees it."""
    loader = _LOADER(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    _fail(
                        Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1),
                        f"nesting deeper than {MAX_DEPTH} levels",
                        f"MAX_DEPTH is {MAX_DEPTH}; {_LIMITS_HINT}",
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


# libyaml's parser when available (about 5x faster on large specs); same nodes and marks either way
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_UNUSUAL = object()


def _from_events(file: str, text: str, budget: YamlBudget) -> Any:
    """The document built in one pass over the events (yamlevents), or _UNUSUAL when it needs the general
    builder: then nothing of the budget is spent, and that builder finds and reports what is unusual."""
    loader = _LOADER(text)
    builder = EventBuilder(file, loader, MAX_DEPTH)
    try:
        value = builder.document()
    except (Unusual, yaml.YAMLError):
        return _UNUSUAL
    finally:
        loader.dispose()
    # Counted as it goes and charged at the end: without aliases a file of MAX_FILE_BYTES holds a bounded number
    # of values, and the general builder names the value that crosses the limit.
    if builder.nodes > budget.nodes:
        return _UNUSUAL
    budget.nodes -= builder.nodes
    return value


@gc_paused()  # composing allocates up to MAX_NODES containers that stay alive: see gcpause
def load_yaml(path: Path, at: Loc | None = None, budget: YamlBudget | None = None) -> Any:
    """Parse one YAML file into PosDict/PosList/scalars; every problem becomes a SpecError with a position.

    `at` is where the file was named (the include line) for problems reading it; `budget` is shared by the
    files of one spec so that the limits hold for the whole spec.
    """
    text = read_spec_text(path, at, budget)
    file = str(path)
    budget = budget or YamlBudget()
    try:
        built = _from_events(file, text, budget)
        if built is not _UNUSUAL:
            return built
        _check_depth(file, text)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            if node is None:
                _fail(Loc(file, 1, 1), "the file is empty", "write a YAML mapping")
            return _Builder(file, loader, budget).build(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1)
        hint = f"{exc.context}; {_SYNTAX_HINT}" if exc.context else _SYNTAX_HINT
        if isinstance(exc, yaml.constructor.ConstructorError):
            hint = "cloudports reads plain YAML: remove the tag"
        if "nesting depth" in (exc.problem or ""):
            # PyYAML >= 6.0.4's scanner has a nesting limit of its own, which it can reach before _check_depth sees
            # the 65th level (a flow collection is scanned ahead): the same finding, in cloudports' words.
            _fail(loc, f"nesting deeper than {MAX_DEPTH} levels", f"MAX_DEPTH is {MAX_DEPTH}; {_LIMITS_HINT}")
        _fail(loc, f"YAML syntax error: {exc.problem or exc}", hint)
    except yaml.reader.ReaderError as exc:
        _fail(
            _text_loc(file, text, exc.position),
            f"character #x{exc.character:04x} is not allowed in YAML",
            'remove it; control characters may only appear escaped in double quotes, e.g. "\\t"',
        )
    except yaml.YAMLError as exc:
        _fail(Loc(file, 1, 1), f"YAML error: {exc}", _SYNTAX_HINT)


def locate(node: Any, path: tuple, default: Loc | None = None) -> Loc | None:
    """The most precise known position for a path of keys/indices below `node`."""
    best = getattr(node, "loc", default)
    pos: Pos | None = None  # below `node`: in the same file as node.loc
    for part in path:
        if isinstance(node, PosDict) and part in node:
            pos = node.value_locs.get(part, pos)
            node = node[part]
        elif isinstance(node, PosList) and isinstance(part, int) and 0 <= part < len(node):
            pos = node.item_locs[part]
            node = node[part]
        else:
            break
    return best if pos is None or best is None else Loc(best.file, *pos)


def key_loc(node: Any, key: Any) -> Loc | None:
    """Position of a mapping key (better than the value's position for 'duplicate name' messages)."""
    if isinstance(node, PosDict):
        pos = node.key_locs.get(key)
        return node.loc if pos is None else Loc(node.loc.file, *pos)
    return getattr(node, "loc", None)
