"""Inline port syntax (tcp/443, udp/1000-2000, icmp/8:0, all, ${param}) and parameter substitution."""

from __future__ import annotations

import re
from collections.abc import Callable

from cloudports.spec.model import PortSpec
from cloudports.spec.schema import PortLong

_PARAM = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TCPUDP = re.compile(r"^(tcp|udp)/([^-/\s]+)(?:-([^-/\s]+))?$")
_ICMP = re.compile(r"^(icmp|icmpv6)(?:/([^:/\s]+)(?::([^:/\s]+))?)?$")

EXAMPLES = "tcp/443, udp/1000-2000, tcp/${web_port}, icmp/8, icmp/3:4, icmpv6/128 or all"


class PortSyntaxError(ValueError):
    def __init__(self, message: str, hint: str = "", param: str | None = None):
        super().__init__(message)
        self.hint = hint
        self.param = param  # the parameter whose value was wrong, so the loader can name where it was set


# Near misses of the inline forms, each with the form meant: tcp443, tcp:443, "tcp 443", 443/tcp, icmp8.
_NEAR_MISSES = (
    (re.compile(r"^(tcp|udp)[\s:._]*(\d+(?:-\d+)?)$"), "{0}/{1}"),
    (re.compile(r"^(\d+(?:-\d+)?)\s*[/:]\s*(tcp|udp)$"), "{1}/{0}"),
    (re.compile(r"^(icmp|icmpv6)[\s:._]*(\d+(?::\d+)?)$"), "{0}/{1}"),
    (re.compile(r"^(\d+(?:-\d+)?)$"), "tcp/{0}"),
)


def near_port(text: str) -> str | None:
    """The inline port a near miss means ('tcp443' -> 'tcp/443'), or None when it looks like no port."""
    word = text.strip().lower()
    for pattern, form in _NEAR_MISSES:
        match = pattern.match(word)
        if match:
            return form.format(*match.groups())
    return None


def looks_like_port(text: str) -> bool:
    """Inline ports contain '/' or are a bare protocol keyword; anything else names a service."""
    return "/" in text or text in ("all", "icmp", "icmpv6")


# Resolves a parameter name to its value, raising PortSyntaxError when it has none.
ParamLookup = Callable[[str], int | str]


def _number(raw: int | str, lookup: ParamLookup, what: str, low: int, high: int) -> int:
    param = None
    if isinstance(raw, str):
        m = _PARAM.match(raw.strip())
        if m:
            param = m.group(1)
            raw = lookup(param)
            what = f"{what} (parameter '{param}')"
    try:
        if isinstance(raw, bool):
            raise ValueError(raw)
        value = int(str(raw).strip())
    except ValueError:
        shown = repr(raw) if len(str(raw)) <= 40 else repr(str(raw)[:40]) + "..."
        raise PortSyntaxError(f"{what} must be a number, got {shown}", f"write it like: {EXAMPLES}", param) from None
    if not low <= value <= high:
        raise PortSyntaxError(f"{what} {value} is outside {low}-{high}", f"use a value between {low} and {high}", param)
    return value


def _range(protocol: str, lo_raw, hi_raw, lookup: ParamLookup) -> PortSpec:
    lo = _number(lo_raw, lookup, "port", 0, 65535)
    hi = lo if hi_raw is None else _number(hi_raw, lookup, "port", 0, 65535)
    if lo > hi:
        raise PortSyntaxError(f"port range {lo}-{hi} is reversed", f"did you mean {protocol}/{hi}-{lo}?")
    single = _PARAM.match(lo_raw.strip()) if isinstance(lo_raw, str) and hi_raw is None else None
    return PortSpec(protocol, lo, hi, params=(single.group(1) if single else "",))  # type: ignore[arg-type]


def _icmp(protocol: str, type_raw, code_raw, lookup: ParamLookup) -> PortSpec:
    if type_raw is None:
        if code_raw is not None:
            raise PortSyntaxError("an ICMP code needs a type", f"write {protocol}/TYPE:CODE")
        return PortSpec(protocol, -1, -1)  # type: ignore[arg-type]
    icmp_type = _number(type_raw, lookup, "ICMP type", 0, 255)
    code = -1 if code_raw is None else _number(code_raw, lookup, "ICMP code", 0, 255)
    return PortSpec(protocol, icmp_type, code)  # type: ignore[arg-type]


def parse_port(item: str | PortLong, lookup: ParamLookup) -> PortSpec:
    """One inline port (short or long form) to a PortSpec; raises PortSyntaxError with a hint."""
    if isinstance(item, PortLong):
        if item.protocol == "all":
            return PortSpec("all")
        if item.protocol in ("icmp", "icmpv6"):
            return _icmp(item.protocol, item.type, item.code, lookup)
        if item.port is not None and (item.from_ is not None or item.to is not None):
            raise PortSyntaxError(
                "give either 'port' or 'from'/'to', not both",
                f"e.g. {{protocol: {item.protocol}, from: 1000, to: 2000}}",
            )
        if item.port is not None:
            return _range(item.protocol, item.port, None, lookup)
        if item.from_ is None or item.to is None:
            raise PortSyntaxError(
                f"{item.protocol} needs 'port' or both 'from' and 'to'",
                f"e.g. {{protocol: {item.protocol}, port: 443}}",
            )
        return _range(item.protocol, item.from_, item.to, lookup)
    text = item.strip().lower() if not item.startswith("${") else item
    if text == "all":
        return PortSpec("all")
    m = _TCPUDP.match(text)
    if m:
        return _range(m.group(1), m.group(2), m.group(3), lookup)
    m = _ICMP.match(text)
    if m:
        return _icmp(m.group(1), m.group(2), m.group(3), lookup)
    meant = near_port(text)
    if meant is not None:
        raise PortSyntaxError(f"cannot read port '{item}'", f"did you mean {meant}?")
    proto = text.split("/", 1)[0]
    if proto not in ("tcp", "udp", "icmp", "icmpv6", "all"):
        raise PortSyntaxError(f"unknown protocol '{proto}' in '{item}'", "protocols are tcp, udp, icmp, icmpv6, all")
    raise PortSyntaxError(f"cannot read port '{item}'", f"write it like: {EXAMPLES}")
