"""Neutral rules -> Azure desired state: NSG rules packed from protocol and peer pairs, in one NSG or one per
subnet, at stable priorities."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from cloudports.compile import CompiledPolicy, Rule
from cloudports.errors import CloudportsError, Diagnostic
from cloudports.gcpause import gc_paused
from cloudports.targets.azure.bound import lower_bound
from cloudports.targets.azure.identity import named_packing, previous_of_rules
from cloudports.targets.azure.model import DENY_PRIORITY, Asg, AzureState, Nsg, NsgRule
from cloudports.targets.azure.pack import (
    MAX_ASGS_PER_RULE_SIDE,
    MAX_PREFIXES_PER_SIDE,
    Endpoint,
    Packed,
    Pair,
)
from cloudports.targets.azure.priorities import ONLY_NSG, Key, assign_priorities, described
from cloudports.targets.azure.settings import AzureSettings
from cloudports.targets.azure.text import azure_name
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, TOPOLOGY_TAG, spec_identity

_T = TypeVar("_T")

# Azure limits (../shared/reference/azure.md §0; the per-rule ones are in pack.py)
MAX_RULES = 1000
MAX_ASGS_PER_NSG = 100

_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "icmpv6": "Icmp", "all": "*"}

# The default rules AllowVnetInBound / AllowVnetOutBound (65000) and AllowInternetOutBound (65001) would let
# through what the spec does not declare; these custom rules close that below every cloudports allow rule.
DENY_VNET_INBOUND = NsgRule(
    name="deny-vnet-inbound",
    direction="Inbound",
    access="Deny",
    protocol="*",
    destination_ports=("*",),
    source_prefixes=("VirtualNetwork",),
    destination_prefixes=("VirtualNetwork",),
    priority=DENY_PRIORITY,
    description="cloudports: only declared flows; overrides the default AllowVnetInBound",
)
DENY_ALL_OUTBOUND = NsgRule(
    name="deny-all-outbound",
    direction="Outbound",
    access="Deny",
    protocol="*",
    destination_ports=("*",),
    source_prefixes=("*",),
    destination_prefixes=("*",),
    priority=DENY_PRIORITY,
    description="cloudports strict egress: overrides the default AllowVnetOutBound and AllowInternetOutBound",
)


def _ports(rules: list[Rule]) -> tuple[str, ...]:
    if any(r.protocol in ("all", "icmp", "icmpv6") for r in rules):
        return ("*",)
    spans = sorted({(r.from_port, r.to_port) for r in rules})
    if spans == [(0, 65535)]:
        return ("*",)
    return tuple(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in spans)


def _port_params(members: list[Rule], ports: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per entry of `ports` (what _ports made of the members), the parameters and literals ("") behind it."""
    by_entry: dict[str, set[str]] = defaultdict(set)
    for rule in members:
        lo, hi = rule.from_port, rule.to_port
        entry = "*" if ports == ("*",) else str(lo) if lo == hi else f"{lo}-{hi}"
        by_entry[entry].update(rule.port_params)
    return tuple((entry, tuple(sorted(params))) for entry, params in sorted(by_entry.items()))


def _endpoint(rule: Rule, side: str) -> Endpoint:
    """('asg', role) or ('net', network name) for one side of the rule."""
    role_side = "destination" if rule.direction == "ingress" else "source"
    if side == role_side:
        return ("asg", rule.role)
    return ("asg", rule.peer.name) if rule.peer.kind == "role" else ("net", rule.peer.name)


Groups = dict[tuple[str, str, Endpoint, Endpoint, int | None], dict[str | None, list[Rule]]]


def _group(policy: CompiledPolicy, tags: Mapping[str, str]) -> Groups:
    """(direction, protocol, source, destination, family) -> {CIDR or None: neutral rules}. A network that is a
    service tag (targets.azure.service_tags) is the tag, for both families at once."""
    groups: Groups = defaultdict(lambda: defaultdict(list))
    for rule in policy.rules:
        direction = "Inbound" if rule.direction == "ingress" else "Outbound"
        key = (direction, _PROTOCOLS[rule.protocol], _endpoint(rule, "source"), _endpoint(rule, "destination"))
        tag = tags.get(rule.peer.name) if rule.peer.kind == "cidr" else None
        groups[(*key, None if tag else rule.peer.version)][tag or rule.peer.cidr or None].append(rule)
    return groups


