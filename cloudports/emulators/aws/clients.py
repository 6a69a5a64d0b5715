"""Pointing AWS SDKs at a moto server: environment, boto3 clients, and a few calls to its own API.

Needs boto3 only (a cloudports dependency), not moto, so a client can talk to a server started elsewhere.
"""

from __future__ import annotations

import json
import urllib.request
from functools import cache
from typing import Any

import boto3  # boto3 ships no type information

# moto accepts any credentials and region; fixed values keep every client and Terraform run on the same backend.
REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def aws_env_for(endpoint_url: str) -> dict[str, str]:
    """Variables every AWS SDK (boto3, aws-sdk-go-v2 in the Terraform provider) honours.

    AWS_ENDPOINT_URL is the SDK-wide endpoint override; with static credentials in the environment
    the provider never needs IMDS, and AWS_EC2_METADATA_DISABLED makes sure it never tries.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@cache  # a client costs a tenth of a second to build (its service model); tests ask for one per test
def boto3_client(endpoint_url: str, service: str = "ec2") -> Any:
    """A boto3 client for the moto server, independent of the process environment."""
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    return session.client(service, endpoint_url=endpoint_url)


def create_vpc(endpoint_url: str, cidr_block: str = "10.0.0.0/16", ipv6: bool = True) -> str:
    """Create a VPC (with an Amazon-provided IPv6 block unless ipv6=False) and return its ID."""
    ec2 = boto3_client(endpoint_url)
    vpc = ec2.create_vpc(CidrBlock=cidr_block, AmazonProvidedIpv6CidrBlock=ipv6)["Vpc"]
    return str(vpc["VpcId"])


def reset_moto(endpoint_url: str) -> None:
    """Drop every resource in every moto backend (POST /moto-api/reset)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"moto reset failed: HTTP {response.status}")


def drop_answers(
    endpoint_url: str, rate: float, seed: int = 0, operations: list[str] | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Make a moto server started by cloudports (127.0.0.1 only) carry out `rate` of the write calls and then
    answer them with HTTP 500, as if the answer were lost (emulators/aws/faults.py). rate=0 switches it off.
    Returns the server's fault state, with the actions whose answers were dropped so far."""
    data = json.dumps({"drop_rate": rate, "seed": seed, "operations": operations or [], "limit": limit}).encode()
    request = urllib.request.Request(f"{endpoint_url}/moto-api/cloudports/faults", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        state: dict[str, Any] = json.load(response)
        return state


def dropped_answers(endpoint_url: str) -> list[str]:
    """The actions whose answers the fault injector dropped since it was switched on."""
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/cloudports/faults", timeout=30) as response:
        return list(json.load(response)["dropped"])


def moto_dashboard_state(endpoint_url: str) -> dict[str, Any]:
    """Raw moto model dump (GET /moto-api/data.json), handy when debugging a failing test."""
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/data.json", timeout=30) as response:
        state: dict[str, Any] = json.load(response)
        return state
