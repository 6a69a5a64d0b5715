"""Shared pytest fixtures.

Sections: Terraform CLI (offline, provider from a local mirror), AWS (a patched moto HTTP server) and Azure (the
local Resource Manager).
Helpers live in tests/support/; keep fixtures here thin and add new sections below the existing ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import runs
from tests.support.terraform_env import (
    TerraformCliConfig,
    find_provider_mirror,
    find_terraform,
    write_cli_config,
)

if TYPE_CHECKING:
    from cloudports.emulators.arm import ArmServer
    from cloudports.emulators.aws import MotoServer

REPO_ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------------
# The default run and the full run
# --------------------------------------------------------------------------------------------------
# `python -m pytest` is the quick run a change needs; `python -m pytest --full` (CI) adds the tests marked `slow`:
# the docs walk-throughs, the Terraform init/plan/apply tests and the property tests that apply random labs to an
# emulator, seconds to a minute each. A test that installs providers for Terraform (it asks for a CLI config
# fixture) is slow without saying so; any other is marked by hand, and never to hide a slow unit test.
TERRAFORM_INIT_FIXTURES = {"tf_cli_config", "tf_mirror_cli_config"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", help="also run the tests marked slow (CI runs them all)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: Terraform init/plan/apply, a docs walk-through, random labs; --full")
    runs.FULL = bool(config.getoption("--full"))  # before collection imports the test modules (their @settings)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if TERRAFORM_INIT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if config.getoption("--full") or config.getoption("-m"):  # an explicit -m chooses for itself
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def pytest_report_header(config: pytest.Config) -> str:
    full = config.getoption("--full")
    return "cloudports: the full run" if full else "cloudports: the quick run (`--full` adds the tests marked slow)"


@pytest.fixture(autouse=True)
def _consoles_of_this_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's commands print as they would into a pipe, and get consoles made in the test's own environment,
    as each command does in a process of its own. pytest-xdist sets COLUMNS=80 in its workers, and a console
    cached from an earlier test keeps the width that test set: either would wrap this test's tables (and cut the
    rule keys it looks for) only when the suite runs in parallel. A test that wants a width sets COLUMNS itself."""
    from cloudports.cli import console

    monkeypatch.delenv("COLUMNS", raising=False)
    console.out.cache_clear()
    console.err.cache_clear()


# --------------------------------------------------------------------------------------------------
# Terraform CLI
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def terraform_available() -> str:
    """Path of the terraform binary; skips the test when there is none."""
    binary = find_terraform()
    if binary is None:
        pytest.skip("terraform CLI not found on PATH (or CLOUDPORTS_TERRAFORM)")
    return binary


@pytest.fixture(scope="session")
def tf_cli_config(terraform_available: str, tmp_path_factory: pytest.TempPathFactory) -> TerraformCliConfig:
    """A CLI config installing hashicorp/aws only from the local mirror, via a symlinked plugin cache.

    Skips when no mirror holding terraform-provider-aws exists (there is no network to download it).
    """
    mirror = find_provider_mirror("aws")
    if mirror is None:
        pytest.skip(
            "no filesystem mirror with terraform-provider-aws (looked in CLOUDPORTS_TF_PLUGIN_MIRROR, "
            "/opt/tf-plugins, ~/.terraform.d/plugins, /usr/share/terraform/plugins, ...)"
        )
    return write_cli_config(tmp_path_factory.mktemp("terraform-cli"), mirror)


@pytest.fixture(scope="session")
def tf_mirror_cli_config(terraform_available: str, tmp_path_factory: pytest.TempPathFactory) -> TerraformCliConfig:
    """A CLI config installing providers only from a temporary mirror: the azurerm stand-in (tools/azurerm_schema,
    plan only) and, when the local mirror has it, the real hashicorp/aws.

    Needs nothing but Terraform: the stand-in is this repository's Python and the `tf` package (test extra).
    """
    from tests.support.azurerm_mirror import build_mirror

    mirror = build_mirror(tmp_path_factory.mktemp("tf-mirror"), find_provider_mirror("aws"))
    return write_cli_config(tmp_path_factory.mktemp("terraform-cli-mirror"), mirror)


# --------------------------------------------------------------------------------------------------
# AWS: moto as a real HTTP server on 127.0.0.1
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _moto_server_session() -> Iterator[MotoServer]:
    """One moto server for the whole session (started lazily, stopped at the end)."""
    pytest.importorskip("flask", reason="moto's server mode needs moto[server] (flask)")
    from cloudports.emulators.aws import start_moto_server

    server = start_moto_server()
    yield server
    server.stop()


@pytest.fixture
def moto_server(_moto_server_session: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Endpoint URL of a moto server with fresh state; AWS_* env points at it for this test only.

    The variables are set with monkeypatch, so subprocesses started by the test inherit them and
    they are gone after the test.
    """
    _moto_server_session.reset()
    for name, value in _moto_server_session.env().items():
        monkeypatch.setenv(name, value)
    return _moto_server_session.endpoint_url


@pytest.fixture
def aws_env(moto_server: str) -> dict[str, str]:
    """The AWS_* variables for the moto server, to pass explicitly to subprocesses (e.g. TerraformRunner)."""
    from cloudports.emulators.aws import aws_env_for

    return aws_env_for(moto_server)


@pytest.fixture
def vpc(moto_server: str) -> str:
    """A fresh VPC (with an IPv6 block) on the test's moto server."""
    from cloudports.emulators.aws import create_vpc

    return create_vpc(moto_server)


@pytest.fixture
def ec2(moto_server: str) -> Any:
    """A plain boto3 EC2 client on the test's moto server (for setting up and reading back, not cloudports')."""
    from cloudports.emulators.aws import boto3_client

    return boto3_client(moto_server)


# --------------------------------------------------------------------------------------------------
# Azure: the local Resource Manager (cloudports.emulators.arm)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _arm_module() -> Iterator[ArmServer]:
    from cloudports.emulators.arm import ArmServer

    with ArmServer() as srv:
        yield srv


@pytest.fixture
def arm(_arm_module: ArmServer, monkeypatch: pytest.MonkeyPatch) -> ArmServer:
    """A fresh local ARM server, and the environment pointing cloudports at it."""
    from tests.support.azure_live import point_cloudports_at

    _arm_module.reset()
    point_cloudports_at(_arm_module, monkeypatch)
    return _arm_module
