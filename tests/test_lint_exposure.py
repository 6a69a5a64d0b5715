"""The exposure lint judges address space, not spelling: splitting the internet into pieces, listing /8s one by
one, IPv4-mapped IPv6, other phases and blank allowances do not get a risky port past it."""

from __future__ import annotations

import ipaddress
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cloudports.compile.lint import NON_PUBLIC_V4, PUBLIC_SIZE, RISKY, public_share
from cloudports.errors import SpecError
from cloudports.pipeline import compile_spec

PUBLIC_SLASH8S = [f"{i}.0.0.0/8" for i in range(1, 224) if i not in (10, 100, 127, 169, 172, 192, 198, 203)]


def spec(tmp_path: Path, flows: list[dict], networks: dict[str, list[str]]) -> Path:
    nets = {
        name: {key: [c for c in cidrs if (":" in c) == (key == "ipv6")] for key in ("ipv4", "ipv6")}
        for name, cidrs in networks.items()
    }
    nets = {name: {k: v for k, v in blocks.items() if v} for name, blocks in nets.items()}
    data = {"name": "t", "networks": nets, "roles": {"web": {}, "db": {}}, "flows": flows}
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))  # services: [..] inline
    return path


def errors(path: Path, phase: str | None = None) -> list[str]:
    try:
        compile_spec(path, phase=phase)
    except SpecError as exc:
        return [d.render() for d in exc.diagnostics]
    return []


def warnings(path: Path) -> list[str]:
    return [d.render() for d in compile_spec(path).warnings]


def services_pos(path: Path, nth: int = 0) -> str:
    """file:line:col of the nth flow's 'services: [...]' value."""
    hits = [(i + 1, line.index("[") + 1) for i, line in enumerate(path.read_text().splitlines()) if "services:" in line]
    line, col = hits[nth]
    return f"{path}:{line}:{col}"


def flow_pos(path: Path, nth: int = 0) -> str:
    hits = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if line.startswith("- ")]
    return f"{path}:{hits[nth]}:3"


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["0.0.0.0/1"],
        ["::/1", "8000::/1"],
        ["2000::/3"],
        ["::ffff:0:0/96"],
        ["64:ff9b::/96"],
        ["::/1"],
        ["0.0.0.0/0"],
    ],
)
def test_the_internet_in_pieces_is_still_the_internet(tmp_path: Path, cidrs: list[str]) -> None:
    path = spec(tmp_path, [{"from": "wide", "to": "web", "services": ["tcp/3389"]}], {"wide": cidrs})
    [error] = errors(path)
    assert error.startswith(f"{services_pos(path)}: error: RDP (tcp/3389) open to 'wide' (")
    assert "on web" in error and "allow_exposure" in error


def test_pieces_in_different_flows_are_added_up(tmp_path: Path) -> None:
    # neither half alone is more than half of the public space; together they are
    flows = [
        {"from": "upper", "to": "web", "services": ["tcp/445"]},
        {"from": "lower", "to": ["db", "web"], "services": ["tcp/22", "tcp/445"]},
    ]
    path = spec(tmp_path, flows, {"upper": ["128.0.0.0/1"], "lower": ["0.0.0.0/2"]})
    found = errors(path)
    assert len(found) == 2
    assert found[0].startswith(f"{services_pos(path, 0)}: error: SMB (tcp/445) open to 'upper' (")
    assert f"together with the flow(s) at {path.name}:" in found[0]
    assert found[1].startswith(f"{services_pos(path, 1)}: error: SMB (tcp/445) open to 'lower' (")
    assert found[1].endswith("on web\n    " + found[1].split("\n    ")[1])  # SSH on db is less than half
    assert "SSH" not in found[1]


def test_many_public_slash8s_listed_one_by_one(tmp_path: Path) -> None:
    flows = [{"from": "many", "to": "web", "services": ["tcp/3389"]}]
    half = PUBLIC_SLASH8S[:112]  # the public space is about 220.7 /8s
    assert errors(spec(tmp_path, flows, {"many": half}))  # more than half of the public space: an error
    path = spec(tmp_path, flows, {"many": PUBLIC_SLASH8S[:51]})
    assert errors(path) == []
    [warning] = warnings(path)  # 51 /8s: more than a /8, less than half: a warning
    assert f"{services_pos(path)}: warning: RDP (tcp/3389) open to 'many' (23." in warning
    # one /8 (or less) of public space is a named network, not the internet
    assert warnings(spec(tmp_path, flows, {"many": PUBLIC_SLASH8S[:1]})) == []


def test_private_and_special_ranges_do_not_count(tmp_path: Path) -> None:
    private = [str(n) for n in NON_PUBLIC_V4] + ["fd00::/8", "fe80::/10", "::ffff:a00:0/104", "2001:db8::/32"]
    path = spec(tmp_path, [{"from": "lan", "to": "web", "services": ["all"]}], {"lan": private})
    assert errors(path) == [] and warnings(path) == []


