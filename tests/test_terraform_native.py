"""`terraform test` on the modules' own tests (modules/*/tests/*.tftest.hcl), the way a module user runs them:
the AWS module applied against the local moto server with the real hashicorp/aws provider, the Azure module
planned with the azurerm stand-in (tools/azurerm_schema). Both providers come from the session's mirror.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from python_terraform import IsFlagged

from tests.support.terraform_env import TerraformCliConfig, TerraformRunner, find_provider_mirror, terraform_env

REPO = Path(__file__).resolve().parent.parent


def _terraform_test(module: str, cli: TerraformCliConfig, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    """init and `terraform test` in a copy of the module (init must not write into the repository)."""
    copy = tmp_path / module
    shutil.copytree(REPO / "modules" / module, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    tf = TerraformRunner(copy, env=terraform_env(cli, env), timeout=300)
    code, out, err = tf.init()
    assert code == 0, out + err
    code, out, err = tf.cmd("test", no_color=IsFlagged)
    assert code == 0, f"terraform test failed:\n{out}\n{err}"
    return out


def _runs(module: str) -> list[str]:
    """The run blocks the module's test files declare (each must be reported as passed)."""
    text = "".join(p.read_text() for p in sorted((REPO / "modules" / module / "tests").glob("*.tftest.hcl")))
    return [line.split('"')[1] for line in text.splitlines() if line.startswith("run ")]


def test_aws_module_native_tests_pass_against_moto(
    tf_mirror_cli_config: TerraformCliConfig, moto_server: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    if find_provider_mirror("aws") is None:
        pytest.skip("no filesystem mirror with terraform-provider-aws")
    out = _terraform_test("aws-security-groups", tf_mirror_cli_config, tmp_path, aws_env)
    runs = _runs("aws-security-groups")
    assert len(runs) >= 4 and all(f'run "{name}"... pass' in out for name in runs), out
    assert f"Success! {len(runs)} passed, 0 failed." in out


def test_azure_module_native_tests_pass_with_the_standin(
    tf_mirror_cli_config: TerraformCliConfig, tmp_path: Path
) -> None:
    out = _terraform_test("azure-nsg", tf_mirror_cli_config, tmp_path)
    runs = _runs("azure-nsg")
    assert len(runs) >= 4 and all(f'run "{name}"... pass' in out for name in runs), out
    assert f"Success! {len(runs)} passed, 0 failed." in out
