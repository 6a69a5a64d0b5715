"""Corrections of moto's EC2 server for speed only: the same answers, in time that grows with what was asked.

moto looked up each resource's tags by scanning every tag in the region (describe_tags
with a resource-id filter) for every group and rule it answered with, so a listing of n items cost n times all
the tags: a VPC of a hundred labs took minutes per call, past boto3's read timeout (retried, never answered).
Patched: ``TaggedEC2Resource.get_tags`` reads the resource's own entry; the same list comes back.
Likewise DescribeSecurityGroupRules' group-id filter made three regular-expression calls per rule in the region
and per value (200 groups over 30,000 rules: tens of seconds). Patched: ``SecurityGroupRule.filter_group_id``
compares a plain ID as a string; only a value with a wildcard is matched as a pattern, as before. And it copied
every rule in the region before filtering: with plain group IDs only, only those groups' rules are copied.
moto's response serializer tried five alias providers and every EC2 response-transformer path for each member of
each item (about 1 ms per rule) and wrote the XML through xmltodict's SAX generator: the keys it tries are worked
out once per (type, member, shape), and EC2 bodies are written directly (xmltodict's document byte for byte;
anything unusual is still left to xmltodict). Every speed-only correction is listed in ``SPEED_ONLY``;
tests/test_modules.py puts moto's own code back and checks the answers are the same.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from moto.core import serialize as _serialize
from moto.core.utils import MISSING, aws_api_matches, get_value
from moto.ec2.exceptions import InvalidGroupIdMalformedError
from moto.ec2.models import core as _core_models
from moto.ec2.models import security_groups as _sg_models
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix, is_valid_security_group_id

_ORIGINAL_PICK = _serialize.XFormedAttributePicker.__call__
_ORIGINAL_BODY = _serialize.EC2Serializer._serialize_body
_DEFAULT_ALIASES = _serialize.DEFAULT_ALIAS_PROVIDERS


def _own_tags(resource: Any) -> list[dict[str, str]]:
    """What moto's get_tags returns (its describe_tags rows for this resource ID), from the resource's own entry
    rather than a scan of every tag in the region with a pattern per tag."""
    resource_id = getattr(resource, "id", None)
    if not resource_id:
        return []
    tags = resource.ec2_backend.tags.get(resource_id, {})  # .get: the defaultdict must not grow an entry
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [{"resource_id": resource_id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]


def _rule_in_groups(rule: Any, values: list[str]) -> bool:
    """moto's group-id filter of a rule, with plain IDs compared as strings rather than as patterns."""
    plain, patterns = _split_filter(tuple(values))
    return rule.group_id in plain or any(aws_api_matches(p, rule.group_id) for p in patterns)


@functools.lru_cache(maxsize=64)  # one filter is applied to every rule in the region: split it once
def _split_filter(values: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(plain values, values with a wildcard or an escape, which moto matches as patterns)."""
    patterns = tuple(v for v in values if any(c in v for c in "*?\\"))
    return frozenset(values) - frozenset(patterns), patterns


def _rules_of_groups(original: Callable[..., Any]) -> Callable[..., Any]:
    """SecurityGroupBackend.describe_security_group_rules that, filtered by plain group IDs only, copies just those
    groups' rules: moto copied every rule in the region for every call before filtering (32,000 copies to answer
    with 160). Same rules, same order; any other request goes to moto's own."""

    def describe_security_group_rules(self: Any, sg_rule_ids: list[str], filters: dict[str, list[str]]) -> Any:
        values = (filters or {}).get("group-id")
        if sg_rule_ids or not values or set(filters) != {"group-id"} or _split_filter(tuple(values))[1]:
            return original(self, sg_rule_ids, filters)
        for group_id in values:
            if not is_valid_security_group_id(group_id):
                raise InvalidGroupIdMalformedError(group_id)
        wanted = frozenset(values)
        # list(): the server answers requests in threads, and another may create a group meanwhile ("dictionary
        # changed size during iteration", an HTTP 500, when labs are applied side by side)
        rules = [
            copy.copy(rule)
            for vpc_groups in list(self.groups.values())
            for group in list(vpc_groups.values())
            for rule in itertools.chain(group.egress_rules, group.ingress_rules)
            if rule.group_id in wanted
        ]
        for rule in rules:  # as moto's: no port is -1 in this API's answer
            rule.from_port = -1 if rule.from_port is None else rule.from_port
            rule.to_port = -1 if rule.to_port is None else rule.to_port
        return rules

    return describe_security_group_rules


# What moto's response serializer tries, per (object type, its Meta, member, shape, parent shape): the alias
# providers look at nothing else, so the list is the same every time (botocore shapes hash by identity).
_ALIASES: dict[tuple[Any, ...], list[str]] = {}
_TRANSFORMS: dict[tuple[int, int, str], tuple[dict[str, Any], str | None]] = {}


