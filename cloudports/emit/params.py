"""Spec parameters as Terraform variables of an emitted root module.

A parameter becomes a variable when every emitted port it gave is a single port that came from that parameter
alone: the rule then says `var.<parameter>` and its key names the parameter instead of the number, so changing
the variable changes that port in place and the key stays. A parameter whose port was merged with other ports
when compiling (an adjacent or overlapping port of the same role and peer, the same port from another flow, a
range) stays a number: the merged rule cannot follow the variable. The root says which, and why, in a comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloudports.emit.hcl import string
from cloudports.spec.model import Topology

PORT_MIN, PORT_MAX = 1, 65535


@dataclass(frozen=True)
class Parameter:
    name: str
    value: int
    description: str


@dataclass(frozen=True)
class Variables:
    """Which parameters an emitted root makes variables, and the others it uses as fixed numbers."""

    parameters: Mapping[str, Parameter]
    variables: frozenset[str]
    fixed: frozenset[str]

    def of(self, port_params: tuple[str, ...], single_port: bool) -> str | None:
        """The variable a port is, given where it came from (Rule.port_params), or None for a number."""
        if single_port and len(port_params) == 1 and port_params[0] in self.variables:
            return port_params[0]
        return None


def spec_parameters(topology: Topology) -> dict[str, Parameter]:
    """The spec's numeric parameters (every parameter is a port or an ICMP type/code), with their values."""
    found = {}
    for name, value in topology.parameters.items():
        try:
            number = int(value)
        except ValueError:
            continue  # a value the loader would have refused had a port used it
        found[name] = Parameter(name, number, topology.parameter_descriptions.get(name, ""))
    return found


def choose(parameters: Mapping[str, Parameter], usages: Iterable[tuple[tuple[str, ...], bool]]) -> Variables:
    """usages: (port_params, single_port) of every emitted port. A parameter is a variable when each port it
    gave is single and its own; any other use (merged, part of a range) fixes it."""
    used: set[str] = set()
    fixed: set[str] = set()
    for port_params, single_port in usages:
        named = {p for p in port_params if p}
        used |= named
        if not (single_port and len(port_params) == 1 and port_params[0]):
            fixed |= named
    known = used & set(parameters)
    return Variables(parameters, frozenset(known - fixed), frozenset(known & fixed))


def _validations(name: str, refused: Iterable[int], refused_why: str) -> str:
    ref = f"var.{name}"
    text = f"""
  validation {{
    condition     = {ref} >= {PORT_MIN} && {ref} <= {PORT_MAX} && floor({ref}) == {ref}
    error_message = "{name} must be a whole port number {PORT_MIN}-{PORT_MAX}."
  }}
"""
    values = sorted(set(refused))
    if values:
        listed = ", ".join(str(v) for v in values)
        # Written by hand, not with string(): the message interpolates the value (refused_why has no quotes).
        message = f"{name} = ${{{ref}}}: {refused_why} Re-emit with: cloudports emit SPEC --var {name}=${{{ref}}}"
        text += f"""
  validation {{
    condition     = !contains([{listed}], {ref})
    error_message = "{message}"
  }}
"""
    return text


def variables_hcl(chosen: Variables, refused: Mapping[str, Iterable[int]] | None = None, refused_why: str = "") -> str:
    """The variable blocks (and a comment naming the parameters left as numbers); "" when the spec has none.

    refused: values a variable must not take (the target cannot hold the rules they would make), with why.
    """
    text = ""
    for name in sorted(chosen.variables):
        param = chosen.parameters[name]
        description = param.description or f"Spec parameter {name}"
        text += f"""
variable "{name}" {{
  description = {string(f"{description} (spec parameter; its rules follow this value)")}
  type        = number
  default     = {param.value}
{_validations(name, (refused or {}).get(name, ()), refused_why)}}}
"""
    if chosen.fixed:
        names = ", ".join(sorted(chosen.fixed))
        text += (
            "\n# Spec parameters emitted as numbers, not variables: their ports merged with other ports when\n"
            "# compiling, so a changed value needs the rules compiled again (cloudports emit SPEC --var NAME=VALUE):\n"
            f"# {names}\n"
        )
    return text