def _pairs(groups: Groups) -> list[Pair]:
    """Every port one protocol allows between two endpoints (pack.py), for packing into NSG rules."""
    pairs: list[Pair] = []
    for (direction, proto, src, dst, family), by_cidr in groups.items():
        # CIDRs of one network normally share their ports; if overlapping networks made them differ, split.
        variants: dict[tuple[str, ...], list[str | None]] = defaultdict(list)
        for cidr, items in by_cidr.items():
            variants[_ports(items)].append(cidr)
        for n, (ports, cidrs) in enumerate(sorted(variants.items())):
            members = tuple(r for c in cidrs for r in by_cidr[c])
            prefixes = tuple(sorted(c for c in cidrs if c))
            params = _port_params(list(members), ports)
            pairs.append(Pair(direction, proto, family, ports, src, dst, prefixes, members, params, n))
    return pairs


def _rule(group: Packed, name: str, priority: int) -> tuple[NsgRule, list[str]]:
    """The NSG rule of a packed group of pairs, named and placed; its spec origins."""
    first, members = group.first, group.members
    (source_asgs, source_prefixes), (destination_asgs, destination_prefixes) = map(
        group.side, ("source", "destination")
    )
    descriptions = dict.fromkeys(d for r in members for d in r.descriptions if d)
    rule = NsgRule(
        name=name,
        direction=first.direction,  # type: ignore[arg-type]
        access="Allow",
        protocol=first.protocol,
        destination_ports=first.ports,
        source_prefixes=source_prefixes,
        source_asgs=source_asgs,
        destination_prefixes=destination_prefixes,
        destination_asgs=destination_asgs,
        priority=priority,
        description=described("; ".join(descriptions), name, priority),  # made to fit, its priority marked
        port_params=first.port_params,
    )
    return rule, sorted({str(o) for r in members for o in r.origins})


@gc_paused()  # builds a large acyclic structure: see gcpause
def build_azure(
    policy: CompiledPolicy,
    settings: AzureSettings,
    previous_priorities: Mapping[str, Mapping[Key, int]] | None = None,
    recorded_priorities: Mapping[str, Mapping[Key, int]] | None = None,
    previous_rules: Mapping[str, Iterable[NsgRule]] | None = None,
    kept: Mapping[str, Mapping[str, NsgRule]] | None = None,
) -> AzureState:
    """The one route to an Azure state from a spec. `settings`: the spec's targets.azure with any command-line
    override (resource group) applied; previous_priorities: NSG name -> (direction, rule name) -> priority from
    the live NSGs or from earlier emitted Terraform (the key ONLY_NSG: the one NSG, whatever its name);
    recorded_priorities: the records in live rules' descriptions (None when previous_priorities is itself the
    record; see priorities.py); previous_rules: NSG name (or ONLY_NSG) -> its rules now, whose names and pairs
    carry over (identity.py); kept: NSG name -> the live rules targets.azure.unmanaged keeps there, as read (they
    stay as they are, and cloudports' rules avoid their priorities). Each NSG has its own priority space: Azure
    checks priorities per NSG."""
    topo = policy.topology
    previous, recorded = previous_priorities or {}, recorded_priorities
    nsgs = {}
    least = 0
    refused: list[Diagnostic] = []  # every NSG's problems, not only the first NSG's
    for nsg, neutral in partition(policy, settings):
        records = None if recorded is None else _of(recorded, nsg)
        before = Placement(_of(previous, nsg), records, _of(previous_rules or {}, nsg))
        unmanaged = tuple(sorted(settings.kept(nsg.name)))
        found = dict((kept or {}).get(nsg.name, {}))
        nsg = replace(nsg, kept=found, unmanaged=unmanaged, vnet_inbound=settings.vnet_inbound == "allow")
        try:
            rules, origins, fewest = _nsg_rules(replace(policy, rules=neutral), nsg, before, settings.service_tags)
        except CloudportsError as exc:
            refused += exc.diagnostics
            continue
        nsgs[nsg.name] = replace(nsg, rules=dict(sorted(rules.items())), rule_origins=origins)
        least += fewest
    if refused:
        raise CloudportsError(refused)

    tags = {**settings.tags, TOPOLOGY_TAG: topo.name, SPEC_TAG: azure_identity(topo.name, settings)}
    asgs = {
        role: Asg(role, asg_name(topo.name, role, settings), tuple(sorted({**tags, ROLE_TAG: role}.items())))
        for role in sorted(topo.roles)
    }
    state = AzureState(
        topology=topo.name,
        location=settings.location,
        resource_group=settings.resource_group,
        tags=dict(sorted(tags.items())),
        asgs=asgs,
        nsgs=dict(sorted(nsgs.items())),
        egress=topo.egress,
        members=topo.members_for("azure"),
        least_rules=least,
    )
    check_limits(state)
    return state


