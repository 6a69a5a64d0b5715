"""The fast way to a position tree: built straight from libyaml's event stream, for plain documents.

Composing a node tree first (PyYAML's composer) and then walking it cost three quarters of loading a large spec:
every value existed twice, as a node and as a value, and each scalar went through the constructor machinery.
Here each event becomes its value at once, with its position from the event's mark.

Only the plain case is handled: no anchors, aliases, tags, merge keys or duplicate keys, nothing over a limit,
no syntax error. Anything else raises Unusual, and the caller starts again with the general builder
(yamlpos._Builder), which reports every problem with its position, so the two never disagree on a message.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent, SequenceStartEvent

from cloudports.errors import Loc
from cloudports.spec.postree import PosDict, PosList

_TAG = "tag:yaml.org,2002:"
# What a plain scalar may resolve to here; "<<" (merge) and "=" (value) are left to the general builder.
_PLAIN_TAGS = {_TAG + name for name in ("null", "bool", "int", "float", "timestamp")}


class Unusual(Exception):
    """The document needs the general builder."""


class EventBuilder:
    def __init__(self, file: str, loader: Any, max_depth: int):
        self.file = file
        self.loader = loader
        self.get = loader.get_event
        self.max_depth = max_depth
        self.nodes = 0  # values built, as the general builder counts them (keys included)
        self.plain: dict[str, Any] = {}  # plain scalar text -> its value: names and numbers repeat a lot

    def document(self) -> Any:
        """The single document's value; Unusual for an empty stream or more than one document."""
        get = self.get
        if type(get()) is not yaml.StreamStartEvent or type(get()) is not yaml.DocumentStartEvent:
            raise Unusual
        event = get()
        value = self.scalar(event) if type(event) is ScalarEvent else self.collection(event, self.loc(event), 1)
        if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
            raise Unusual
        return value

    def loc(self, event: Any) -> Loc:
        mark = event.start_mark
        return Loc(self.file, mark.line + 1, mark.column + 1)

    def scalar(self, event: Any) -> Any:
        self.nodes += 1
        if event.anchor is not None or event.tag is not None:
            raise Unusual
        if not event.implicit[0]:  # quoted or block scalar without a tag: always a string
            return event.value
        text = event.value
        try:
            return self.plain[text]
        except KeyError:
            value = self.plain[text] = self._resolved(event)
            return value

    def _resolved(self, event: Any) -> Any:
        loader, text = self.loader, event.value
        tag = loader.resolve(yaml.ScalarNode, text, (True, False))
        if tag == _TAG + "str":
            return text
        if tag not in _PLAIN_TAGS:
            raise Unusual
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark)
        try:
            return loader.yaml_constructors[tag](loader, node)
        except Exception as exc:  # e.g. a timestamp-shaped date that does not exist: the general builder says so
            raise Unusual from exc

    def collection(self, event: Any, loc: Loc, depth: int) -> Any:
        """A mapping or sequence at nesting `depth` (the top-level one is 1), `loc` being its position."""
        if depth > self.max_depth or event.anchor is not None or event.tag is not None:
            raise Unusual
        kind = type(event)
        if kind is MappingStartEvent:
            return self._mapping(loc, depth)
        if kind is SequenceStartEvent:
            return self._sequence(loc, depth)
        raise Unusual  # an alias

    # The two loops below run once per value of the spec: locals and inlined positions (Pos tuples) on purpose.
    def _mapping(self, loc: Loc, depth: int) -> PosDict:
        self.nodes += 1
        out = PosDict()
        out.loc, out.key_locs, out.value_locs = loc, {}, {}
        key_locs, value_locs, get, file, scalar = out.key_locs, out.value_locs, self.get, self.file, self.scalar
        while True:
            event = get()
            if type(event) is not ScalarEvent:
                if type(event) is MappingEndEvent:
                    return out
                raise Unusual  # a mapping or sequence as a key
            key = scalar(event)
            if key in out:
                raise Unusual  # a duplicate key: reported by the general builder
            mark: Any = event.start_mark  # never None from libyaml's parser
            key_locs[key] = (mark.line + 1, mark.column + 1)
            event = get()
            mark = event.start_mark
            value_locs[key] = pos = (mark.line + 1, mark.column + 1)
            out[key] = (
                scalar(event) if type(event) is ScalarEvent else self.collection(event, Loc(file, *pos), depth + 1)
            )

    def _sequence(self, loc: Loc, depth: int) -> PosList:
        self.nodes += 1
        out = PosList()
        out.loc, out.item_locs = loc, []
        item_locs, get, file, scalar = out.item_locs, self.get, self.file, self.scalar
        while True:
            event = get()
            if type(event) is SequenceEndEvent:
                return out
            mark = event.start_mark
            item_locs.append(pos := (mark.line + 1, mark.column + 1))
            out.append(
                scalar(event) if type(event) is ScalarEvent else self.collection(event, Loc(file, *pos), depth + 1)
            )