def test_rpc_dynamic_range_and_every_port(tmp_path: Path) -> None:
    path = spec(tmp_path, [{"from": "internet", "to": "web", "services": ["tcp/49152-65535"]}], {})
    [error] = errors(path)
    assert "MSRPC dynamic ports (tcp/49152-65535) open to 'internet' (any address) on web" in error
    path = spec(tmp_path, [{"from": "internet", "to": "web", "services": ["tcp/50000-50010", "udp/1-21"]}], {})
    [error] = errors(path)
    assert "FTP (udp/21), FTP data (udp/20), MSRPC dynamic ports (tcp/50000-50010) open" in error


@pytest.mark.parametrize(
    "port",
    [5432, 3306, 6379, 27017, 9200, 9300, 11211, 161, 162, 23, 20, 21, 5900, 5903, 5800, 2049, 111]
    + [389, 636, 3268, 3269, 2375, 2376, 6443, 10250, 2379, 2380, 22, 135, 139, 445, 1433, 1434, 3389, 5985, 5986],
)
def test_risky_services_are_listed(port: int) -> None:
    assert any(r.lo <= port <= r.hi for r in RISKY)


@pytest.mark.parametrize("reason", [" ", "", "\t\n"])
def test_a_blank_allowance_is_not_a_reason(tmp_path: Path, reason: str) -> None:
    flows = [{"from": "internet", "to": "web", "services": ["tcp/3389"], "allow_exposure": reason}]
    path = spec(tmp_path, flows, {})
    found = errors(path)
    assert any(f"{flow_pos(path)}: error: 'allow_exposure' is blank" in e for e in found)  # the flow's position
    assert any("RDP (tcp/3389) open to 'internet'" in e for e in found)  # and the exposure stands


def test_a_reasoned_allowance_accepts_that_flow_only(tmp_path: Path) -> None:
    flows = [
        {"from": "lower", "to": "web", "services": ["tcp/3389"], "allow_exposure": "lab, torn down nightly"},
        {"from": "upper", "to": "web", "services": ["tcp/3389"]},
    ]
    path = spec(tmp_path, flows, {"upper": ["128.0.0.0/1"], "lower": ["0.0.0.0/1"]})
    assert errors(path) == []
    [warning] = warnings(path)  # the unexcused half is still more than a /8
    assert warning.startswith(f"{services_pos(path, 1)}: warning: RDP (tcp/3389) open to 'upper'")


def test_a_small_partner_range_is_not_blamed_for_the_internet(tmp_path: Path) -> None:
    flows = [
        {"from": "partner", "to": "web", "services": ["tcp/22"]},
        {"from": "internet", "to": "web", "services": ["tcp/22"]},
    ]
    found = errors(spec(tmp_path, flows, {"partner": ["8.8.8.0/24"]}))
    assert len(found) == 1 and "open to 'internet' (any address) on web" in found[0]


def test_flows_of_other_phases_are_linted(tmp_path: Path) -> None:
    flows = [
        {"from": "web", "to": "db", "services": ["tcp/5432"]},
        {"from": "internet", "to": "db", "services": ["tcp/445"], "phase": "setup"},
    ]
    path = spec(tmp_path, flows, {})
    for phase in (None, "setup"):
        [error] = errors(path, phase)
        assert error.startswith(f"{services_pos(path, 1)}: error: SMB (tcp/445) open to 'internet'")


def test_egress_to_wide_ranges_is_not_exposure(tmp_path: Path) -> None:
    path = spec(tmp_path, [{"from": "web", "to": "wide", "services": ["tcp/445"]}], {"wide": ["0.0.0.0/1"]})
    assert errors(path) == [] and warnings(path) == []


def test_public_space_agrees_with_ipaddress() -> None:
    for block in NON_PUBLIC_V4:
        if not block.is_multicast:  # multicast is never a source address, though Python calls it global
            assert not block.network_address.is_global
    assert PUBLIC_SIZE[6] == 2**125 - 2**96
    assert public_share([ipaddress.ip_network("0.0.0.0/0")]) == 1
    assert public_share([ipaddress.ip_network("::ffff:0:0/96")]) == 1
    assert public_share([ipaddress.ip_network("2000::/3")]) == 1
    assert public_share([ipaddress.ip_network("fc00::/7"), ipaddress.ip_network("10.0.0.0/8")]) == 0


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=4))
def test_public_share_counts_every_public_address_once(blocks: list[tuple[int, int]]) -> None:
    """Counted independently: the addresses of the blocks together, less those in the non-public holes (disjoint
    CIDR blocks, so a block and a hole overlap by the smaller of the two or not at all)."""
    nets = [ipaddress.IPv4Network((address >> (32 - length) << (32 - length), length)) for address, length in blocks]
    merged = list(ipaddress.collapse_addresses(nets))
    holes = sum(min(n.num_addresses, h.num_addresses) for n in merged for h in NON_PUBLIC_V4 if n.overlaps(h))
    public = sum(n.num_addresses for n in merged) - holes
    assert public_share(nets) == Fraction(public, PUBLIC_SIZE[4])
