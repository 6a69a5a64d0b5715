"""What a target declares about itself without being loaded: its capabilities and its live-command options.

Kept apart from base.py (which needs pydantic for the settings models) so that the CLI can offer every target's
options, e.g. in `--help`, without importing pydantic or any target's code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """What a cloud's firewall can express. A spec that needs more gets a diagnostic (capabilities.py)."""

    icmp_types: bool = True  # filters ICMP by type and code (else a typed ICMP flow widens to all ICMP)
    icmp_families: bool = True  # tells ICMP (IPv4) from ICMPv6 between groups of machines
    egress: bool = True  # can restrict outbound traffic (egress: strict)
    # can name the machines of a network without addresses (an AWS security group: targets.aws.security_groups)
    addressless_networks: bool = False
    terraform: bool = False  # emit writes a Terraform root module
    live: bool = False  # plan/apply/drift/destroy through the cloud's API


def flag_given(value: str | None) -> bool:
    """Whether a flag option (Option.is_flag) was given: the CLI passes "true"; "1" and "yes" count too."""
    return str(value).lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Option:
    """A command-line option of this target's live commands: a string, or None when not given; with
    is_flag, an option without a value that the backend receives as "true" when given, else None."""

    name: str  # Python name, e.g. "vpc_id"
    flag: str  # e.g. "--vpc-id"
    help: str
    is_flag: bool = False
    writes_only: bool = False  # only for commands that write (apply, destroy): not offered by reading commands
    repeatable: bool = False  # may be given several times; the backend receives the values joined by ","
    metavar: str | None = None  # what help shows for the value (default: the name in capitals)