def _of(by_nsg: Mapping[str, _T], nsg: Nsg) -> _T:
    """One NSG's priorities or rules (ONLY_NSG stands for the one NSG of a spec whose subnets list no roles)."""
    empty: Any = {}
    return by_nsg.get(nsg.name, by_nsg.get(ONLY_NSG, empty) if nsg.roles is None else empty)


@dataclass(frozen=True)
class Placement:
    """An NSG's rules before this build: their priorities, the records in their descriptions (see priorities.py)
    and the rules themselves (identity.py)."""

    priorities: Mapping[Key, int]
    recorded: Mapping[Key, int] | None
    rules: Iterable[NsgRule]


def asg_name(topology: str, role: str, settings: AzureSettings) -> str:
    """The role's ASG: the existing one the spec names (targets.azure.roles.<role>.asg), else cloudports' name."""
    return settings.asg_name(role) or azure_name(f"{topology}-{role}-asg")


def base_nsg_name(topology: str, settings: AzureSettings) -> str:
    """The NSG's name; in split mode, the head of every NSG's name."""
    return settings.nsg_name or azure_name(f"{topology}-nsg")


def partition(policy: CompiledPolicy, settings: AzureSettings) -> list[tuple[Nsg, list[Rule]]]:
    """The NSGs (each with its subnets and roles, no rules yet) and the neutral rules each holds: one NSG on every
    subnet; or, when subnets list roles, one per subnet with the inbound and outbound rules of its roles (a
    neutral rule's role is its destination inbound, its source outbound). Names: '<base>-<subnet>', or
    '<base>-<vnet>-<subnet>' where two virtual networks have a subnet of the same name."""
    base = base_nsg_name(policy.topology.name, settings)
    # sorted: the order subnets are listed in the spec must not change the emitted bytes
    subnets = sorted(settings.subnets, key=lambda s: (s.virtual_network, s.name, s.resource_group or ""))
    if not settings.split:
        return [(Nsg(base, {}, subnets), policy.rules)]
    short = Counter(s.name for s in subnets)
    nsgs: list[tuple[Nsg, list[Rule]]] = []
    holders: dict[str, list[list[Rule]]] = defaultdict(list)  # role -> the rule lists of the NSGs it is in
    for subnet in subnets:
        label = subnet.name if short[subnet.name] == 1 else f"{subnet.virtual_network}-{subnet.name}"
        roles = frozenset(subnet.roles)
        nsgs.append((Nsg(subnet.nsg or azure_name(f"{base}-{label}"), {}, [subnet], roles=roles), []))
        for role in roles:
            holders[role].append(nsgs[-1][1])
    for rule in policy.rules:  # one pass, in the policy's order (descriptions join in it)
        for held in holders[rule.role]:
            held.append(rule)
    return nsgs