def _picked_value(self: Any, context: Any) -> Any:
    """XFormedAttributePicker.__call__ with the keys it tries, and the response transformer that applies to a key
    path, worked out once rather than for every member of every item (5 alias providers and every EC2 transformer
    path per member: about 1 ms per rule, so a listing of 16,000 rules took seconds). Same value picked."""
    if type(self) is not _serialize.XFormedAttributePicker or self.alias_providers is not _DEFAULT_ALIASES:
        return _ORIGINAL_PICK(self, context)
    obj, shape = context.obj, context.shape
    key = (type(obj), getattr(obj, "Meta", None), shape, getattr(shape, "parent", None), context.key)
    tried = _ALIASES.get(key)
    if tried is None:
        tried = _ALIASES[key] = list(self.get_possible_keys(context))
    for possible_key in tried:
        value = get_value(obj, possible_key, MISSING)
        if value is not MISSING:
            break
    else:
        value = None
    transform = _transform_path(self.response_transformers, f"{context.key_path}.{context.key}")
    return value if transform is None else self.response_transformers[transform](value)


def _transform_path(transformers: dict[str, Any], key_path: str) -> str | None:
    """The first transformer path key_path ends with (moto's rule), remembered per transformer table and size
    (moto adds entries to its table at run time: a new size is a new table)."""
    key = (id(transformers), len(transformers), key_path)
    found = _TRANSFORMS.get(key)
    if found is None or found[0] is not transformers:  # held, so its id cannot be another table's
        found = (transformers, next((path for path in transformers if key_path.endswith(path)), None))
        _TRANSFORMS[key] = found
    return found[1]


class _Unusual(Exception):
    """A body _xml does not write the way xmltodict would: xmltodict writes it."""


def _ec2_body(self: Any, body: dict[str, Any]) -> str:
    """EC2Serializer._serialize_body: the document xmltodict.unparse writes (full document, short empty elements,
    not pretty), written directly. xmltodict goes through a SAX generator with a name check per element: about
    half of what moto spent on a listing of 16,000 rules. Anything but plain elements, text and attributes (a
    comment, a namespace map, a pretty document) is left to xmltodict."""
    if self.pretty_print or len(body) != 1:
        return _ORIGINAL_BODY(self, body)
    out = ['<?xml version="1.0" encoding="utf-8"?>\n']
    try:
        ((key, value),) = body.items()
        if not isinstance(value, dict):  # a list at the root is several roots, which xmltodict refuses
            raise _Unusual
        _xml(key, value, out)
    except _Unusual:
        return _ORIGINAL_BODY(self, body)
    return "".join(out)


def _xml(key: str, value: Any, out: list[str]) -> None:
    """Element(s) `key` for value, as xmltodict's _emit writes them (a list: one element per item)."""
    _check_name(key)
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item is None:
            item = {}
        elif not isinstance(item, (dict, str)):
            item = _text(item)
        if isinstance(item, str):
            item = {"#text": item}
        text, attrs, children = None, [], []
        for child, inner in item.items():
            if not isinstance(child, str):
                raise _Unusual
            if child == "#text":
                text = None if inner is None else _text(inner)
            elif child.startswith("@"):
                if isinstance(inner, dict) or child == "@":
                    raise _Unusual
                _check_name(child[1:])
                attrs.append(f" {child[1:]}={quoteattr('' if inner is None else _text(inner))}")
            elif not (isinstance(inner, list) and not inner):  # an empty list is no element at all
                children.append((child, inner))
        out.append(f"<{key}{''.join(attrs)}")
        if not children and not text:
            out.append("/>")
            continue
        out.append(">")
        for child, inner in children:
            _xml(child, inner, out)
        if text:
            out.append(xml_escape(text))
        out.append(f"</{key}>")


def _text(value: Any) -> str:
    """xmltodict's text for a value; any other iterable than a list or a dict (xmltodict writes it as a list or
    as its str()) and any other type is unusual."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise _Unusual


@functools.lru_cache(maxsize=4096)
def _plain_name(name: str) -> bool:
    """A name xmltodict writes as it is (its _validate_name accepts it; '#comment' is a comment to it)."""
    bad = name.startswith(("?", "!", "#")) or any(c in name for c in "<>/\"'=") or any(c.isspace() for c in name)
    return isinstance(name, str) and bool(name) and not bad


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _plain_name(name):
        raise _Unusual


# (class, attribute, moto's own) of each correction made for speed only: a test puts moto's own back to check that
# the answers are the same (tests/test_modules.py).
SPEED_ONLY: list[tuple[type, str, Any]] = []


def _speed_only(owner: type, name: str, faster: Any) -> None:
    SPEED_ONLY.append((owner, name, getattr(owner, name)))
    setattr(owner, name, faster)


def apply_speed_corrections() -> None:
    """Put every correction in place (patches.apply_moto_patches calls it once, under its lock)."""
    rule_cls, backend_cls = _sg_models.SecurityGroupRule, _sg_models.SecurityGroupBackend
    _speed_only(_core_models.TaggedEC2Resource, "get_tags", _own_tags)
    _speed_only(rule_cls, "filter_group_id", _rule_in_groups)
    _speed_only(_serialize.XFormedAttributePicker, "__call__", _picked_value)
    _speed_only(
        backend_cls, "describe_security_group_rules", _rules_of_groups(backend_cls.describe_security_group_rules)
    )
    _speed_only(_serialize.EC2Serializer, "_serialize_body", _ec2_body)
