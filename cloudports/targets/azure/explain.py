"""Azure NSG semantics for `cloudports query`: per direction the lowest-priority matching rule of the NSG
decides, Azure's default rules included. A role source needs Outbound from the NSG of its subnet, a role
destination Inbound from the NSG of its subnet (one NSG on every subnet, or one per subnet when the spec's
subnets list their roles). A role whose machines sit in several subnets is judged in each: traffic is allowed
only if every NSG its machines sit behind allows it (each one's deciding rule is a reason).
Service tags: VirtualNetwork = role machines and private addresses, Internet = the other addresses,
AzureLoadBalancer = 168.63.129.16. Protocol Icmp matches ICMP and ICMPv6 of any type."""

from __future__ import annotations

import ipaddress

from cloudports.query.model import (
    PRIVATE_PREFIXES,
    BlockIndex,
    IPNetwork,
    Point,
    Probe,
    Reason,
    Verdict,
    first_verdict,
    in_cidr,
    machine_endpoint,
    network,
)
from cloudports.query.space import Space, family_mask
from cloudports.targets.azure.model import AzureState, Nsg, NsgRule

LOAD_BALANCER = ipaddress.ip_address("168.63.129.16")
PLATFORM_RULE = "AllowAzureLoadBalancerInBound"
PLATFORM_TEXT = f"Azure's default rule {PLATFORM_RULE} admits the platform's health probes from {LOAD_BALANCER}"


def _default(name: str, direction: str, priority: int, access: str, src: str, dst: str) -> NsgRule:
    return NsgRule(
        name=name,
        direction=direction,  # type: ignore[arg-type]
        access=access,  # type: ignore[arg-type]
        protocol="*",
        destination_ports=("*",),
        source_prefixes=(src,),
        destination_prefixes=(dst,),
        priority=priority,
        description="Azure default rule",
    )


