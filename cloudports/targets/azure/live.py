"""Live Azure state, read into the same model the compiler produces (AzureDesiredState / NsgRule / Asg).

What cloudports owns is exactly what carries the tag ``cloudports:topology=<name>`` in the resource group: the
NSG(s) and the ASGs (each ASG's role comes from its ``cloudports:role`` tag). The spec's NSG's security rules are
listed page by page and normalised the way compiled rules are written (protocol case, ``*`` for all ports,
singular and plural fields merged, ASG ids -> role keys), so a rule written by cloudports, by Terraform or by
hand compares equal when it allows the same traffic. Default rules are never listed, so never compared.

Subnets the spec names are read one by one (GET) to see which NSG they are associated with.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from azure.core.exceptions import ResourceNotFoundError

from cloudports.compile import CompiledPolicy
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.live.backend import LiveOptions
from cloudports.live.plan import Plan
from cloudports.targets.azure.arm import ArmSettings, arm_errors, network_client, resolve_settings
from cloudports.targets.azure.build import build_azure
from cloudports.targets.azure.model import ROLE_TAG, TOPOLOGY_TAG, AzureDesiredState, NsgRule

_PROTOCOLS = {p.lower(): p for p in ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*")}
_DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}
_ACCESSES = {"allow": "Allow", "deny": "Deny"}
_TAGS = {t.lower(): t for t in ("VirtualNetwork", "Internet", "AzureLoadBalancer")}
ALL_PORTS = ("*",)

# What to do with an untagged NSG or ASG that has the name of one the spec declares.
NameConflicts = Literal["error", "adopt", "ignore"]


# ----------------------------------------------------------------------------------------- normalisation


def _text(value: Any) -> str:
    """SDK enums (str subclasses) and plain strings alike -> their wire value."""
    return str(getattr(value, "value", value) or "")


def _canon(value: Any, table: dict[str, str]) -> str:
    text = _text(value)
    return table.get(text.lower(), text)


def _port_key(item: str) -> tuple[int, int]:
    lo, _, hi = item.partition("-")
    try:
        return int(lo), int(hi or lo)
    except ValueError:
        return (1 << 30, 0)  # not a port: sorts last, compares as written


def normalise_ports(items: Iterable[str]) -> tuple[str, ...]:
    """'*' and '0-65535' mean every port; '80-80' is '80'; order and duplicates do not matter."""
    out = set()
    for raw in items:
        item = raw.strip().replace(" ", "")
        if not item:
            continue
        if item == "*" or _port_key(item) == (0, 65535):
            return ALL_PORTS
        lo, hi = _port_key(item)
        out.add(item if lo > hi or lo == 1 << 30 else str(lo) if lo == hi else f"{lo}-{hi}")
    return tuple(sorted(out, key=_port_key))


def normalise_prefix(raw: str) -> str:
    """CIDRs and addresses in canonical form (Azure masks host bits), service tags in their usual case."""
    text = raw.strip()
    if text.lower() in _TAGS:
        return _TAGS[text.lower()]
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text  # '*' or another service tag


def normalise_prefixes(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({normalise_prefix(i) for i in items if i and i.strip()}))


def canonical(rule: NsgRule) -> NsgRule:
    """The comparable form of a rule; applied to desired and live rules alike."""
    return replace(
        rule,
        protocol=_canon(rule.protocol, _PROTOCOLS),
        direction=_canon(rule.direction, _DIRECTIONS),  # type: ignore[arg-type]
        access=_canon(rule.access, _ACCESSES),  # type: ignore[arg-type]
        destination_ports=normalise_ports(rule.destination_ports),
        source_ports=normalise_ports(rule.source_ports),
        source_prefixes=normalise_prefixes(rule.source_prefixes),
        destination_prefixes=normalise_prefixes(rule.destination_prefixes),
        source_asgs=tuple(sorted(set(rule.source_asgs))),
        destination_asgs=tuple(sorted(set(rule.destination_asgs))),
    )


def _either(single: Any, plural: Any) -> list[str]:
    """Azure keeps one value in the singular field and several in the plural one; either may be used."""
    values = [single] if single else list(plural or [])
    return [str(v) for v in values]


def _asg_keys(refs: Any, roles_by_id: dict[str, str]) -> tuple[str, ...]:
    """ASG references -> role keys; an ASG cloudports does not own stays as its (lower-case) id."""
    ids = [str(getattr(r, "id", None) or (r.get("id") if isinstance(r, dict) else "") or "") for r in refs or []]
    return tuple(roles_by_id.get(i.lower(), i.lower()) for i in ids if i)


def normalise_rule(rule: Any, roles_by_id: dict[str, str]) -> NsgRule:
    """One security rule as the SDK returns it -> NsgRule, in canonical form."""
    return canonical(
        NsgRule(
            name=str(rule.name),
            direction=_text(rule.direction),  # type: ignore[arg-type]
            access=_text(rule.access),  # type: ignore[arg-type]
            protocol=_text(rule.protocol),
            destination_ports=tuple(_either(rule.destination_port_range, rule.destination_port_ranges)),
            source_ports=tuple(_either(rule.source_port_range, rule.source_port_ranges)),
            source_prefixes=tuple(_either(rule.source_address_prefix, rule.source_address_prefixes)),
            destination_prefixes=tuple(_either(rule.destination_address_prefix, rule.destination_address_prefixes)),
            source_asgs=_asg_keys(rule.source_application_security_groups, roles_by_id),
            destination_asgs=_asg_keys(rule.destination_application_security_groups, roles_by_id),
            priority=int(rule.priority or 0),
            description=str(rule.description or ""),
        )
    )


def location_key(location: str | None) -> str:
    """'West Europe' and 'westeurope' are the same region."""
    return (location or "").replace(" ", "").lower()


# ------------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class LiveNsg:
    name: str
    id: str
    location: str
    tags: dict[str, str] = field(compare=False)
    subnet_ids: tuple[str, ...] = ()  # subnets associated with it (any, not only the spec's)
    rule_count: int = 0
    adopt: bool = False  # an untagged same-name NSG that --adopt takes over


@dataclass(frozen=True)
class LiveAsg:
    key: str  # its role, or a unique stand-in for an owned ASG the spec does not have
    name: str
    id: str
    location: str
    tags: dict[str, str] = field(compare=False)
    adopt: bool = False


@dataclass(frozen=True)
class SubnetRef:
    """A subnet the spec names, as read: which NSG (if any) it is associated with."""

    key: str  # "vnet/subnet"
    resource_group: str
    virtual_network: str
    name: str
    id: str
    nsg_id: str | None


@dataclass
class LiveState:
    rules: dict[str, NsgRule]  # the spec's NSG's rules by name (empty when the NSG is missing)
    nsg: LiveNsg | None  # the spec's NSG, if it exists (and is ours, or adopted)
    other_nsgs: list[LiveNsg]  # further NSGs tagged for this topology (e.g. after nsg_name changed)
    asgs: dict[str, LiveAsg]  # key -> owned ASG
    subnets: dict[str, SubnetRef]  # "vnet/subnet" -> the spec's subnets

    @property
    def priorities(self) -> dict[tuple[str, str], int]:
        return {(r.direction, r.name): r.priority for r in self.rules.values()}

    def owned_nsg_ids(self) -> set[str]:
        return {n.id.lower() for n in [self.nsg, *self.other_nsgs] if n}


def _tags(resource: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (getattr(resource, "tags", None) or {}).items()}


def _conflict(kind: str, name: str, tags: dict[str, str], topology: str, rg: str) -> Diagnostic:
    other = tags.get(TOPOLOGY_TAG)
    if other:
        return Diagnostic(
            None,
            f"azure: {kind} {name} in {rg} belongs to cloudports topology '{other}', not '{topology}'",
            "give this topology another name (or targets.azure.nsg_name), or another resource group",
        )
    return Diagnostic(
        None,
        f"azure: {kind} {name} in {rg} has the name this spec declares but is not tagged {TOPOLOGY_TAG}={topology};"
        " cloudports will not take it over silently",
        "to manage it (its rules will be made to match the spec) run plan/apply with --adopt; otherwise rename or "
        "delete it, or change the names in the spec",
    )


class Reader:
    """Reads what cloudports owns for one topology in one resource group."""

    def __init__(self, client: Any, settings: ArmSettings, desired: AzureDesiredState):
        self.client = client
        self.settings = settings
        self.desired = desired

    @property
    def rg(self) -> str:
        return self.settings.resource_group

    def read(self, conflicts: NameConflicts = "error") -> LiveState:
        problems: list[Diagnostic] = []
        topology = self.desired.topology
        with arm_errors("listing application security groups in", self.rg):
            raw_asgs = list(self.client.application_security_groups.list(self.rg))
        asgs = self._asgs(raw_asgs, conflicts, problems)
        with arm_errors("listing network security groups in", self.rg):
            raw_nsgs = list(self.client.network_security_groups.list(self.rg))
        nsg, others = None, []
        for raw in sorted(raw_nsgs, key=lambda n: str(n.name).lower()):
            tags = _tags(raw)
            mine = tags.get(TOPOLOGY_TAG) == topology
            is_spec_nsg = str(raw.name).lower() == self.desired.nsg_name.lower()
            if is_spec_nsg and not mine and conflicts != "ignore":
                if conflicts == "adopt" and not tags.get(TOPOLOGY_TAG):
                    nsg = self._nsg(raw, adopt=True)
                else:
                    problems.append(_conflict("network security group", str(raw.name), tags, topology, self.rg))
            elif mine and is_spec_nsg:
                nsg = self._nsg(raw)
            elif mine:
                others.append(self._nsg(raw))
        if problems:
            raise CloudportsError(problems)
        roles_by_id = {a.id.lower(): a.key for a in asgs.values()}
        rules: dict[str, NsgRule] = {}
        if nsg is not None:
            with arm_errors("listing the security rules of", f"network security group {nsg.name}"):
                for raw in self.client.security_rules.list(self.rg, nsg.name):
                    rule = normalise_rule(raw, roles_by_id)
                    rules[rule.name] = rule
            nsg = replace(nsg, rule_count=len(rules))
        return LiveState(dict(sorted(rules.items())), nsg, others, asgs, self.read_subnets())

    def _nsg(self, raw: Any, adopt: bool = False) -> LiveNsg:
        subnets = tuple(str(s.id) for s in (getattr(raw, "subnets", None) or []) if getattr(s, "id", None))
        rules = len(getattr(raw, "security_rules", None) or [])
        return LiveNsg(str(raw.name), str(raw.id), str(raw.location or ""), _tags(raw), subnets, rules, adopt)

    def _asgs(self, raw_asgs: list[Any], conflicts: NameConflicts, problems: list[Diagnostic]) -> dict[str, LiveAsg]:
        """Owned ASGs by role. Only the ASG with the name the spec gives a role stands for that role; any other
        owned ASG (a role the spec dropped, a renamed one) is keyed '<role tag>@<name>' and so is an extra."""
        topology = self.desired.topology
        by_name = {a.name.lower(): role for role, a in self.desired.asgs.items()}
        result: dict[str, LiveAsg] = {}
        for raw in raw_asgs:
            name, tags = str(raw.name), _tags(raw)
            declared = by_name.get(name.lower())
            adopt = False
            if tags.get(TOPOLOGY_TAG) == topology:
                # (a wrong or missing role tag on the declared name is a tag difference, fixed in place)
                key = declared or f"{tags.get(ROLE_TAG, '')}@{name}"
            elif declared and conflicts == "adopt" and not tags.get(TOPOLOGY_TAG):
                key, adopt = declared, True
            elif declared and conflicts != "ignore":
                problems.append(_conflict("application security group", name, tags, topology, self.rg))
                continue
            else:
                continue
            result[key] = LiveAsg(key, name, str(raw.id), str(raw.location or ""), tags, adopt)
        return dict(sorted(result.items()))

    def read_subnets(self) -> dict[str, SubnetRef]:
        found = {}
        for s in self.desired.subnets:
            rg = s.resource_group or self.rg
            key = f"{s.virtual_network}/{s.name}"
            with arm_errors("reading subnet", f"{key} in {rg}"):
                try:
                    raw = self.client.subnets.get(rg, s.virtual_network, s.name)
                except ResourceNotFoundError:
                    raise CloudportsError(
                        [
                            Diagnostic(
                                None,
                                f"azure: subnet {key} (resource group {rg}) named by targets.azure.subnets "
                                "does not exist",
                                "create the virtual network and subnet first (cloudports only associates the NSG "
                                "with it), or fix the name",
                            )
                        ]
                    ) from None
            nsg = getattr(raw, "network_security_group", None)
            found[key] = SubnetRef(key, rg, s.virtual_network, s.name, str(raw.id), getattr(nsg, "id", None))
        return found


# ------------------------------------------------------------------------------------------------ backend


class AzureBackend:
    """The Backend the CLI drives: plan (also drift), apply, plan_destroy, destroy."""

    def __init__(self, policy: CompiledPolicy, settings: ArmSettings, client: Any, adopt: bool = False):
        self.policy = policy
        self.settings = settings
        self.client = client
        self.adopt = adopt
        self.base = self.desired_for({})  # names, tags, subnets: everything but the priorities

    def desired_for(self, live_priorities: dict[tuple[str, str], int]) -> AzureDesiredState:
        """The spec's desired state, every rule keeping its live priority where that is consistent."""
        state = build_azure(self.policy, live_priorities)
        state.resource_group = self.settings.resource_group
        state.rules = {name: canonical(rule) for name, rule in state.rules.items()}
        return state

    def reader(self) -> Reader:
        return Reader(self.client, self.settings, self.base)

    def read(self, conflicts: NameConflicts | None = None) -> LiveState:
        return self.reader().read(conflicts or ("adopt" if self.adopt else "error"))

    def plan(self) -> Plan:
        from cloudports.targets.azure.diff import diff

        live = self.read()
        return diff(self.desired_for(live.priorities), live, self.settings).plan()

    def apply(self, plan: Plan) -> Plan:
        from cloudports.targets.azure.apply import Applier

        return Applier(self).apply(plan)

    def plan_destroy(self) -> Plan:
        from cloudports.targets.azure.diff import destroy_diff

        return destroy_diff(self.base, self.read("ignore"), self.settings).plan()

    def destroy(self, plan: Plan) -> Plan:
        from cloudports.targets.azure.apply import Applier

        return Applier(self).destroy(plan)


def open_backend(policy: CompiledPolicy, options: LiveOptions) -> AzureBackend:
    """The Azure backend for a compiled spec; no Azure call is made until plan/apply/destroy."""
    target = policy.topology.azure
    settings = resolve_settings(
        subscription=options.subscription,
        resource_group=options.resource_group or target.resource_group,
        location=target.location,
        arm_endpoint=options.arm_endpoint,
    )
    return AzureBackend(policy, settings, network_client(settings), options.adopt)
