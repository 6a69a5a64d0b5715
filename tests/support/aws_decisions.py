"""Every allow decision of the security groups of a VPC, read with plain boto3: an evaluator that shares no code
with cloudports (not its reader, not its model, not its evaluators), for proving that a write changed nothing.

The groups are read with DescribeSecurityGroups (cloudports reads DescribeSecurityGroupRules), prefix lists
are expanded to their entries, and a connection is judged as AWS judges it: the destination machine's group
must admit it inbound and the source machine's group outbound (stateful: nothing else). Endpoints:

* one machine per group of the VPC (and per foreign group a rule names), in that group only, with an address
  of its own inside the VPC's blocks (an IPv6 address only where the VPC has an IPv6 block);
* hosts outside every group, at every cell of the address space the rules cut (each CIDR's first address and
  the address after its last), in both families.

Ports are probed at every boundary the rules draw (each range's ends and the ports on either side), ICMP at
every type and code named plus one beside each, and every IP protocol number named plus GRE (47).
`decisions(before) == decisions(after)` over `probes(before, after)` is then "no packet decided otherwise".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address
NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58", "-1": "-1"}


@dataclass(frozen=True)
class Allow:
    group: str  # the group (ID) that carries the rule
    egress: bool
    protocol: str  # an IP protocol number as text, or "-1"
    low: int  # tcp/udp: ports; icmp: type, code (-1: any)
    high: int
    nets: tuple[Net, ...] = ()  # CIDR peer, or a prefix list's entries
    peer_group: str = ""


@dataclass(frozen=True)
class Lab:
    allows: tuple[Allow, ...]
    groups: tuple[str, ...]  # every group with a machine
    machines: dict[str, tuple[Addr, ...]]  # group -> its machine's addresses


def _number(protocol: Any) -> str:
    text = str(protocol).lower()
    return NUMBERS.get(text, text)


def _prefix_lists(ec2: Any, ids: set[str]) -> dict[str, tuple[Net, ...]]:
    return {
        pl: tuple(
            ipaddress.ip_network(e["Cidr"], strict=False)
            for e in ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"]
        )
        for pl in sorted(ids)
    }


def _allows(group: dict[str, Any], egress: bool, lists: dict[str, tuple[Net, ...]]) -> Iterable[Allow]:
    for perm in group["IpPermissionsEgress" if egress else "IpPermissions"]:
        proto = _number(perm["IpProtocol"])
        low, high = int(perm.get("FromPort", -1)), int(perm.get("ToPort", -1))
        base = (group["GroupId"], egress, proto, low, high)
        for r in perm.get("IpRanges", []):
            yield Allow(*base, nets=(ipaddress.ip_network(r["CidrIp"], strict=False),))
        for r in perm.get("Ipv6Ranges", []):
            yield Allow(*base, nets=(ipaddress.ip_network(r["CidrIpv6"], strict=False),))
        for r in perm.get("PrefixListIds", []):
            yield Allow(*base, nets=lists[r["PrefixListId"]])
        for r in perm.get("UserIdGroupPairs", []):
            yield Allow(*base, peer_group=r["GroupId"])


def read_lab(ec2: Any, vpc: str) -> Lab:
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    perms = [p for g in groups for p in g["IpPermissions"] + g["IpPermissionsEgress"]]
    lists = _prefix_lists(ec2, {r["PrefixListId"] for p in perms for r in p.get("PrefixListIds", [])})
    allows = tuple(a for g in groups for egress in (False, True) for a in _allows(g, egress, lists))
    ids = sorted({g["GroupId"] for g in groups} | {a.peer_group for a in allows if a.peer_group})
    blocks = _vpc_blocks(ec2, vpc)
    machines = {gid: tuple(b[100 + i] for b in blocks) for i, gid in enumerate(ids)}
    return Lab(allows, tuple(ids), machines)


def _vpc_blocks(ec2: Any, vpc: str) -> list[Net]:
    found = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    blocks: list[Net] = [ipaddress.ip_network(found["CidrBlock"])]
    for a in found.get("Ipv6CidrBlockAssociationSet") or []:
        if a.get("Ipv6CidrBlockState", {}).get("State") == "associated":
            blocks.append(ipaddress.ip_network(a["Ipv6CidrBlock"]))
    return blocks


Packet = tuple[str, object]  # (protocol number, port or (type, code) or None)
Probe = tuple[str, str, str, object]  # (source, destination, protocol, port): a group ID or an address


def _matches_port(allow: Allow, protocol: str, port: object) -> bool:
    if allow.protocol == "-1":
        return True
    if allow.protocol != protocol:
        return False
    if protocol in ("6", "17"):
        return allow.low <= int(port) <= allow.high  # type: ignore[call-overload]
    if protocol in ("1", "58"):
        kind, code = port  # type: ignore[misc]
        return allow.low == -1 or (allow.low == kind and allow.high in (-1, code))
    return True


def _family_ok(protocol: str, address: Addr) -> bool:
    return not ((protocol == "1" and address.version == 6) or (protocol == "58" and address.version == 4))


def _admits(lab: Lab, group: str, egress: bool, peer: str, address: Addr, protocol: str, port: object) -> bool:
    """Whether `group`'s rules of one direction admit the peer (a group's machine at `address`, or a host)."""
    return _family_ok(protocol, address) and any(
        a.group == group
        and a.egress == egress
        and _matches_port(a, protocol, port)
        and ((a.peer_group and a.peer_group == peer) or any(address in n for n in a.nets))
        for a in lab.allows
    )


def allowed(lab: Lab, src: str, dst: str, protocol: str, port: object) -> frozenset[int]:
    """The address families over which a new connection src -> dst is allowed (empty: denied)."""
    families = set()
    for dst_addr in lab.machines.get(dst) or (ipaddress.ip_address(dst),):
        src_addrs = [a for a in lab.machines.get(src) or (ipaddress.ip_address(src),) if a.version == dst_addr.version]
        for src_addr in src_addrs:
            inbound = dst not in lab.machines or _admits(lab, dst, False, src, src_addr, protocol, port)
            outbound = src not in lab.machines or _admits(lab, src, True, dst, dst_addr, protocol, port)
            if inbound and outbound:
                families.add(dst_addr.version)
    return frozenset(families)


def _cells(labs: Iterable[Lab]) -> list[str]:
    """A host address in every cell the rules' CIDRs cut, in both families (machines' blocks included)."""
    points: set[Addr] = {ipaddress.ip_address("198.51.100.7"), ipaddress.ip_address("2001:db8::7")}
    for lab in labs:
        for net in (n for a in lab.allows for n in a.nets):
            points.add(net.network_address)
            after = int(net.broadcast_address) + 1
            if after < 2**net.max_prefixlen:
                points.add(type(net.network_address)(after))
    return [str(p) for p in sorted(points, key=lambda p: (p.version, int(p)))]


def _packets(labs: Iterable[Lab]) -> list[Packet]:
    ports, icmp, icmp6, others = {1, 65535}, {(8, 0), (0, 0)}, {(128, 0), (1, 0)}, {"47"}
    for a in (a for lab in labs for a in lab.allows):
        if a.protocol in ("6", "17", "-1"):
            ports |= {p for p in (a.low - 1, a.low, a.high, a.high + 1) if 0 < p <= 65535}
        elif a.protocol in ("1", "58"):
            kinds = {(t, c) for t in (max(a.low, 0), max(a.low, 0) + 1) for c in (max(a.high, 0), max(a.high, 0) + 1)}
            (icmp if a.protocol == "1" else icmp6).update(kinds)
        else:
            others.add(a.protocol)
    packets: list[Packet] = [(proto, p) for proto in ("6", "17") for p in sorted(ports)]
    packets += [("1", k) for k in sorted(icmp)] + [("58", k) for k in sorted(icmp6)]
    return packets + [(o, None) for o in sorted(others)]


def probes(*labs: Lab) -> list[Probe]:
    groups = sorted({g for lab in labs for g in lab.groups})
    hosts = _cells(labs)
    pairs = [(s, d) for s in groups for d in groups] + [(h, g) for h in hosts for g in groups]
    pairs += [(g, h) for g in groups for h in hosts]
    return [(s, d, proto, port) for s, d in pairs for proto, port in _packets(labs)]


def decisions(lab: Lab, points: list[Probe]) -> dict[Probe, frozenset[int]]:
    return {p: allowed(lab, *p) for p in points}


def differences(before: Lab, after: Lab) -> list[str]:
    """Every probe decided otherwise after than before, in words (empty: the same decisions everywhere)."""
    points = probes(before, after)
    was, now = decisions(before, points), decisions(after, points)
    return [f"{p}: IPv{sorted(was[p])} -> IPv{sorted(now[p])}" for p in points if was[p] != now[p]]
