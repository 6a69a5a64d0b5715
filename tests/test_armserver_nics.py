"""Network interfaces and virtual machines of the local ARM server: NICs through the real (unpatched)
azure-mgmt-network client, VMs (Microsoft.Compute, no SDK in the project) through raw HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from cloudports.emulators.arm import ArmServer
from cloudports.emulators.arm.client import make_network_client

SUB = "00000000-0000-0000-0000-0000000000bb"
RG = "rg-nics"
LOC = "westeurope"
NET = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network"
COMPUTE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
COMPUTE_API = "2024-07-01"


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


@pytest.fixture
def subnet(arm: ArmServer) -> str:
    """vnet-a/app = 10.1.1.0/24 in westeurope; its id."""
    return arm.add_subnet(SUB, RG, "vnet-a", "app", "10.1.1.0/24")


def raw(arm: ArmServer, method: str, path: str, body: Any = None, *, api: str = COMPUTE_API) -> tuple[int, Any]:
    """One HTTP request without the SDK: (status, parsed JSON body or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", arm.port, timeout=10)
    try:
        sep = "&" if "?" in path else "?"
        headers = {"Authorization": "Bearer test", "Content-Type": "application/json"}
        conn.request(method, f"{path}{sep}api-version={api}", None if body is None else json.dumps(body), headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    finally:
        conn.close()


def ip_config(subnet_id: str, name: str = "ipconfig1", asgs: Sequence[str] = (), **props: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"subnet": {"id": subnet_id}, **props}
    if asgs:
        body["applicationSecurityGroups"] = [{"id": a} for a in asgs]
    return {"name": name, "properties": body}


def make_nic(client, name: str, *configs: dict[str, Any], location: str = LOC, **props: Any):
    body = {"location": location, "properties": {"ipConfigurations": list(configs), **props}}
    return client.network_interfaces.begin_create_or_update(RG, name, body).result()


def make_asg(client, name: str, location: str = LOC) -> str:
    return client.application_security_groups.begin_create_or_update(RG, name, {"location": location}).result().id


def expect_error(call, status: int, code: str) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        call()
    assert info.value.status_code == status, info.value
    assert info.value.error is not None and info.value.error.code == code, info.value
    return info.value


def put_vm(arm: ArmServer, name: str, *nics: tuple[str, bool | None], location: str = LOC) -> tuple[int, Any]:
    refs = [
        {"id": nic_id, **({} if primary is None else {"properties": {"primary": primary}})} for nic_id, primary in nics
    ]
    props = {"hardwareProfile": {"vmSize": "Standard_B1s"}, "networkProfile": {"networkInterfaces": refs}}
    body = {"location": location, "tags": {"role": "web"}, "properties": props}
    return raw(arm, "PUT", f"{COMPUTE}/virtualMachines/{name}", body)


def asg_ids_of(nic) -> list[str]:
    groups = nic.properties.ip_configurations[0].properties.application_security_groups or []
    return [g.id for g in groups]


# --------------------------------------------------------------------------------------------- NICs


def test_nic_create_assigns_addresses_from_the_subnet(client, arm, subnet):
    first = make_nic(client, "nic1", ip_config(subnet))
    config = first.properties.ip_configurations[0]
    assert first.type == "Microsoft.Network/networkInterfaces"
    assert first.id == f"{NET}/networkInterfaces/nic1"
    assert first.etag.startswith('W/"') and first.properties.provisioning_state == "Succeeded"
    assert first.properties.resource_guid
    assert config.id == f"{NET}/networkInterfaces/nic1/ipConfigurations/ipconfig1"
    assert config.properties.subnet.id == subnet
    assert config.properties.primary is True  # the only configuration is primary without being told
    assert config.properties.private_ip_allocation_method == "Dynamic"
    assert config.properties.private_ip_address == "10.1.1.4"  # .0-.3 are reserved by Azure
    second = make_nic(client, "nic2", ip_config(subnet))
    assert second.properties.ip_configurations[0].properties.private_ip_address == "10.1.1.5"
    static = make_nic(
        client, "nic3", ip_config(subnet, privateIPAddress="10.1.1.200", privateIPAllocationMethod="static")
    )
    assert static.properties.ip_configurations[0].properties.private_ip_address == "10.1.1.200"
    assert static.properties.ip_configurations[0].properties.private_ip_allocation_method == "Static"
    assert first.properties.virtual_machine is None
    # The usual LRO sequence: PUT, two polls of the operation, the final GET.
    log = [(m, p.rsplit("/", 2)[-2]) for m, p, _ in arm.request_log[-4:]]
    assert log == [
        ("PUT", "networkInterfaces"),
        ("GET", "operations"),
        ("GET", "operations"),
        ("GET", "networkInterfaces"),
    ]


def test_static_address_checks(client, subnet):
    make_nic(client, "nic1", ip_config(subnet, privateIPAddress="10.1.1.10"))
    cases = [("10.1.2.10", "PrivateIPAddressNotInSubnet"), ("10.1.1.2", "PrivateIPAddressInReservedRange"),
             ("10.1.1.255", "PrivateIPAddressInReservedRange"), ("10.1.1.10", "PrivateIPAddressInUse"),
             ("10.1.1.x", "InvalidPrivateIPAddress")]  # fmt: skip
    for address, code in cases:
        expect_error(lambda a=address: make_nic(client, "nic2", ip_config(subnet, privateIPAddress=a)), 400, code)
    assert [n.name for n in client.network_interfaces.list(RG)] == ["nic1"]  # a refused PUT creates nothing


def test_get_modify_put_round_trip_keeps_address_and_changes_etag(client, subnet):
    make_nic(client, "nic1", ip_config(subnet))
    make_nic(client, "nic2", ip_config(subnet))
    got = client.network_interfaces.get(RG, "nic2")
    got.tags = {"env": "test"}
    again = client.network_interfaces.begin_create_or_update(RG, "nic2", got).result()  # read-only fields included
    assert again.properties.ip_configurations[0].properties.private_ip_address == "10.1.1.5"
    assert again.tags == {"env": "test"} and again.etag != got.etag
    # Without the address in the body, the configuration keeps the one it has.
    body = {"location": LOC, "properties": {"ipConfigurations": [ip_config(subnet)]}}
    kept = client.network_interfaces.begin_create_or_update(RG, "nic2", body).result()
    assert kept.properties.ip_configurations[0].properties.private_ip_address == "10.1.1.5"
    patched = client.network_interfaces.update_tags(RG, "nic2", {"tags": {"a": "b"}})
    assert patched.tags == {"a": "b"} and patched.etag != kept.etag


def test_add_and_remove_asgs_with_if_match(client, subnet):
    web, api = make_asg(client, "asg-web"), make_asg(client, "asg-api")
    make_nic(client, "nic1", ip_config(subnet))
    nic = client.network_interfaces.get(RG, "nic1")
    # Whole ASG models (as get() returns them) are accepted: only their id counts.
    web_model = client.application_security_groups.get(RG, "asg-web")
    nic.properties.ip_configurations[0].properties.application_security_groups = [web_model, {"id": api}]
    added = client.network_interfaces.begin_create_or_update(RG, "nic1", nic, headers={"If-Match": nic.etag}).result()
    assert asg_ids_of(added) == [web, api]
    assert asg_ids_of(client.network_interfaces.get(RG, "nic1")) == [web, api]
    # The etag the first update was based on is stale now: 412, and nothing changes.
    nic.properties.ip_configurations[0].properties.application_security_groups = []
    stale = {"If-Match": nic.etag}
    expect_error(lambda: client.network_interfaces.begin_create_or_update(RG, "nic1", nic, headers=stale), 412,
                 "PreconditionFailed")  # fmt: skip
    assert asg_ids_of(client.network_interfaces.get(RG, "nic1")) == [web, api]
    # With the current etag the ASG can be removed.
    current = client.network_interfaces.get(RG, "nic1")
    current.properties.ip_configurations[0].properties.application_security_groups = [{"id": api}]
    removed = client.network_interfaces.begin_create_or_update(
        RG, "nic1", current, headers={"If-Match": current.etag}
    ).result()
    assert asg_ids_of(removed) == [api]


def test_asg_of_another_vnet_is_refused(client, arm, subnet):
    other = arm.add_subnet(SUB, RG, "vnet-b", "app", "10.2.1.0/24")
    web = make_asg(client, "asg-web")
    make_nic(client, "nic-a", ip_config(subnet, asgs=[web]))
    err = expect_error(
        lambda: make_nic(client, "nic-b", ip_config(other, asgs=[web])),
        400,
        "ApplicationSecurityGroupIpConfigurationsMustBeInSameVnet",
    )
    assert "vnet-a" in err.message and "vnet-b" in err.message
    make_nic(client, "nic-b", ip_config(other))  # the same NIC without the ASG is fine
    # Once the ASG's last member in vnet-a leaves it, vnet-b may use it.
    make_nic(client, "nic-a", ip_config(subnet))
    assert asg_ids_of(make_nic(client, "nic-b", ip_config(other, asgs=[web]))) == [web]


def test_all_ip_configurations_of_a_nic_reference_the_same_asgs(client, subnet):
    web = make_asg(client, "asg-web")
    configs = [ip_config(subnet, "one", asgs=[web], primary=True), ip_config(subnet, "two", primary=False)]
    err = expect_error(
        lambda: make_nic(client, "nic1", *configs),
        400,
        "AllIpConfigurationsOnANicMustBelongToTheSameApplicationSecurityGroups",
    )
    assert "wheras" in err.message  # Azure's spelling
    configs[1] = ip_config(subnet, "two", asgs=[web], primary=False)
    nic = make_nic(client, "nic1", *configs)
    assert [c.properties.private_ip_address for c in nic.properties.ip_configurations] == ["10.1.1.4", "10.1.1.5"]


@pytest.mark.parametrize(
    ("configs", "code"),
    [
        (lambda s, a: [ip_config(s, "one"), ip_config(s, "two")], "NetworkInterfaceMustHaveOneOneIPConfigAsPrimary"),
        (
            lambda s, a: [ip_config(s, "one", primary=True), ip_config(s, "two", primary=True)],
            "NetworkInterfaceMustHaveOneOneIPConfigAsPrimary",
        ),
        (lambda s, a: [ip_config(s, "one"), ip_config(s, "ONE")], "DuplicateResourceName"),
        (lambda s, a: [ip_config(s.replace("/app", "/nope"))], "InvalidResourceReference"),
        (lambda s, a: [ip_config(s, asgs=[a.replace("asg-web", "asg-missing")])], "InvalidResourceReference"),
        (lambda s, a: [ip_config(s, asgs=["asg-web"])], "LinkedInvalidPropertyId"),
        (lambda s, a: [{"name": "ipconfig1", "properties": {}}], "SubnetReferenceRequired"),
        (lambda s, a: [], "NetworkInterfaceMustHaveAtLeastOneIpConfiguration"),
        (lambda s, a: [ip_config(s, privateIPAllocationMethod="Sometimes")], "InvalidRequestFormat"),
    ],
)
def test_nic_validation(client, subnet, configs, code):
    web = make_asg(client, "asg-web")
    expect_error(lambda: make_nic(client, "nic1", *configs(subnet, web)), 400, code)
    with pytest.raises(ResourceNotFoundError):
        client.network_interfaces.get(RG, "nic1")


def test_location_rules(client, arm, subnet):
    east_asg = make_asg(client, "asg-east", location="eastus")
    expect_error(lambda: make_nic(client, "nic1", ip_config(subnet, asgs=[east_asg])), 400, "InvalidResourceReference")
    expect_error(
        lambda: make_nic(client, "nic1", ip_config(subnet), location="eastus"), 400, "InvalidResourceReference"
    )
    make_nic(client, "nic1", ip_config(subnet))
    expect_error(
        lambda: make_nic(client, "nic1", ip_config(subnet), location="northeurope"), 400, "InvalidResourceLocation"
    )


def test_at_most_20_asgs_per_ip_configuration(client, subnet):
    asgs = [make_asg(client, f"asg{i}") for i in range(21)]
    assert len(asg_ids_of(make_nic(client, "nic1", ip_config(subnet, asgs=asgs[:20])))) == 20
    expect_error(
        lambda: make_nic(client, "nic1", ip_config(subnet, asgs=asgs)),
        400,
        "NumberOfApplicationSecurityGroupsReferencedInIpConfigurationLimitReached",
    )


def test_ip_configurations_of_a_nic_share_one_subnet(client, arm, subnet):
    other = arm.add_subnet(SUB, RG, "vnet-a", "db", "10.1.2.0/24")
    configs = [ip_config(subnet, "one", primary=True), ip_config(other, "two", primary=False)]
    expect_error(
        lambda: make_nic(client, "nic1", *configs), 400, "IpConfigurationsOnSameNicCannotBelongToDifferentSubnets"
    )


def test_list_per_group_and_subscription_follows_next_link():
    with ArmServer(page_size=2) as srv, make_network_client(srv.url, SUB, retry_total=0) as c:
        net = srv.add_subnet(SUB, RG, "vnet-a", "app", "10.1.1.0/24")
        for i in range(5):
            make_nic(c, f"nic{i}", ip_config(net))
        other = srv.add_subnet(SUB, "rg-other", "vnet-o", "app", "10.9.1.0/24")
        assert other == NET.replace(RG, "rg-other") + "/virtualNetworks/vnet-o/subnets/app"
        c.network_interfaces.begin_create_or_update(
            "rg-other", "nic-o", {"location": LOC, "properties": {"ipConfigurations": [ip_config(other)]}}
        ).result()
        srv.clear_request_log()
        assert [n.name for n in c.network_interfaces.list(RG)] == [f"nic{i}" for i in range(5)]
        assert len([r for r in srv.request_log if r[0] == "GET"]) == 3  # three pages of two
        assert sorted(n.name for n in c.network_interfaces.list_all()) == sorted(
            ["nic-o", *(f"nic{i}" for i in range(5))]
        )
        status, page = raw(srv, "GET", f"{NET}/networkInterfaces", api="2026-03-01")
        assert status == 200 and len(page["value"]) == 2
        assert urlsplit(page["nextLink"]).query.startswith("api-version=2026-03-01&$skipToken=2")


def test_asg_referenced_by_a_nic_cannot_be_deleted(client, subnet):
    web = make_asg(client, "asg-web")
    make_nic(client, "nic1", ip_config(subnet, asgs=[web]))
    err = expect_error(
        lambda: client.application_security_groups.begin_delete(RG, "asg-web").result(),
        400,
        "InUseApplicationSecurityGroupCannotBeDeleted",
    )
    assert "ipConfigurations/ipconfig1" in err.message
    client.network_interfaces.begin_delete(RG, "nic1").result()
    client.application_security_groups.begin_delete(RG, "asg-web").result()
    with pytest.raises(ResourceNotFoundError):
        client.application_security_groups.get(RG, "asg-web")


def test_nsg_on_a_nic(client, subnet):
    nsg = client.network_security_groups.begin_create_or_update(RG, "nsg1", {"location": LOC}).result()
    nic = make_nic(client, "nic1", ip_config(subnet), networkSecurityGroup={"id": nsg.id})
    assert nic.properties.network_security_group.id == nsg.id
    assert [n.id for n in client.network_security_groups.get(RG, "nsg1").properties.network_interfaces] == [nic.id]
    expect_error(
        lambda: client.network_security_groups.begin_delete(RG, "nsg1").result(),
        400,
        "InUseNetworkSecurityGroupCannotBeDeleted",
    )
    missing = nsg.id.replace("nsg1", "nsg2")
    expect_error(lambda: make_nic(client, "nic2", ip_config(subnet), networkSecurityGroup={"id": missing}),
                 400, "InvalidResourceReference")  # fmt: skip


def test_subnet_with_nics_cannot_be_deleted(client, arm, subnet):
    make_nic(client, "nic1", ip_config(subnet))
    expect_error(lambda: client.subnets.begin_delete(RG, "vnet-a", "app").result(), 400, "InUseSubnetCannotBeDeleted")
    expect_error(lambda: client.virtual_networks.begin_delete(RG, "vnet-a").result(), 400, "InUseSubnetCannotBeDeleted")
    client.network_interfaces.begin_delete(RG, "nic1").result()
    client.subnets.begin_delete(RG, "vnet-a", "app").result()


def test_write_while_the_nic_operation_runs_is_refused(client, arm, subnet):
    body = {"location": LOC, "properties": {"ipConfigurations": [ip_config(subnet)]}}
    client.network_interfaces.begin_create_or_update(RG, "nic1", body, polling=False)
    assert client.network_interfaces.get(RG, "nic1").properties.provisioning_state == "Updating"
    expect_error(lambda: make_nic(client, "nic1", ip_config(subnet)), 409, "AnotherOperationInProgress")
    arm.complete_operations()
    assert client.network_interfaces.get(RG, "nic1").properties.provisioning_state == "Succeeded"


# --------------------------------------------------------------------------------------------- VMs


def test_vm_links_its_nics_and_blocks_their_deletion(client, arm, subnet):
    nic1 = make_nic(client, "nic1", ip_config(subnet))
    nic2 = make_nic(client, "nic2", ip_config(subnet))
    status, vm = put_vm(arm, "vm1", (nic1.id, True), (nic2.id, False))
    assert status == 201
    assert vm["id"] == f"{COMPUTE}/virtualMachines/vm1" and vm["type"] == "Microsoft.Compute/virtualMachines"
    assert vm["properties"]["provisioningState"] == "Succeeded" and vm["tags"] == {"role": "web"}
    assert vm["properties"]["networkProfile"]["networkInterfaces"] == [
        {"id": nic1.id, "properties": {"primary": True}},
        {"id": nic2.id, "properties": {"primary": False}},
    ]
    first, second = client.network_interfaces.get(RG, "nic1"), client.network_interfaces.get(RG, "nic2")
    assert first.properties.virtual_machine.id == vm["id"] == second.properties.virtual_machine.id
    assert first.properties.primary is True and second.properties.primary is False
    assert first.properties.mac_address and first.etag != nic1.etag
    err = expect_error(lambda: client.network_interfaces.begin_delete(RG, "nic1").result(), 400, "NicInUse")
    assert vm["id"] in err.message
    assert raw(arm, "GET", f"{COMPUTE}/virtualMachines/vm1")[1] == vm
    assert [v["name"] for v in raw(arm, "GET", f"{COMPUTE}/virtualMachines")[1]["value"]] == ["vm1"]


def test_vm_update_and_delete_release_nics(client, arm, subnet):
    nic1 = make_nic(client, "nic1", ip_config(subnet))
    nic2 = make_nic(client, "nic2", ip_config(subnet))
    put_vm(arm, "vm1", (nic1.id, True), (nic2.id, False))
    status, _ = put_vm(arm, "vm1", (nic1.id, None))  # one NIC: primary without saying so
    assert status == 200
    assert client.network_interfaces.get(RG, "nic2").properties.virtual_machine is None
    assert client.network_interfaces.get(RG, "nic1").properties.primary is True
    client.network_interfaces.begin_delete(RG, "nic2").result()
    # A NIC a VM uses keeps working as a NIC: its ASGs can change, the VM link stays (read-only in a PUT body).
    web = make_asg(client, "asg-web")
    nic = client.network_interfaces.get(RG, "nic1")
    nic.properties.ip_configurations[0].properties.application_security_groups = [{"id": web}]
    updated = client.network_interfaces.begin_create_or_update(RG, "nic1", nic).result()
    assert asg_ids_of(updated) == [web] and updated.properties.virtual_machine.id.endswith("/virtualMachines/vm1")
    assert raw(arm, "DELETE", f"{COMPUTE}/virtualMachines/vm1")[0] == 200
    assert client.network_interfaces.get(RG, "nic1").properties.virtual_machine is None
    assert raw(arm, "GET", f"{COMPUTE}/virtualMachines/vm1")[0] == 404
    assert raw(arm, "DELETE", f"{COMPUTE}/virtualMachines/vm1")[0] == 204
    client.network_interfaces.begin_delete(RG, "nic1").result()


def test_vm_validation(client, arm, subnet):
    nic1 = make_nic(client, "nic1", ip_config(subnet))
    nic2 = make_nic(client, "nic2", ip_config(subnet))
    put_vm(arm, "vm1", (nic1.id, None))
    status, body = put_vm(arm, "vm2", (nic1.id, None))
    assert (status, body["error"]["code"]) == (400, "NicInUse")
    status, body = put_vm(arm, "vm2", (nic2.id, None), (nic2.id.replace("nic2", "nic3"), None))
    assert (status, body["error"]["code"]) == (400, "InvalidResourceReference")
    status, body = put_vm(arm, "vm2", (nic2.id, None), location="eastus")
    assert (status, body["error"]["code"]) == (400, "InvalidResourceReference")
    status, body = put_vm(arm, "vm2")
    assert (status, body["error"]["code"]) == (400, "InvalidParameter")
    nic3 = make_nic(client, "nic3", ip_config(subnet))
    status, body = put_vm(arm, "vm2", (nic2.id, None), (nic3.id, None))
    assert (status, body["error"]["code"]) == (400, "VirtualMachineMustHaveOneNetworkInterfaceAsPrimary")
    assert client.network_interfaces.get(RG, "nic2").properties.virtual_machine is None  # nothing was linked
    assert raw(arm, "GET", f"{COMPUTE}/virtualMachines/vm2")[0] == 404


def rule_between(source: str, destination: str) -> dict[str, Any]:
    return {
        "protocol": "Tcp",
        "access": "Allow",
        "direction": "Inbound",
        "priority": 100,
        "sourcePortRange": "*",
        "destinationPortRange": "443",
        "sourceApplicationSecurityGroups": [{"id": source}],
        "destinationApplicationSecurityGroups": [{"id": destination}],
    }


def test_asgs_of_one_rule_stay_in_one_vnet(client, arm, subnet):
    other = arm.add_subnet(SUB, RG, "vnet-b", "app", "10.2.1.0/24")
    web, db = make_asg(client, "asg-web"), make_asg(client, "asg-db")
    client.network_security_groups.begin_create_or_update(RG, "nsg1", {"location": LOC}).result()
    client.security_rules.begin_create_or_update(
        RG, "nsg1", "web-to-db", {"properties": rule_between(web, db)}
    ).result()
    make_nic(client, "nic-web", ip_config(subnet, asgs=[web]))
    # NIC side: a db member in another virtual network would split the rule across two.
    code = "AllApplicationSecurityGroupsInSecurityRuleMustBeFromSameVnet"
    err = expect_error(lambda: make_nic(client, "nic-db", ip_config(other, asgs=[db])), 400, code)
    assert "web-to-db" in err.message
    make_nic(client, "nic-db", ip_config(subnet, asgs=[db]))  # same virtual network: fine
    # Rule side: ASGs whose members are in different virtual networks cannot meet in one rule.
    lone = make_asg(client, "asg-lone")
    make_nic(client, "nic-lone", ip_config(other, asgs=[lone]))
    rule = {"properties": rule_between(lone, db)}
    expect_error(lambda: client.security_rules.begin_create_or_update(RG, "nsg1", "lone", rule).result(), 400, code)
    nsg = {"location": LOC, "properties": {"securityRules": [{"name": "x", "properties": rule_between(lone, web)}]}}
    expect_error(lambda: client.network_security_groups.begin_create_or_update(RG, "nsg1", nsg).result(), 400, code)
