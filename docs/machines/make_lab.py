"""Create the machines of docs/machines/lab.yaml on a local emulator, as a lab builder would have them.

    python docs/machines/make_lab.py aws VPC_ID     # moto (AWS_ENDPOINT_URL): 2 web, 1 db, 1 jump instance
    python docs/machines/make_lab.py azure          # local ARM (CLOUDPORTS_ARM_ENDPOINT): the same as NICs

Every machine also carries a group cloudports does not own ("ops-monitoring"), which cloudports leaves alone.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from urllib.parse import urlsplit

import boto3

ROLES = ["web", "web", "db", "jump"]


def aws(vpc: str) -> None:
    ec2 = boto3.client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ops = ec2.create_security_group(GroupName="ops-monitoring", Description="monitoring agents", VpcId=vpc)
    for role in ROLES:
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": role}]}]
        launched = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet,
            SecurityGroupIds=[ops["GroupId"]],
            TagSpecifications=tags,
        )["Instances"][0]
        print(f"{role:5} {launched['InstanceId']} {launched['PrivateIpAddress']}")


def azure() -> None:
    from cloudports.emulators.arm.client import make_network_client

    endpoint, sub, rg = os.environ["CLOUDPORTS_ARM_ENDPOINT"], os.environ["AZURE_SUBSCRIPTION_ID"], "rg-shop"
    _call(
        endpoint,
        "POST",
        "/_arm/subnets",
        {
            "subscription": sub,
            "resourceGroup": rg,
            "vnet": "vnet-shop",
            "subnet": "servers",
            "prefix": "10.2.1.0/24",
            "location": "westeurope",
        },
    )
    client = make_network_client(endpoint, sub, retry_total=0)
    ops = client.application_security_groups.begin_create_or_update(rg, "ops-monitoring", {"location": "westeurope"})
    ops_id = ops.result().id
    network = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
    subnet = f"{network}/virtualNetworks/vnet-shop/subnets/servers"
    names = {"web": ["nic-web-1", "nic-web-2"], "db": ["nic-db-1"], "jump": ["nic-jump-1"]}
    for role, nics in names.items():
        for name in nics:
            config = {
                "name": "ipconfig1",
                "properties": {"subnet": {"id": subnet}, "applicationSecurityGroups": [{"id": ops_id}]},
            }
            tags = {"role": role} if role == "web" else {}
            body = {"location": "westeurope", "tags": tags, "properties": {"ipConfigurations": [config]}}
            nic = client.network_interfaces.begin_create_or_update(rg, name, body).result()
            print(f"{role:5} {name} {nic.ip_configurations[0].private_ip_address}")
    vm = {
        "location": "westeurope",
        "properties": {"networkProfile": {"networkInterfaces": [{"id": f"{network}/networkInterfaces/nic-jump-1"}]}},
    }
    _call(
        endpoint,
        "PUT",
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/"
        "vm-jump?api-version=2024-07-01",
        vm,
    )


def _call(endpoint: str, method: str, path: str, body: dict) -> None:
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {
        "Authorization": f"Bearer {os.environ.get('CLOUDPORTS_AZURE_TOKEN', 'x')}",
        "Content-Type": "application/json",
    }
    conn.request(method, path, json.dumps(body), headers)
    answer = conn.getresponse()
    if answer.status >= 300:
        raise SystemExit(f"{method} {path}: HTTP {answer.status} {answer.read()[:300]!r}")
    conn.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["aws"] and len(sys.argv) == 3:
        aws(sys.argv[2])
    elif sys.argv[1:] == ["azure"]:
        azure()
    else:
        raise SystemExit(__doc__)