def _nsg_rules(
    policy: CompiledPolicy, nsg: Nsg, before: Placement, tags: Mapping[str, str]
) -> tuple[dict[str, NsgRule], dict[str, list[str]], int]:
    """One NSG's rules (the policy holds only its neutral rules), packed, placed at stable priorities, with the
    structural denies; their spec origins; and how few rules any packing could reach (bound.py)."""
    pairs = _pairs(_group(policy, tags))
    packed = named_packing(pairs, previous_of_rules(before.rules, pairs))
    # Count the rules before building them: past 1,000 rules Azure refuses anyway (building 12,000 rules to
    # refuse them took most of the build's time), and past 3,900 rules per direction the priority allocator
    # would run out of slots (a ValueError instead of a clear error).
    structural = (not nsg.vnet_inbound) + (policy.topology.egress == "strict") + len(nsg.kept)  # denies, kept rules
    least = lower_bound(pairs) + structural
    problems = []
    if len(packed) + structural > MAX_RULES:
        problems.append(_too_many_rules(nsg, len(packed) + structural, least))
    # The ASGs the NSG may reference: every role's (one NSG), or those its rules name (one NSG per subnet).
    if nsg.roles is None:
        asgs = len(policy.topology.roles)
    else:
        asgs = len({name for p in pairs for kind, name in (p.source, p.destination) if kind == "asg"})
    if asgs > MAX_ASGS_PER_NSG:
        problems.append(_too_many_asgs(nsg, asgs))
    if problems:
        raise CloudportsError(problems)
    # Priorities first (they need only each rule's direction and name), so that each rule is made once, whole:
    # made and then copied by dataclasses.replace, each rule cost twice as much.
    reserved = [(r.direction, r.priority) for r in nsg.kept.values()]
    keys = ((group.first.direction, name) for name, group in packed.items())
    prios = assign_priorities(keys, before.priorities, before.recorded, reserved)
    built = {name: _rule(group, name, prios[(group.first.direction, name)]) for name, group in packed.items()}
    rules = {name: rule for name, (rule, _origins) in built.items()}
    origins = {name: found for name, (_rule, found) in built.items()}
    if not nsg.vnet_inbound:
        rules[DENY_VNET_INBOUND.name] = DENY_VNET_INBOUND
    clash = sorted(rules.keys() & nsg.kept.keys())
    if clash:
        raise CloudportsError([_kept_clash(nsg, clash)])
    rules |= nsg.kept
    if policy.topology.egress == "strict":
        rules[DENY_ALL_OUTBOUND.name] = DENY_ALL_OUTBOUND
    return rules, origins, least


def azure_identity(topology: str, settings: AzureSettings) -> str:
    """Which spec a resource belongs to: the topology and the NSG name the spec gives (ownership.py)."""
    return spec_identity(topology, nsg_name=settings.nsg_name or "")


def _too_many_rules(nsg: Nsg, count: int, least: int) -> Diagnostic:
    which = "" if nsg.roles is None else f" {nsg.name} (subnet {', '.join(s.key for s in nsg.subnets)})"
    bound = f" (packed; no packing needs fewer than {least})"
    return Diagnostic(
        None,
        f"azure: the NSG{which} needs {count} rules{bound}; Azure allows {MAX_RULES} per NSG",
        "merge networks or services; or list under targets.azure.subnets[].roles which roles sit in which subnet "
        "(one NSG per subnet, each with only its roles' rules); or split the topology into several specs",
    )


def _kept_clash(nsg: Nsg, names: list[str]) -> Diagnostic:
    return Diagnostic(
        None,
        f"azure: NSG {nsg.name}: the unmanaged rule(s) {', '.join(names)} have the name of a rule the spec makes",
        "rename the live rule, or remove it from targets.azure.unmanaged",
    )


def _too_many_asgs(nsg: Nsg, count: int) -> Diagnostic:
    what = "roles" if nsg.roles is None else f"ASGs referenced by NSG {nsg.name}"
    return Diagnostic(None, f"azure: {count} {what}; an NSG can reference at most {MAX_ASGS_PER_NSG} ASGs")


def check_limits(state: AzureState) -> None:
    """Per rule, what pack.py's chunks keep within Azure's limits (the per-NSG limits are checked, before the
    rules are built, by _nsg_rules)."""
    problems = []
    for _nsg, rule in state.all_rules():
        for side, asgs, prefixes in (
            ("source", rule.source_asgs, rule.source_prefixes),
            ("destination", rule.destination_asgs, rule.destination_prefixes),
        ):
            if len(asgs) > MAX_ASGS_PER_RULE_SIDE:
                problems.append(Diagnostic(None, f"azure: rule {rule.name} has more than 10 {side} ASGs"))
            if len(prefixes) > MAX_PREFIXES_PER_SIDE:
                problems.append(Diagnostic(None, f"azure: rule {rule.name} has more than 4,000 {side} prefixes"))
    if problems:
        raise CloudportsError(problems)
