"""The local ARM server, driven by the real (unpatched) azure-mgmt-network client and by raw HTTP."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.network import models as m

from cloudports.emulators.arm import ArmServer
from cloudports.emulators.arm.client import make_network_client

SUB = "00000000-0000-0000-0000-0000000000aa"
RG = "rg-test"
API = "2026-03-01"
P = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network"
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server():
    with ArmServer() as srv:
        yield srv


@pytest.fixture
def arm(server: ArmServer) -> ArmServer:
    server.reset()
    return server


@pytest.fixture
def client(arm: ArmServer):
    with make_network_client(arm.url, SUB, retry_total=0) as c:
        yield c


def raw(
    arm: ArmServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    api_version: str | None = API,
    auth: bool = True,
) -> tuple[int, Any, Any]:
    """One HTTP request without the SDK: (status, headers, parsed JSON body or None)."""
    if api_version:
        path += ("&" if "?" in path else "?") + f"api-version={api_version}"
    send = {"Content-Type": "application/json"}
    if auth:
        send["Authorization"] = "Bearer test"
    send.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", arm.port, timeout=10)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=send)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, json.loads(data) if data else None
    finally:
        conn.close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


BASE_RULE: dict[str, Any] = {
    "protocol": "Tcp",
    "access": "Allow",
    "direction": "Inbound",
    "priority": 100,
    "sourcePortRange": "*",
    "destinationPortRange": "443",
    "sourceAddressPrefix": "*",
    "destinationAddressPrefix": "*",
}


def rule_props(**changes: Any) -> dict[str, Any]:
    """BASE_RULE with changes applied; a value of None removes the key."""
    props = dict(BASE_RULE)
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


def inline(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "properties": rule_props(**changes)}


def make_nsg(client, name: str = "nsg1", rules: list[dict[str, Any]] | None = None, **extra: Any):
    body = {"location": "westeurope", "properties": {"securityRules": rules or []}, **extra}
    return client.network_security_groups.begin_create_or_update(RG, name, body).result()


def make_asg(client, name: str, location: str = "westeurope", polling: bool = True):
    poller = client.application_security_groups.begin_create_or_update(
        RG, name, {"location": location}, polling=polling
    )
    return poller.result() if polling else None


def asg_id(name: str, rg: str = RG) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/applicationSecurityGroups/{name}"


def expect_error(call, status: int, code: str) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        call()
    assert info.value.status_code == status, info.value.message
    assert info.value.error is not None and info.value.error.code == code, info.value.message
    return info.value


def put_rule(client, props: dict[str, Any], name: str = "r1", nsg: str = "nsg1"):
    return client.security_rules.begin_create_or_update(RG, nsg, name, {"properties": props}).result()


# --------------------------------------------------------------------------------------------- basics


def test_nsg_create_get_list_update_delete(client, arm):
    created = make_nsg(client, tags={"team": "net"}, rules=[inline("allow-https")])
    assert created.id == f"{P}/networkSecurityGroups/nsg1"
    assert created.name == "nsg1"
    assert created.type == "Microsoft.Network/networkSecurityGroups"
    assert created.location == "westeurope"
    assert created.tags == {"team": "net"}
    assert created.provisioning_state == "Succeeded"
    assert re.fullmatch(r'W/"[0-9a-f-]{36}"', created.etag)

    got = client.network_security_groups.get(RG, "nsg1")
    assert got.etag == created.etag
    assert [r.name for r in got.security_rules] == ["allow-https"]

    tagged = client.network_security_groups.update_tags(RG, "nsg1", {"tags": {"env": "dev"}})
    assert tagged.tags == {"env": "dev"}
    assert tagged.etag != created.etag

    make_nsg(client, "nsg2")
    client.network_security_groups.begin_create_or_update("other-rg", "nsg3", {"location": "westeurope"}).result()
    assert sorted(n.name for n in client.network_security_groups.list(RG)) == ["nsg1", "nsg2"]
    assert sorted(n.name for n in client.network_security_groups.list_all()) == ["nsg1", "nsg2", "nsg3"]

    client.network_security_groups.begin_delete(RG, "nsg1").result()
    err = expect_error(lambda: client.network_security_groups.get(RG, "nsg1"), 404, "ResourceNotFound")
    assert isinstance(err, ResourceNotFoundError)
    client.network_security_groups.begin_delete(RG, "nsg1").result()  # deleting a missing NSG: 204, no error
    assert ("DELETE", f"{P}/networkSecurityGroups/nsg1", 204) in arm.request_log


def test_update_keeps_location_and_requires_it(client):
    make_nsg(client)
    expect_error(
        lambda: client.network_security_groups.begin_create_or_update(RG, "nsg1", {"location": "eastus"}),
        400,
        "InvalidResourceLocation",
    )
    expect_error(
        lambda: client.network_security_groups.begin_create_or_update(RG, "nsg2", {"properties": {}}),
        400,
        "LocationRequired",
    )
    again = client.network_security_groups.begin_create_or_update(RG, "nsg1", {"location": "West Europe"}).result()
    assert again.location == "westeurope"


def test_paths_are_case_insensitive_and_ids_keep_creation_case(client, arm):
    client.network_security_groups.begin_create_or_update("MyRG", "Web-NSG", {"location": "westeurope"}).result()
    path = f"/SUBSCRIPTIONS/{SUB}/resourcegroups/myrg/PROVIDERS/microsoft.network/networksecuritygroups/web-nsg"
    status, _, body = raw(arm, "GET", path)
    assert status == 200
    assert (
        body["id"]
        == f"/subscriptions/{SUB}/resourceGroups/MyRG/providers/Microsoft.Network/networkSecurityGroups/Web-NSG"
    )
    assert body["name"] == "Web-NSG"


def test_api_version_auth_subscription_and_unknown_types(arm):
    status, _, body = raw(arm, "GET", f"{P}/networkSecurityGroups", api_version=None)
    assert (status, body["error"]["code"]) == (400, "MissingApiVersionParameter")
    status, _, body = raw(arm, "GET", f"{P}/networkSecurityGroups", auth=False)
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
    status, _, body = raw(arm, "GET", f"{P}/networkSecurityGroups", headers={"Authorization": "Basic abc"})
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
    status, _, body = raw(arm, "GET", "/subscriptions/not-a-guid/providers/Microsoft.Network/networkSecurityGroups")
    assert (status, body["error"]["code"]) == (400, "InvalidSubscriptionId")
    status, _, body = raw(arm, "GET", f"{P}/routeTables/rt1")
    assert (status, body["error"]["code"]) == (404, "InvalidResourceType")
    status, _, body = raw(arm, "PATCH", f"{P}/networkSecurityGroups/nsg1/securityRules/r1", {})
    assert (status, body["error"]["code"]) == (405, "MethodNotAllowed")
    status, _, body = raw(arm, "PUT", f"{P}/networkSecurityGroups/nsg1", None)
    assert (status, body["error"]["code"]) == (400, "InvalidRequestContent")
    status, _, body = raw(arm, "GET", f"{P}/networkSecurityGroups", api_version="2015-06-15")
    assert status == 200 and body == {"value": []}  # any api-version is accepted


# --------------------------------------------------------------------------------------------- rules


def test_rule_crud_and_rendering(client, arm):
    make_nsg(client)
    created = client.security_rules.begin_create_or_update(
        RG,
        "nsg1",
        "allow-dns",
        m.SecurityRule(
            protocol="udp",
            access="allow",
            direction="outbound",
            priority=200,
            source_port_range="*",
            destination_port_ranges=["53", "5353-5354"],
            source_address_prefix="VirtualNetwork",
            destination_address_prefixes=["10.0.0.4", "10.0.1.0/24"],
            description="dns",
        ),
    ).result()
    assert created.id == f"{P}/networkSecurityGroups/nsg1/securityRules/allow-dns"
    assert created.type == "Microsoft.Network/networkSecurityGroups/securityRules"
    assert created.provisioning_state == "Succeeded"
    assert (created.protocol, created.access, created.direction) == ("Udp", "Allow", "Outbound")

    status, _, body = raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1/securityRules/allow-dns")
    assert status == 200
    assert body["properties"] == {
        "provisioningState": "Succeeded",
        "description": "dns",
        "protocol": "Udp",
        "sourcePortRange": "*",
        "sourceAddressPrefix": "VirtualNetwork",
        "access": "Allow",
        "priority": 200,
        "direction": "Outbound",
        "sourcePortRanges": [],
        "destinationPortRanges": ["53", "5353-5354"],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": ["10.0.0.4", "10.0.1.0/24"],
    }
    nsg_etag = client.network_security_groups.get(RG, "nsg1").etag
    assert body["etag"] == nsg_etag

    updated = put_rule(client, rule_props(priority=300), name="allow-dns")
    assert updated.priority == 300 and updated.etag != created.etag
    assert ("PUT", f"{P}/networkSecurityGroups/nsg1/securityRules/allow-dns", 200) in arm.request_log

    client.security_rules.begin_delete(RG, "nsg1", "allow-dns").result()
    expect_error(lambda: client.security_rules.get(RG, "nsg1", "allow-dns"), 404, "NotFound")
    client.security_rules.begin_delete(RG, "nsg1", "allow-dns").result()  # missing: 204
    expect_error(lambda: put_rule(client, rule_props(), nsg="nope"), 404, "ResourceNotFound")


def test_inline_rules_and_sub_collection_are_one_store(client):
    make_nsg(client, rules=[inline("a", priority=100), inline("b", priority=110)])
    put_rule(client, rule_props(priority=120), name="c")
    assert [r.name for r in client.security_rules.list(RG, "nsg1")] == ["a", "b", "c"]
    assert [r.name for r in client.network_security_groups.get(RG, "nsg1").security_rules] == ["a", "b", "c"]

    client.security_rules.begin_delete(RG, "nsg1", "a").result()
    assert [r.name for r in client.network_security_groups.get(RG, "nsg1").security_rules] == ["b", "c"]

    # A PUT of the NSG replaces the whole rule set, dropping rules created through the sub-collection ...
    make_nsg(client, rules=[inline("d", priority=100)])
    assert [r.name for r in client.security_rules.list(RG, "nsg1")] == ["d"]
    # ... and a PUT without securityRules removes them all.
    make_nsg(client, rules=None)
    assert list(client.security_rules.list(RG, "nsg1")) == []


def test_default_security_rules(client, arm):
    make_nsg(client)
    defaults = list(client.default_security_rules.list(RG, "nsg1"))
    assert [(d.name, d.direction, d.priority, d.access) for d in defaults] == [
        ("AllowVnetInBound", "Inbound", 65000, "Allow"),
        ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow"),
        ("DenyAllInBound", "Inbound", 65500, "Deny"),
        ("AllowVnetOutBound", "Outbound", 65000, "Allow"),
        ("AllowInternetOutBound", "Outbound", 65001, "Allow"),
        ("DenyAllOutBound", "Outbound", 65500, "Deny"),
    ]
    one = client.default_security_rules.get(RG, "nsg1", "AllowInternetOutBound")
    assert (one.source_address_prefix, one.destination_address_prefix, one.protocol) == ("*", "Internet", "*")
    assert one.type == "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
    assert len(client.network_security_groups.get(RG, "nsg1").default_security_rules) == 6
    expect_error(lambda: client.default_security_rules.get(RG, "nsg1", "Nope"), 404, "NotFound")


def test_rule_paging_follows_absolute_next_link(client, arm):
    rules = [inline(f"r{i:03}", priority=100 + i) for i in range(120)]
    make_nsg(client, rules=rules)
    arm.clear_request_log()
    names = [r.name for r in client.security_rules.list(RG, "nsg1")]
    assert names == [f"r{i:03}" for i in range(120)]
    list_calls = [(mth, p, s) for mth, p, s in arm.request_log if p.endswith("/securityRules")]
    assert len(list_calls) == 3  # pages of 50, 50, 20

    status, _, first = raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1/securityRules")
    assert status == 200 and len(first["value"]) == 50
    assert first["nextLink"].startswith(arm.url + P)
    assert f"api-version={API}" in first["nextLink"]
    status, _, last = raw(
        arm, "GET", path_of(first["nextLink"]).replace("$skipToken=50", "$skipToken=100"), api_version=None
    )
    assert len(last["value"]) == 20 and "nextLink" not in last


def test_nsg_and_asg_list_paging():
    with ArmServer(page_size=2) as arm, make_network_client(arm.url, SUB, retry_total=0) as client:
        for i in range(5):
            make_nsg(client, f"nsg{i}")
            make_asg(client, f"asg{i}")
        assert len(list(client.network_security_groups.list(RG))) == 5
        assert len(list(client.network_security_groups.list_all())) == 5
        assert len(list(client.application_security_groups.list(RG))) == 5
        assert len(list(client.application_security_groups.list_all())) == 5
        pages = [p for mth, p, s in arm.request_log if p.endswith("/networkSecurityGroups") and mth == "GET"]
        assert len(pages) == 6  # 3 pages per listing


# --------------------------------------------------------------------------------------------- LRO


def test_put_lro_sequence_put_poll_poll_final_get(client, arm):
    arm.clear_request_log()
    make_nsg(client)
    log = arm.request_log
    op = re.compile(rf"/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operations/[0-9a-f-]+$")
    assert [(mth, s) for mth, _, s in log] == [("PUT", 201), ("GET", 200), ("GET", 200), ("GET", 200)]
    assert log[0][1] == log[3][1] == f"{P}/networkSecurityGroups/nsg1"
    assert op.search(log[1][1]) and log[1][1] == log[2][1]


def test_lro_protocol_by_hand(arm):
    status, headers, body = raw(arm, "PUT", f"{P}/networkSecurityGroups/nsg1", {"location": "westeurope"})
    assert status == 201
    assert body["properties"]["provisioningState"] == "Updating"
    assert headers["Retry-After"] == "0"
    status_url = headers["Azure-AsyncOperation"]
    assert re.fullmatch(
        rf"{re.escape(arm.url)}/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operations/"
        rf"[0-9a-f-]{{36}}\?api-version={API}",
        status_url,
    )
    assert raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1")[2]["properties"]["provisioningState"] == "Updating"
    assert raw(arm, "GET", path_of(status_url), api_version=None)[2] == {"status": "InProgress"}
    assert raw(arm, "GET", path_of(status_url), api_version=None)[2] == {"status": "Succeeded"}
    assert raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1")[2]["properties"]["provisioningState"] == "Succeeded"

    status, headers, body = raw(arm, "DELETE", f"{P}/networkSecurityGroups/nsg1")
    assert status == 202 and body is None
    assert "/operations/" in headers["Azure-AsyncOperation"]
    location = headers["Location"]
    assert "/operationResults/" in location
    assert raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1")[2]["properties"]["provisioningState"] == "Deleting"
    assert raw(arm, "GET", path_of(location), api_version=None)[0] == 202
    assert raw(arm, "GET", path_of(location), api_version=None)[0] == 204
    assert raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1")[0] == 404


def test_delete_lro_sequence(client, arm):
    make_nsg(client)
    arm.clear_request_log()
    client.network_security_groups.begin_delete(RG, "nsg1").result()
    assert [(mth, s) for mth, _, s in arm.request_log] == [("DELETE", 202), ("GET", 200), ("GET", 200)]


def test_delete_final_state_via_location(client, arm):
    """The 30.x SDK (and swagger-driven clients) finish a DELETE with a GET of the Location URL."""
    make_nsg(client)
    arm.clear_request_log()
    polling = ARMPolling(0, lro_options={"final-state-via": "location"})
    client.network_security_groups.begin_delete(RG, "nsg1", polling=polling).result()
    assert [(mth, s) for mth, _, s in arm.request_log] == [("DELETE", 202), ("GET", 200), ("GET", 200), ("GET", 204)]
    assert "/operationResults/" in arm.request_log[-1][1]


@pytest.mark.parametrize("polls, expected", [(0, 3), (2, 5)])
def test_number_of_in_progress_polls_is_configurable(polls, expected):
    with ArmServer(lro_polls=polls) as arm, make_network_client(arm.url, SUB, retry_total=0) as client:
        make_nsg(client)
        assert len(arm.request_log) == expected


def test_operation_can_complete_on_its_own_after_a_time():
    with ArmServer(lro_complete_after=0.05) as arm:
        raw(arm, "PUT", f"{P}/networkSecurityGroups/nsg1", {"location": "westeurope"})
        time.sleep(0.1)
        assert raw(arm, "GET", f"{P}/networkSecurityGroups/nsg1")[2]["properties"]["provisioningState"] == "Succeeded"


def test_async_failure_fault_ends_the_operation_failed(client, arm):
    arm.inject_fault("PUT", r"/networkSecurityGroups/nsg1$", async_failure=True, code="InternalServerError")
    with pytest.raises(HttpResponseError):
        make_nsg(client)
    assert client.network_security_groups.get(RG, "nsg1").provisioning_state == "Failed"
    assert make_nsg(client).provisioning_state == "Succeeded"  # the fault was used up


def test_concurrent_write_is_refused_while_an_operation_runs(client, arm):
    client.network_security_groups.begin_create_or_update(RG, "nsg1", {"location": "westeurope"}, polling=False)
    err = expect_error(lambda: put_rule(client, rule_props()), 409, "AnotherOperationInProgress")
    assert isinstance(err, ResourceExistsError)
    assert err.response.headers["Retry-After"] == "1"
    assert "/operations/" in err.message
    expect_error(lambda: make_nsg(client), 409, "AnotherOperationInProgress")
    expect_error(
        lambda: client.network_security_groups.update_tags(RG, "nsg1", {"tags": {}}), 409, "AnotherOperationInProgress"
    )
    assert client.network_security_groups.get(RG, "nsg1").provisioning_state == "Updating"  # reads are fine
    assert arm.complete_operations() == 1
    assert put_rule(client, rule_props()).provisioning_state == "Succeeded"


def test_concurrent_write_as_429():
    with ArmServer(conflict_status=429) as arm, make_network_client(arm.url, SUB, retry_total=0) as client:
        client.network_security_groups.begin_create_or_update(RG, "nsg1", {"location": "westeurope"}, polling=False)
        expect_error(lambda: put_rule(client, rule_props()), 429, "RetryableErrorDueToAnotherOperation")


# --------------------------------------------------------------------------------------------- validation

NO_SRC: dict[str, Any] = {"sourceAddressPrefix": None}
VALIDATION_CASES = [
    # priority
    ({"priority": None}, "SecurityRuleInvalidPriority"),
    ({"priority": 99}, "SecurityRuleInvalidPriority"),
    ({"priority": 4097}, "SecurityRuleInvalidPriority"),
    ({"priority": "high"}, "InvalidRequestFormat"),
    # enums and required fields
    ({"protocol": "Tcpx"}, "InvalidRequestFormat"),
    ({"protocol": "Any"}, "InvalidRequestFormat"),
    ({"protocol": None}, "SecurityRuleParametersMissing"),
    ({"access": "Permit"}, "InvalidRequestFormat"),
    ({"access": None}, "SecurityRuleParametersMissing"),
    ({"direction": "In"}, "InvalidRequestFormat"),
    ({"direction": None}, "SecurityRuleParametersMissing"),
    # ports
    ({"destinationPortRange": "70000"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": "80-70"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": "80,443"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": "http"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": "-1"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": None, "destinationPortRanges": ["*"]}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": None, "destinationPortRanges": ["80", "0-65536"]}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRanges": ["80", "443"]}, "SecurityRuleConflictingParameters"),
    ({"destinationPortRange": None}, "SecurityRuleParametersMissing"),
    ({"sourcePortRange": None, "sourcePortRanges": []}, "SecurityRuleParametersMissing"),
    ({"sourcePortRanges": ["1024-65535"]}, "SecurityRuleConflictingParameters"),
    # address prefixes
    ({"sourceAddressPrefix": "10.0.0.0/33"}, "SecurityRuleInvalidAddressPrefix"),
    ({"sourceAddressPrefix": "10.0.0"}, "SecurityRuleInvalidAddressPrefix"),
    ({"sourceAddressPrefix": "10.0.0.0/255.255.0.0"}, "SecurityRuleInvalidAddressPrefix"),
    ({"sourceAddressPrefix": "NotAServiceTag"}, "SecurityRuleInvalidAddressPrefix"),
    ({"destinationAddressPrefix": "2001:db8::/129"}, "SecurityRuleInvalidAddressPrefix"),
    ({**NO_SRC, "sourceAddressPrefixes": ["Internet"]}, "SecurityRuleParameterContainsUnsupportedValue"),
    ({**NO_SRC, "sourceAddressPrefixes": ["10.0.0.0/8", "*"]}, "SecurityRuleParameterContainsUnsupportedValue"),
    ({"sourceAddressPrefix": None, "sourceAddressPrefixes": ["10.0.0.0/8", "bad"]}, "SecurityRuleInvalidAddressPrefix"),
    (
        {"sourceAddressPrefix": None, "sourceAddressPrefixes": ["10.0.0.0/8", "2001:db8::/32"]},
        "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
    ),
    ({"sourceAddressPrefixes": ["10.0.0.0/8"]}, "SecurityRuleConflictingParameters"),
    ({"destinationAddressPrefix": None}, "SecurityRuleParametersMissing"),
    ({"destinationAddressPrefix": ""}, "SecurityRuleParametersMissing"),
    # ASG references
    ({**NO_SRC, "sourceApplicationSecurityGroups": [{"id": asg_id("ghost")}]}, "InvalidResourceReference"),
    ({"sourceAddressPrefix": None, "sourceApplicationSecurityGroups": [{"id": "ghost"}]}, "LinkedInvalidPropertyId"),
    ({"sourceApplicationSecurityGroups": [{"id": asg_id("web")}]}, "SecurityRuleConflictingParameters"),
    # description
    ({"description": "x" * 141}, "SecurityRuleDescriptionTooLong"),
]  # fmt: skip


@pytest.mark.parametrize("changes, code", VALIDATION_CASES, ids=[c for _, c in VALIDATION_CASES])
def test_rule_validation_errors(client, changes, code):
    make_nsg(client)
    make_asg(client, "web")
    expect_error(lambda: put_rule(client, rule_props(**changes)), 400, code)
    # The same rule inline in the NSG body is refused with the same code.
    expect_error(lambda: make_nsg(client, rules=[{"name": "r1", "properties": rule_props(**changes)}]), 400, code)
    assert list(client.security_rules.list(RG, "nsg1")) == []


def test_port_exclusivity_message(client):
    make_nsg(client)
    err = expect_error(
        lambda: put_rule(client, rule_props(destinationPortRanges=["80"])), 400, "SecurityRuleConflictingParameters"
    )
    assert "must specify a non-empty value for either DestinationPortRange or DestinationPortRanges, but not both" in (
        err.message
    )


ACCEPTED_CASES = [
    {"priority": 100},
    {"priority": 4096},
    {"protocol": "tcp"},
    {"protocol": "ICMP"},
    {"protocol": "Esp"},
    {"protocol": "ah"},
    {"protocol": "*"},
    {"destinationPortRange": "0"},
    {"destinationPortRange": "65535"},
    {"destinationPortRange": "0-65535"},
    {"destinationPortRange": "8080-8080"},
    {"destinationPortRange": None, "destinationPortRanges": ["80", "443", "8000-8999"]},
    {"sourceAddressPrefix": "VirtualNetwork"},
    {"sourceAddressPrefix": "internet"},
    {"sourceAddressPrefix": "AzureLoadBalancer"},
    {"destinationAddressPrefix": "Storage.WestEurope"},
    {"destinationAddressPrefix": "Sql"},
    {"sourceAddressPrefix": "10.1.2.3"},
    {"sourceAddressPrefix": "2001:db8::/48"},
    {"sourceAddressPrefix": None, "sourceAddressPrefixes": ["10.0.0.0/8", "192.168.1.1"]},
    {"sourceAddressPrefix": None, "sourceAddressPrefixes": ["2001:db8::/32", "fd00::1"]},
    {"description": "x" * 140},
    {"sourceAddressPrefix": "", "sourceAddressPrefixes": ["10.0.0.0/8"]},  # "" counts as unset, as in Azure output
]


@pytest.mark.parametrize("changes", ACCEPTED_CASES, ids=[json.dumps(c)[:60] for c in ACCEPTED_CASES])
def test_rule_validation_accepts(client, changes):
    make_nsg(client)
    rule = put_rule(client, rule_props(**changes))
    assert rule.provisioning_state == "Succeeded"
    assert rule.protocol in {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}  # stored in canonical case


@pytest.mark.parametrize("name", ["-lead", "trail.", "trail-", "has space", "x" * 81, "semi;colon"])
def test_invalid_names(client, name):
    make_nsg(client)
    expect_error(lambda: put_rule(client, rule_props(), name=name), 400, "InvalidResourceName")


def test_valid_names(client):
    for name in ["a", "x" * 80, "under_", "Ab.c-d_e", "9lives"]:
        make_nsg(client, name)
        assert put_rule(client, rule_props(), name=name, nsg=name).name == name
        client.network_security_groups.begin_delete(RG, name).result()
    expect_error(lambda: make_nsg(client, "bad."), 400, "InvalidResourceName")
    expect_error(lambda: make_nsg(client, rules=[inline("-bad")]), 400, "InvalidResourceName")


def test_priority_conflicts(client):
    make_nsg(client, rules=[inline("web", priority=200)])
    err = expect_error(lambda: put_rule(client, rule_props(priority=200), name="other"), 400, "SecurityRuleConflict")
    assert "Security rule other conflicts with rule web" in err.message
    assert "Rules cannot have the same Priority and Direction" in err.message
    # Same number, other direction: fine.  Re-writing a rule with its own priority: fine.
    put_rule(client, rule_props(priority=200, direction="Outbound"), name="out")
    put_rule(client, rule_props(priority=200, destinationPortRange="8443"), name="web")
    # Inline duplicates are refused; swapping two priorities in one NSG PUT works.
    expect_error(
        lambda: make_nsg(client, rules=[inline("a", priority=300), inline("b", priority=300)]),
        400,
        "SecurityRuleConflict",
    )
    swapped = make_nsg(client, rules=[inline("a", priority=310), inline("b", priority=300)])
    assert [(r.name, r.priority) for r in swapped.security_rules] == [("a", 310), ("b", 300)]
    expect_error(lambda: make_nsg(client, rules=[inline("a"), inline("A", priority=101)]), 400, "DuplicateResourceName")


# --------------------------------------------------------------------------------------------- limits


def test_limit_1000_rules(client):
    rules = [inline(f"r{i}", priority=100 + i) for i in range(1000)]
    assert len(make_nsg(client, rules=rules).security_rules) == 1000
    expect_error(
        lambda: put_rule(client, rule_props(priority=1200), name="one-more"), 400, "SecurityRuleCountLimitReached"
    )
    put_rule(client, rule_props(priority=1200), name="r5")  # replacing an existing rule keeps the count
    rules.append(inline("r1000", priority=1100))
    expect_error(lambda: make_nsg(client, rules=rules), 400, "SecurityRuleCountLimitReached")


def test_limit_10_asgs_per_rule_side_and_both_sides(client):
    make_nsg(client)
    for i in range(11):
        make_asg(client, f"asg{i}")
    ten = [{"id": asg_id(f"asg{i}")} for i in range(10)]
    eleven = [*ten, {"id": asg_id("asg10")}]
    ok = put_rule(
        client,
        rule_props(
            sourceAddressPrefix=None,
            destinationAddressPrefix=None,
            sourceApplicationSecurityGroups=ten,
            destinationApplicationSecurityGroups=ten,
        ),
    )
    assert len(ok.source_application_security_groups) == 10
    assert ok.source_application_security_groups[0].id == asg_id("asg0")
    expect_error(
        lambda: put_rule(client, rule_props(sourceAddressPrefix=None, sourceApplicationSecurityGroups=eleven)),
        400,
        "NumberOfApplicationSecurityGroupsReferencedInSecurityRuleLimitReached",
    )
    expect_error(
        lambda: put_rule(
            client, rule_props(destinationAddressPrefix=None, destinationApplicationSecurityGroups=eleven)
        ),
        400,
        "NumberOfApplicationSecurityGroupsReferencedInSecurityRuleLimitReached",
    )


def test_limit_100_asgs_per_nsg(client, arm):
    for i in range(101):
        make_asg(client, f"asg{i}", polling=False)
    arm.complete_operations()

    def rules(n: int) -> list[dict[str, Any]]:
        return [
            inline(
                f"r{i}",
                priority=100 + i,
                sourceAddressPrefix=None,
                sourceApplicationSecurityGroups=[{"id": asg_id(f"asg{j}")} for j in range(i * 10, min(n, i * 10 + 10))],
            )
            for i in range((n + 9) // 10)
        ]

    assert len(make_nsg(client, rules=rules(100)).security_rules) == 10
    expect_error(
        lambda: make_nsg(client, rules=rules(101)),
        400,
        "NumberOfApplicationSecurityGroupsReferencedInNetworkSecurityGroupLimitReached",
    )
    expect_error(
        lambda: put_rule(
            client,
            rule_props(
                priority=500, sourceAddressPrefix=None, sourceApplicationSecurityGroups=[{"id": asg_id("asg100")}]
            ),
            name="extra",
        ),
        400,
        "NumberOfApplicationSecurityGroupsReferencedInNetworkSecurityGroupLimitReached",
    )


# --------------------------------------------------------------------------------------------- ASGs


def test_asg_crud_in_use_and_location(client):
    asg = make_asg(client, "web")
    assert asg.id == asg_id("web")
    assert asg.type == "Microsoft.Network/applicationSecurityGroups"
    assert asg.provisioning_state == "Succeeded"
    assert client.application_security_groups.get(RG, "web").etag == asg.etag
    tagged = client.application_security_groups.update_tags(RG, "web", {"tags": {"tier": "web"}})
    assert tagged.tags == {"tier": "web"}

    make_asg(client, "far", location="eastus")
    make_nsg(client)
    expect_error(
        lambda: put_rule(
            client, rule_props(sourceAddressPrefix=None, sourceApplicationSecurityGroups=[{"id": asg_id("far")}])
        ),
        400,
        "InvalidResourceReference",
    )
    # An ASG id with other casing resolves; the stored reference is the canonical id.
    rule = put_rule(
        client, rule_props(sourceAddressPrefix=None, sourceApplicationSecurityGroups=[{"id": asg_id("WEB").lower()}])
    )
    assert rule.source_application_security_groups[0].id == asg_id("web")

    expect_error(
        lambda: client.application_security_groups.begin_delete(RG, "web").result(),
        400,
        "InUseApplicationSecurityGroupCannotBeDeleted",
    )
    client.security_rules.begin_delete(RG, "nsg1", "r1").result()
    client.application_security_groups.begin_delete(RG, "web").result()
    expect_error(lambda: client.application_security_groups.get(RG, "web"), 404, "ResourceNotFound")


# --------------------------------------------------------------------------------------------- subnets


def test_subnet_association_is_visible_on_the_nsg(client, arm):
    subnet_id = arm.add_subnet(SUB, RG, "vnet1", "app", "10.10.1.0/24")
    nsg = make_nsg(client)
    assert nsg.subnets is None

    subnet = client.subnets.begin_create_or_update(
        RG,
        "vnet1",
        "app",
        m.Subnet(address_prefix="10.10.1.0/24", network_security_group=m.NetworkSecurityGroup(id=nsg.id)),
    ).result()
    assert subnet.id == subnet_id
    assert subnet.network_security_group.id == nsg.id
    assert [s.id for s in client.network_security_groups.get(RG, "nsg1").subnets] == [subnet_id]
    assert client.subnets.get(RG, "vnet1", "app").network_security_group.id == nsg.id

    expect_error(
        lambda: client.network_security_groups.begin_delete(RG, "nsg1").result(),
        400,
        "InUseNetworkSecurityGroupCannotBeDeleted",
    )
    client.subnets.begin_create_or_update(RG, "vnet1", "app", m.Subnet(address_prefix="10.10.1.0/24")).result()
    assert client.network_security_groups.get(RG, "nsg1").subnets is None
    client.network_security_groups.begin_delete(RG, "nsg1").result()


def test_subnet_validation(client, arm):
    arm.add_vnet(SUB, RG, "vnet1", ["10.20.0.0/16"])
    arm.add_subnet(SUB, RG, "vnet1", "a", "10.20.1.0/24")
    expect_error(
        lambda: client.subnets.begin_create_or_update(RG, "vnet1", "b", m.Subnet(address_prefix="10.30.0.0/24")),
        400,
        "NetcfgSubnetRangeOutsideVnet",
    )
    expect_error(
        lambda: client.subnets.begin_create_or_update(RG, "vnet1", "b", m.Subnet(address_prefix="10.20.1.128/25")),
        400,
        "NetcfgSubnetRangesOverlap",
    )
    ghost = f"{P}/networkSecurityGroups/ghost"
    expect_error(
        lambda: client.subnets.begin_create_or_update(
            RG,
            "vnet1",
            "b",
            m.Subnet(address_prefix="10.20.2.0/24", network_security_group=m.NetworkSecurityGroup(id=ghost)),
        ),
        400,
        "InvalidResourceReference",
    )
    expect_error(
        lambda: client.subnets.begin_create_or_update(RG, "nope", "b", m.Subnet(address_prefix="10.20.2.0/24")),
        404,
        "ResourceNotFound",
    )
    assert client.subnets.begin_create_or_update(RG, "vnet1", "b", m.Subnet(address_prefix="10.20.2.0/24")).result()


def test_vnet_put_with_subnets_and_pre_created_subnets():
    seed = [{"subscription": SUB, "resource_group": RG, "vnet": "hub", "subnet": "shared", "prefix": "10.0.0.0/24"}]
    with ArmServer(subnets=seed) as arm, make_network_client(arm.url, SUB, retry_total=0) as client:
        assert client.subnets.get(RG, "hub", "shared").address_prefix == "10.0.0.0/24"
        client.subnets.begin_delete(RG, "hub", "shared").result()
        arm.reset()
        assert client.subnets.get(RG, "hub", "shared").address_prefix == "10.0.0.0/24"
        nsg = make_nsg(client)
        vnet = client.virtual_networks.begin_create_or_update(
            RG,
            "spoke",
            m.VirtualNetwork(
                location="westeurope",
                address_space=m.AddressSpace(address_prefixes=["10.1.0.0/16"]),
                subnets=[
                    m.Subnet(
                        name="a", address_prefix="10.1.1.0/24", network_security_group=m.NetworkSecurityGroup(id=nsg.id)
                    ),
                    m.Subnet(name="b", address_prefix="10.1.2.0/24"),
                ],
            ),
        ).result()
        assert [s.name for s in vnet.subnets] == ["a", "b"]
        assert [s.id for s in client.network_security_groups.get(RG, "nsg1").subnets] == [f"{vnet.id}/subnets/a"]
        assert sorted(s.name for s in client.subnets.list(RG, "spoke")) == ["a", "b"]


# --------------------------------------------------------------------------------------------- faults & control


def test_429_fault_retry_after_is_honoured_by_the_sdk_retry_policy(arm):
    with make_network_client(arm.url, SUB, retry_total=3) as retrying:
        make_nsg(retrying)
        arm.clear_request_log()
        arm.inject_fault("GET", r"/networkSecurityGroups/nsg1$", status=429, retry_after=1)
        started = time.monotonic()
        assert retrying.network_security_groups.get(RG, "nsg1").name == "nsg1"
        elapsed = time.monotonic() - started
    assert [s for _, _, s in arm.request_log] == [429, 200]
    assert elapsed >= 0.9  # the first retry has no backoff of its own: the wait is the server's Retry-After


def test_fault_without_retries_surfaces(client, arm):
    make_nsg(client)
    arm.inject_fault("get", "nsg1", status=503, retry_after=5, count=2)
    for _ in range(2):
        err = expect_error(lambda: client.network_security_groups.get(RG, "nsg1"), 503, "ServiceUnavailable")
        assert err.response.headers["Retry-After"] == "5"
    assert client.network_security_groups.get(RG, "nsg1").name == "nsg1"
    arm.inject_fault("PUT", "securityRules", status=500, code="InternalServerError", message="boom")
    err = expect_error(lambda: put_rule(client, rule_props()), 500, "InternalServerError")
    assert "boom" in err.message


def test_control_endpoints(arm):
    status, _, body = raw(
        arm, "POST", "/_arm/faults", {"method": "GET", "path": "nsgX", "status": 429, "retry_after": 2}
    )
    assert status == 201 and body["id"] >= 1
    assert raw(arm, "GET", "/_arm/faults", api_version=None)[2]["value"][0]["status"] == 429
    status, headers, body = raw(arm, "GET", f"{P}/networkSecurityGroups/nsgX")
    assert (status, headers["Retry-After"], body["error"]["code"]) == (429, "2", "TooManyRequests")
    assert raw(arm, "GET", f"{P}/networkSecurityGroups/nsgX")[0] == 404

    status, _, body = raw(
        arm,
        "POST",
        "/_arm/subnets",
        {"subscription": SUB, "resourceGroup": RG, "vnet": "v", "subnet": "s", "prefix": "10.5.0.0/24"},
    )
    assert status == 201 and body["id"].endswith("/virtualNetworks/v/subnets/s")
    assert raw(arm, "GET", f"{P}/virtualNetworks/v/subnets/s")[0] == 200

    raw(arm, "PUT", f"{P}/networkSecurityGroups/n", {"location": "westeurope"})
    assert raw(arm, "POST", "/_arm/operations/complete", api_version=None)[2] == {"completed": 1}

    log = raw(arm, "GET", "/_arm/requests", api_version=None)[2]["value"]
    assert [(e["method"], e["status"], e["code"]) for e in log] == [
        ("GET", 429, "TooManyRequests"),
        ("GET", 404, "ResourceNotFound"),
        ("GET", 200, None),
        ("PUT", 201, None),
    ]
    assert all("/_arm/" not in e["path"] for e in log)
    assert raw(arm, "POST", "/_arm/reset", api_version=None)[0] == 200
    assert raw(arm, "GET", "/_arm/requests", api_version=None)[2]["value"] == []
    assert raw(arm, "GET", f"{P}/networkSecurityGroups/n")[0] == 404
    assert raw(arm, "GET", "/_arm/nothing", api_version=None)[0] == 404


def test_if_match_preconditions(client, arm):
    etag = make_nsg(client).etag
    body = {"location": "westeurope"}
    assert raw(arm, "PUT", f"{P}/networkSecurityGroups/nsg1", body, headers={"If-Match": 'W/"stale"'})[0] == 412
    assert raw(arm, "PUT", f"{P}/networkSecurityGroups/nsg1", body, headers={"If-None-Match": "*"})[0] == 412
    assert raw(arm, "PUT", f"{P}/networkSecurityGroups/nsg1", body, headers={"If-Match": etag})[0] == 200


def test_command_line_starts_and_refuses_other_hosts():
    refused = subprocess.run(
        [sys.executable, "-m", "cloudports.emulators.arm", "--host", "0.0.0.0"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "127.0.0.1 only" in refused.stderr

    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudports.emulators.arm", "--port", "0", "--page-size", "7"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=5)
        conn.request("GET", "/_arm/health")
        assert json.loads(conn.getresponse().read())["status"] == "ok"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