DEFAULT_RULES: tuple[NsgRule, ...] = (
    _default("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    _default("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    _default("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    _default("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
)


_OTHER_PROTOCOLS = {"esp": 50, "ah": 51}


def _port_spans(items: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = []
    for item in items:
        lo, _, hi = item.partition("-")
        spans.append((int(lo), int(hi or lo)))
    return spans


# The source ports clients use: every operating system picks its ephemeral ports within these (IANA's
# 49152-65535, Linux's 32768-60999, older Windows' 1025-5000), so a rule covering them all matches every client
# and a rule covering none of them matches none; one covering some of them matches some clients (inexact()).
EPHEMERAL = (1024, 65535)


def source_fit(rule: NsgRule) -> str:
    """'all', 'none' or 'some': how much of the ephemeral ports the rule's source ports cover."""
    if "*" in rule.source_ports:
        return "all"
    lo, hi = EPHEMERAL
    covered, reached = 0, lo - 1
    for a, b in sorted(_port_spans(rule.source_ports)):
        a, b = max(a, reached + 1), min(b, hi)
        if a <= b:
            covered, reached = covered + b - a + 1, b
    return "all" if covered == hi - lo + 1 else "none" if covered == 0 else "some"


def rule_space(rule: NsgRule) -> Space:
    """What one rule admits (its sides aside). Clients use ephemeral source ports: a rule limited to source
    ports matches them when it covers every ephemeral port, and none when it covers none of them (source_fit).
    Port lists, source or destination, restrict TCP and UDP; other protocols need `*` ports to match at all. A
    rule covering only some ephemeral ports lets some clients through: as an allow it matches, as a deny it does
    not (the question is whether a connection can be opened; verify reports such a rule as a difference,
    inexact())."""
    fit = source_fit(rule)
    if fit == "none" or (fit == "some" and rule.access == "Deny"):
        return Space()
    protocol = rule.protocol.lower()
    if protocol in ("*", "any"):
        kinds = Space.everything()
    elif protocol == "icmp":
        kinds = Space.icmp("icmp") | Space.icmp("icmpv6")
    elif protocol in ("tcp", "udp"):
        kinds = Space.ports(protocol, 0, 65535)
    elif protocol in _OTHER_PROTOCOLS:
        kinds = Space.protocol_number(_OTHER_PROTOCOLS[protocol])
    else:
        return Space()
    if "*" not in rule.source_ports:  # a source port list, like a destination one, restricts TCP and UDP only
        kinds &= Space.of({"tcp": [(0, 65535)], "udp": [(0, 65535)]})
    if "*" in rule.destination_ports:
        return kinds
    spans = _port_spans(rule.destination_ports)
    return kinds & Space.of({"tcp": spans, "udp": spans})


def _in_vnet(end: Point) -> bool:
    addr = end.addr
    return addr is None or any(addr in net for net in PRIVATE_PREFIXES if net.version == addr.version)


def _prefix_matches(prefix: str, end: Point, family: int) -> bool:
    tag = prefix.lower()
    if tag in ("*", "any"):
        return True
    if tag == "virtualnetwork":
        return _in_vnet(end)
    if tag == "internet":
        return not _in_vnet(end)
    if tag == "azureloadbalancer":
        return end.addr == LOAD_BALANCER
    net = network(prefix)
    return net is not None and in_cidr(end, net, family)  # another service tag: none of our endpoints


def _whole(prefix: str) -> bool:
    """Whether the prefix is a /0 (which holds role machines, as in_cidr says)."""
    block = network(prefix)
    return block is not None and block.prefixlen == 0


def _unmodelled(prefix: str) -> bool:
    known = ("*", "any", "virtualnetwork", "internet", "azureloadbalancer")
    return prefix.lower() not in known and network(prefix) is None


def _side(prefixes: tuple[str, ...], asgs: tuple[str, ...], end: Point, family: int) -> bool:
    in_asg = (end.role is not None and end.role in asgs) or not (end.carries or frozenset()).isdisjoint(asgs)
    return in_asg or any(_prefix_matches(p, end, family) for p in prefixes)


def _ordered(nsg: Nsg, direction: str) -> list[NsgRule]:
    """The rules Azure evaluates in one direction, the defaults included, in the order it evaluates them."""
    rules = (r for r in (*nsg.rules.values(), *DEFAULT_RULES) if r.direction == direction)
    return sorted(rules, key=lambda r: (r.priority, r.name))


def behind(state: AzureState, end: Point) -> list[Nsg]:
    """The NSGs an endpoint's machines sit behind: the NSGs of the subnets its role (or, for a machine, one of
    the roles it carries) is in; none for an address."""
    roles = {end.role} if end.role is not None else set(end.carries or ())
    return [nsg for nsg in state.nsgs.values() if any(nsg.holds(r) for r in roles)]


def _decide(nsg: Nsg, direction: str, probe: Probe, family: int) -> NsgRule:
    for rule in _ordered(nsg, direction):
        if (
            _side(rule.source_prefixes, rule.source_asgs, probe.src, family)
            and _side(rule.destination_prefixes, rule.destination_asgs, probe.dst, family)
            and rule_space(rule).contains(probe)
        ):
            return rule
    raise AssertionError("the default deny matches everything")


def _family(state: AzureState, probe: Probe, family: int) -> Verdict:
    reasons: list[Reason] = []
    ok = True
    for direction, end in (("Outbound", probe.src), ("Inbound", probe.dst)):
        if end.role is None and end.carries is None:
            continue  # an address, not a machine behind the NSG
        for nsg in behind(state, end):
            rule = _decide(nsg, direction, probe, family)
            admits = rule.access == "Allow"
            ok = ok and admits
            way = "egress" if direction == "Outbound" else "ingress"
            where = f" in {nsg.name}" if state.split else ""
            text = f"{direction} {rule.access} by {rule.name}{where} (priority {rule.priority}): {rule.description}"
            reasons.append(Reason(way, admits, text, rule.name, rule.priority))
    return Verdict(ok, tuple(reasons))


def machine_point(state: AzureState, name: str) -> Point | None:
    """A network interface (by name or ID), a virtual machine (its first NIC) or a private address."""
    role_of = {asg_id: key for key, asg_id in state.asg_ids.items()}
    wanted = name.lower()
    for nic in sorted(state.machines.values(), key=lambda n: n.id.lower()):
        vm = (nic.vm_id or "").rsplit("/", 1)[-1].lower()
        if wanted in (nic.name.lower(), nic.id.lower(), vm) or name in nic.private_ips:
            return machine_endpoint(name, nic.private_ips, nic.label, {role_of.get(a, a) for a in nic.asg_ids})
    return None


def explain(state: AzureState, probe: Probe) -> Verdict:
    return first_verdict([_family(state, probe, f) for f in probe.families()])


class AzureReachability:
    """What an AzureState allows between two endpoints, as Spaces (for verify): per direction, each rule
    decides the part of the traffic no rule of a lower priority number has decided yet."""

    platform_text = PLATFORM_TEXT

    def unjudged(self) -> list[str]:
        """Rules naming an ASG this spec does not own, or a service tag verify does not model."""
        found = []
        for rule in sorted({r.name: r for _nsg, r in self.state.all_rules()}.values(), key=lambda r: r.name):
            foreign = [a for a in (*rule.source_asgs, *rule.destination_asgs) if a not in self.state.asgs]
            tags = [p for p in (*rule.source_prefixes, *rule.destination_prefixes) if _unmodelled(p)]
            for peer in (*foreign, *tags):
                found.append(f"rule {rule.name} names {peer}, which verify does not model; its machines are not judged")
        return found

    def inexact(self) -> list[tuple[str, str, str, str]]:
        """(source, destination, traffic, why) of each rule whose source ports cover some ephemeral ports but
        not all: it matches some clients' connections and not others, which verify cannot tell apart."""
        found = []
        for nsg, rule in self.state.all_rules():
            if source_fit(rule) != "some":
                continue
            src, dst = (
                ",".join((*getattr(rule, f"{s}_asgs"), *getattr(rule, f"{s}_prefixes")))
                for s in ("source", "destination")
            )
            what = f"{rule.access} {rule.direction} by {rule.name} in {nsg.name} (priority {rule.priority})"
            why = f"{what} matches source ports {','.join(rule.source_ports)} only: some clients and not others"
            found.append((src, dst, f"{rule.protocol.lower()}/{','.join(rule.destination_ports)}", why))
        return found

    def __init__(self, state: AzureState):
        self.state = state
        self.nsgs = {nsg.name: nsg for nsg in state.nsgs.values()}
        # (NSG name, direction) -> its rules in order, each with what it admits, and their sides filed; read on
        # first use (a query asks about the NSGs of two roles only)
        self.ordered: dict[tuple[str, str], list[tuple[NsgRule, Space]]] = {}
        self.sides: dict[tuple[str, str], tuple[_SidePeers, _SidePeers]] = {}
        self.known: dict[tuple[Point, Point, int], tuple[Space, Space]] = {}
        self.behind: dict[str, list[Nsg]] = {}  # role -> the NSGs its machines sit behind
        self.decisions: dict[tuple[str, str, tuple[int, ...]], tuple[Space, Space]] = {}  # by the rules matched

    def _rules(self, nsg: str, direction: str) -> tuple[list[tuple[NsgRule, Space]], tuple[_SidePeers, _SidePeers]]:
        if (nsg, direction) not in self.ordered:
            rules = [(r, rule_space(r)) for r in _ordered(self.nsgs[nsg], direction)]
            self.ordered[(nsg, direction)] = rules
            self.sides[(nsg, direction)] = (
                _SidePeers([r for r, _ in rules], "source"),
                _SidePeers([r for r, _ in rules], "destination"),
            )
        return self.ordered[(nsg, direction)], self.sides[(nsg, direction)]

    def _behind(self, role: str) -> list[Nsg]:
        if role not in self.behind:
            self.behind[role] = behind(self.state, Point(role=role))
        return self.behind[role]

    def roles_between(self, role: str, outgoing: bool) -> set[str] | None:
        """The roles the NSGs may let `role` reach (outgoing) or be reached by: those their allow rules name by
        ASG, up to a rule that denies every role everything; None: any role (an allow rule for a service tag or a
        /0 comes first, or the role sits behind no NSG)."""
        direction, mine, peer = ("Outbound", 0, "destination") if outgoing else ("Inbound", 1, "source")
        named: set[str] = set()
        if not self._behind(role):
            return None
        for nsg in self._behind(role):
            rules, sides = self._rules(nsg.name, direction)
            either = sides[mine].matching(Point(role=role), 4) | sides[mine].matching(Point(role=role), 6)
            both = sides[mine].matching(Point(role=role), 4) & sides[mine].matching(Point(role=role), 6)
            for position in sorted(either):
                rule, space = rules[position]
                prefixes = getattr(rule, f"{peer}_prefixes")
                every_role = any(p.lower() in ("*", "any", "virtualnetwork") for p in prefixes)
                if rule.access == "Deny" and every_role and position in both and space == Space.everything():
                    break  # no rule after it decides anything between this role and another
                if rule.access == "Allow" and (every_role or any(_whole(p) for p in prefixes)):
                    return None
                named.update(getattr(rule, f"{peer}_asgs") if rule.access == "Allow" else ())
        return named

    def networks_between(self, role: str, outgoing: bool) -> list[IPNetwork]:
        """The address blocks that tell apart what the NSGs allow from `role` to addresses (outgoing), or from
        addresses to it: the other side's prefixes of the rules whose side can hold the role, and the blocks of
        the service tags."""
        direction, mine, other = ("Outbound", 0, "destination") if outgoing else ("Inbound", 1, "source")
        found: list[IPNetwork] = [*PRIVATE_PREFIXES, ipaddress.ip_network(LOAD_BALANCER)]
        for nsg in self._behind(role):
            rules, sides = self._rules(nsg.name, direction)
            for position in {*sides[mine].matching(Point(role=role), 4), *sides[mine].matching(Point(role=role), 6)}:
                blocks = (network(p) for p in getattr(rules[position][0], f"{other}_prefixes"))
                found += [b for b in blocks if b is not None]
        return found

    def _decided(self, nsg: str, direction: str, src: Point, dst: Point, family: int) -> tuple[Space, Space]:
        """(what one NSG allows in the direction, the part of it only the platform's load-balancer rule allows)."""
        rules, (sources, destinations) = self._rules(nsg, direction)
        # only the rules whose sides may hold both ends can match; what they decide depends on nothing else, and
        # many pairs (the cells of one network, ...) match the same rules
        matched = tuple(sorted(sources.matching(src, family) & destinations.matching(dst, family)))
        key = (nsg, direction, matched)
        if key not in self.decisions:
            self.decisions[key] = _allowed_by([rules[position] for position in matched])
        return self.decisions[key]

    def _both(self, src: Point, dst: Point, family: int) -> tuple[Space, Space]:
        """(space, platform) at once; verify asks for both of every pair, so each is decided once."""
        key = (src, dst, family)
        if key not in self.known:
            self.known[key] = self._decide_both(src, dst, family)
        return self.known[key]

    def _decide_both(self, src: Point, dst: Point, family: int) -> tuple[Space, Space]:
        found, platform = family_mask(family), Space()
        for direction, end in (("Outbound", src), ("Inbound", dst)):
            for nsg in self._behind(end.role) if end.role is not None else ():
                allowed, by_platform = self._decided(nsg.name, direction, src, dst, family)
                found &= allowed
                platform |= by_platform
        return found, platform & found

    def space(self, src: Point, dst: Point, family: int) -> Space:
        return self._both(src, dst, family)[0]

    def platform(self, src: Point, dst: Point, family: int) -> Space:
        """Azure's health probes from 168.63.129.16 pass by a default rule no NSG rule can be placed below."""
        return self._both(src, dst, family)[1]

    def networks(self) -> list[IPNetwork]:
        found: list[IPNetwork] = [*PRIVATE_PREFIXES, ipaddress.ip_network(LOAD_BALANCER)]
        for _nsg, rule in self.state.all_rules():
            for prefix in (*rule.source_prefixes, *rule.destination_prefixes):
                block = network(prefix)  # None: a service tag, whose blocks are among the ones above
                found += [block] if block is not None else []
        return found


def _allowed_by(matched: list[tuple[NsgRule, Space]]) -> tuple[Space, Space]:
    """(what the rules matched allow, in the order Azure reads them; the part only the platform's rule allows).
    Each rule decides what no rule before it matches: so an allow rule allows what it matches but the deny rules
    before it (what an allow rule before it matches is allowed either way), and the allow rules between two deny
    rules are joined at once."""
    allowed, platform, denied = Space(), Space(), Space()
    between: list[Space] = []  # what the allow rules since the last deny rule match
    for position, (rule, space) in enumerate(matched):
        if rule.access == "Allow":
            between.append(space)
            if rule.name == PLATFORM_RULE:
                platform = space - Space.union(s for _r, s in matched[:position])
            continue
        allowed, between, denied = allowed | (Space.union(between) - denied), [], denied | space
        if denied == Space.everything():
            break  # nothing is left for the rules after it
    return allowed | (Space.union(between) - denied), platform


class _SidePeers:
    """The rules of one NSG and direction filed by what one of their sides names (ASGs, CIDR blocks), so that the
    rules whose side holds an endpoint are found without reading the others (a service tag's are read)."""

    def __init__(self, rules: list[NsgRule], side: str):
        self.by_asg: dict[str, list[int]] = {}
        self.by_block: BlockIndex[int] = BlockIndex()
        self.tagged: list[tuple[int, str]] = []  # (position, a prefix that is not a CIDR)
        for position, rule in enumerate(rules):
            for asg in getattr(rule, f"{side}_asgs"):
                self.by_asg.setdefault(asg, []).append(position)
            for prefix in getattr(rule, f"{side}_prefixes"):
                block = network(prefix)
                if block is None:
                    self.tagged.append((position, prefix))
                else:
                    self.by_block.add(block, position)
        self.known: dict[tuple[Point, int], frozenset[int]] = {}  # answers already given (a role is asked often)

    def matching(self, end: Point, family: int) -> frozenset[int]:
        """The positions of the rules whose side holds `end` (as _side decides)."""
        if (end, family) not in self.known:
            found = {p for p, prefix in self.tagged if _prefix_matches(prefix, end, family)}
            found.update(self.by_block.containing(end, family))
            for asg in (end.role, *(end.carries or ())):
                found.update(self.by_asg.get(asg, ()) if asg is not None else ())
            self.known[(end, family)] = frozenset(found)
        return self.known[(end, family)]
