"""The EC2 client cloudports uses, and the translation of AWS failures into one clear CloudportsError each.

Credentials, region and endpoint come from boto3's standard chain (profiles, environment, AWS_ENDPOINT_URL /
AWS_ENDPOINT_URL_EC2, config files); nothing here knows about emulators.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError, ProfileNotFound
from botocore.exceptions import ConnectionError as EndpointUnreachable

from cloudports import __version__
from cloudports.errors import CloudportsError, Diagnostic

# Authorize/Revoke share EC2's "resource-intensive" throttle bucket (50 tokens, 5/s): retry throttling and lost
# answers (5xx, reset connections) with backoff and jitter ("standard" mode) rather than boto3's legacy default,
# 6 attempts in all (up to about a minute of backoff). Both are only defaults: AWS_RETRY_MODE / AWS_MAX_ATTEMPTS
# or retry_mode / max_attempts in the profile win, as everywhere in boto3 (docs/aws-live.md).
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 6
PAGE_SIZE = 1000  # the largest MaxResults DescribeSecurityGroups / DescribeSecurityGroupRules accept
FILTER_VALUES = 200  # stay well inside EC2's limit on values per filter

_HINTS = {
    "RulesPerSecurityGroupLimitExceeded": (
        "raise AWS quota L-0EA8095F ('Inbound or outbound rules per security group') and "
        "targets.aws.max_rules_per_group in the spec, or narrow the flows into this role"
    ),
    "InvalidPermission.Duplicate": "the rule already exists; run `cloudports plan` again, it will read it back",
    "DependencyViolation": (
        "something still uses or references this group (an instance, a network interface or another group's rule); "
        "detach or remove that first"
    ),
    "RequestLimitExceeded": (
        "EC2 throttled the account for longer than the retries lasted; wait a minute and run apply again, "
        "it continues from where it stopped"
    ),
    "UnauthorizedOperation": (
        "the credentials in use may not make this call; grant ec2:Describe*, ec2:CreateSecurityGroup, "
        "ec2:DeleteSecurityGroup, ec2:AuthorizeSecurityGroup*, ec2:RevokeSecurityGroup*, "
        "ec2:ModifySecurityGroupRules and ec2:CreateTags, or use another --profile"
    ),
    "InvalidVpcID.NotFound": (
        "check --vpc-id (or targets.aws.vpc_id) and the region (--region, the spec, AWS_DEFAULT_REGION)"
    ),
    "InvalidGroup.NotFound": "the group was deleted while cloudports worked; run `cloudports plan` again",
    "InvalidGroup.Duplicate": (
        "a group with this name already exists in the VPC and is not this spec's; rename or delete it, or take an "
        "untagged one over with --adopt"
    ),
    "AuthFailure": "AWS rejected the credentials; check the profile or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
}
_HINTS["Throttling"] = _HINTS["RequestLimitExceeded"]
_HINTS["InvalidGroupId.NotFound"] = _HINTS["InvalidGroup.NotFound"]


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


@cache
def _model_loader() -> Any:
    """botocore's loader of service models, shared by every session of this process.

    A new session otherwise parses EC2's service model (megabytes of JSON) again: half the cost of a client, paid
    once per spec by a fleet drift. The loader holds only those static files, nothing of credentials or config.
    """
    return botocore.session.get_session().get_component("data_loader")


def ec2_client(profile: str | None, region: str | None, spec_region: str) -> Any:
    """An EC2 client: --profile and --region first, then boto3's chain, then the spec's default region."""
    core = botocore.session.Session()
    core.register_component("data_loader", _model_loader())
    try:
        session = boto3.session.Session(botocore_session=core, profile_name=profile)
        core.get_scoped_config()  # an unknown profile is refused here, as boto3 does for a session of its own
    except ProfileNotFound as exc:
        raise CloudportsError(
            [Diagnostic(None, f"aws: {exc}", "list profiles with `aws configure list-profiles`")]
        ) from None
    config = Config(retries=retry_config(session), user_agent_extra=f"cloudports/{__version__}")
    with aws_errors("connecting to EC2", f"region {region or session.region_name or spec_region}"):
        return session.client("ec2", region_name=region or session.region_name or spec_region, config=config)


def retry_config(session: Any) -> dict[str, Any]:
    """cloudports' retry defaults, for whatever the user did not set in the environment or the profile."""
    core = session._session  # botocore's session: its config chain (environment, then the profile's config)
    retries: dict[str, Any] = {}
    if not (os.environ.get("AWS_RETRY_MODE") or core.get_scoped_config().get("retry_mode")):
        retries["mode"] = DEFAULT_RETRY_MODE
    if core.get_config_variable("max_attempts") is None:
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    return retries


def translate(exc: ClientError, action: str, subject: str = "") -> CloudportsError:
    """One AWS error -> one CloudportsError that says what was being done, to what, and what to do about it."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", str(exc))
    where = f" ({subject})" if subject else ""
    return CloudportsError([Diagnostic(None, f"aws: {action}{where} failed: {code}: {message}", _HINTS.get(code, ""))])


@contextmanager
def aws_errors(action: str, subject: str = "") -> Iterator[None]:
    """Turns any AWS or SDK failure inside the block into one CloudportsError naming what was being done."""
    where = f" ({subject})" if subject else ""
    try:
        yield
    except ClientError as exc:
        raise translate(exc, action, subject) from None
    except NoCredentialsError:
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"aws: {action}{where}: no AWS credentials found",
                    "use --profile, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                )
            ]
        ) from None
    except (EndpointUnreachable, HTTPClientError) as exc:  # refused, timed out, TLS failed, connection lost
        raise CloudportsError(
            [
                Diagnostic(
                    None,
                    f"aws: {action}{where}: cannot reach EC2: {exc}",
                    "check the network, or AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EC2 (or the profile's endpoint_url) "
                    "and the region (--region, AWS_DEFAULT_REGION)",
                )
            ]
        ) from None
    except BotoCoreError as exc:  # bad region, malformed parameters, ...
        raise CloudportsError([Diagnostic(None, f"aws: {action}{where} failed: {exc}")]) from None


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
