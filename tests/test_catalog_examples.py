"""The catalog examples of issue 14 mean what their sources say: concrete allowed and forbidden connections, with
the spec, the compiled AWS state and the compiled Azure state agreeing on each (evaluators: tests/semantics.py).

Addresses: 10.20.0.5 is in the examples' user/client network, 10.99.0.5 in the admin network, 203.0.113.9 is an
internet host. Applying every example on the local AWS and ARM servers, with drift clean afterwards, is done by
the parametrised example tests of test_aws_live.py and test_azure_live.py.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from cloudports.compile import compile_topology
from cloudports.spec import load_topology
from cloudports.targets.aws import TARGET as AWS
from cloudports.targets.azure import TARGET as AZURE
from tests.semantics import aws_allows, azure_allows, spec_allows

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

USER, ADMIN, NET = "10.20.0.5", "10.99.0.5", "203.0.113.9"

# example: [(src, dst, protocol, port, allowed)]
CASES: dict[str, list[tuple[str, str, str, int, bool]]] = {
    "sharepoint-farm": [
        (USER, "wfe", "tcp", 443, True),
        (USER, "wfe", "tcp", 80, True),
        (USER, "app", "tcp", 8080, False),  # Central Administration: administrators only
        (ADMIN, "app", "tcp", 8080, True),
        ("wfe", "app", "tcp", 32843, True),  # service applications
        ("app", "wfe", "tcp", 22233, True),  # Distributed Cache
        ("wfe", "app", "tcp", 16519, True),  # search index, intra-farm
        (USER, "app", "tcp", 16500, False),
        ("wfe", "sql", "tcp", 1433, True),
        ("wfe", "sql", "udp", 1434, False),  # SQL Server Browser stays blocked
        (USER, "sql", "tcp", 1433, False),
    ],
    "exchange-dag-edge": [
        (USER, "mbx", "tcp", 443, True),
        (USER, "mbx", "tcp", 587, True),
        (USER, "mbx", "tcp", 143, False),  # IMAP4 is disabled by default
        (NET, "edge", "tcp", 25, True),
        (NET, "mbx", "tcp", 25, False),  # with an Edge, the internet never reaches the Mailbox servers
        ("edge", "mbx", "tcp", 25, True),
        ("mbx", "edge", "tcp", 25, True),
        ("mbx", "edge", "tcp", 50636, True),  # EdgeSync
        ("edge", "mbx", "tcp", 50636, False),
        ("mbx", "mbx", "tcp", 64327, True),  # DAG replication, inside 'any port'
        ("mbx", "dc", "udp", 4242, True),  # unrestricted Exchange <-> DC, as Microsoft requires
        ("dc", "mbx", "tcp", 4242, True),
        ("edge", "dc", "tcp", 88, False),  # the Edge is not a domain member
        ("mbx", "witness", "tcp", 445, True),
    ],
    "adfs-wap": [
        (NET, "wap", "tcp", 443, True),
        (NET, "wap", "tcp", 49443, True),
        (NET, "adfs", "tcp", 443, False),  # extranet clients go through the proxy
        ("wap", "adfs", "tcp", 443, True),
        ("wap", "adfs", "tcp", 49443, False),  # not needed between the proxy and the federation servers
        (USER, "adfs", "tcp", 443, True),
        ("adfs", "adfs", "tcp", 80, True),  # WID synchronization
        ("wap", "dc", "tcp", 88, False),
    ],
    "rds-deployment": [
        (NET, "gateway", "tcp", 443, True),
        (NET, "gateway", "udp", 3391, True),
        (NET, "rdsh", "tcp", 3389, False),  # remote users only through the gateway
        ("gateway", "rdsh", "udp", 3389, True),
        ("gateway", "broker", "tcp", 5504, True),
        (NET, "broker", "tcp", 5504, False),
        ("broker", "rdsh", "tcp", 445, True),
        ("rdsh", "broker", "tcp", 135, True),  # licensing
        (USER, "broker", "tcp", 3389, True),
        (USER, "broker", "tcp", 5504, False),
    ],
    "configmgr-primary-site": [
        (USER, "mpdp", "tcp", 10123, True),
        (USER, "mpdp", "tcp", 8005, True),
        (USER, "sup", "tcp", 8530, True),
        (USER, "sup", "tcp", 8531, True),  # the software update point (configmgr's cm-software-update-point)
        (USER, "sup", "tcp", 445, False),
        ("site", "sup", "tcp", 8531, True),
        (USER, "site", "tcp", 445, False),
        ("site", "mpdp", "tcp", 445, True),
        ("mpdp", "site", "udp", 135, True),  # status back to the site server ('<-->')
        ("mpdp", "sql", "tcp", 1433, True),
        ("sup", "sql", "tcp", 1433, True),
        (USER, "sql", "tcp", 1433, False),
        (ADMIN, "site", "tcp", 443, True),  # administration service on the SMS Provider
    ],
    "wsus-upstream-downstream": [
        (USER, "downstream", "tcp", 8530, True),
        (USER, "downstream", "tcp", 8531, True),
        (USER, "upstream", "tcp", 8530, False),
        ("downstream", "upstream", "tcp", 8531, True),
        ("upstream", "downstream", "tcp", 8530, False),
        (USER, "downstream", "tcp", 80, False),  # WSUS 3.2 ports are not open
    ],
    "file-services-dfs": [
        (USER, "fs", "tcp", 445, True),
        (USER, "fs", "tcp", 139, False),  # NetBIOS left out
        (USER, "ns", "udp", 389, True),
        ("fs", "fs", "tcp", 135, True),  # DFS Replication
        ("ns", "fs", "tcp", 135, False),
    ],
    "sql-server-always-on": [
        ("replica", "replica", "tcp", 5022, True),
        ("replica", "replica", "udp", 3343, True),
        ("app", "replica", "tcp", 1433, True),
        ("app", "replica", "tcp", 5022, False),  # the endpoint is for the replicas only
        ("replica", "witness", "tcp", 445, True),
        ("app", "witness", "tcp", 445, False),
    ],
}


@cache
def _compiled(name: str):
    topology = load_topology(EXAMPLES / name / "topology.yaml")
    policy = compile_topology(topology)
    return topology, AWS.build(policy), AZURE.build(policy)


@pytest.mark.parametrize("example", sorted(CASES))
def test_example_allows_and_forbids_what_its_sources_say(example: str) -> None:
    topology, aws, azure = _compiled(example)
    wrong = []
    for src, dst, proto, port, want in CASES[example]:
        verdicts = {
            "spec": spec_allows(topology, src, dst, proto, port),
            "aws": aws_allows(aws, src, dst, proto, port),
            "azure": azure_allows(azure, src, dst, proto, port),
        }
        if set(verdicts.values()) != {want}:
            wrong.append(f"{src} -> {dst} {proto}/{port}: want {want}, got {verdicts}")
    assert not wrong, "\n".join(wrong)
