"""Run the real Terraform CLI in tests, offline, with the provider taken from a local mirror.

The offline machinery (mirror discovery, CLI config, plugin-cache links, the python-terraform runner with an
explicit environment) is cloudports' own, in cloudports/emit/terraform_cli.py; this module adds what only
tests need: an environment scrubbed of a developer's AWS/Terraform settings, and apply/plan/destroy/output
wrappers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from python_terraform import IsFlagged, TerraformCommandError

from cloudports.emit.terraform_cli import (  # noqa: F401  (re-exported for tests and benchmarks)
    MIRROR_CANDIDATES,
    TerraformCLI,
    TerraformCliConfig,
    find_provider_mirror,
    find_terraform,
    link_mirror_into_cache,
    write_cli_config,
)

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"

# Inherited variables that would change what Terraform or the AWS SDK does (a developer's profile,
# a service-specific endpoint that bypasses moto, a stray TF_VAR_...). Dropped before every command.
_SCRUBBED_PREFIXES = ("AWS_", "TF_", "ARM_")
_KEPT_VARIABLES = frozenset({"TF_LOG", "TF_LOG_PATH", "TF_LOG_PROVIDER", "TF_LOG_CORE"})  # debugging only


def terraform_env(cli_config: TerraformCliConfig | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment for a terraform subprocess.

    The inherited environment minus AWS_*/TF_*/ARM_* variables, plus the CLI config, the automation
    flags and `extra` (e.g. the moto endpoint from cloudports.emulators.aws.aws_env_for).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES) or k in _KEPT_VARIABLES}
    env |= {
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        # Keep a developer's ~/.aws out of it; the credentials come from the environment.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    if cli_config is not None:
        env |= cli_config.env()
    if extra:
        env |= dict(extra)
    return env


class TerraformRunner(TerraformCLI):
    """cloudports' TerraformCLI plus the apply/plan/destroy/output wrappers tests use."""

    def apply(self, variables: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[int, str, str]:  # type: ignore[override]
        """``terraform apply -auto-approve``; variables go to a JSON -var-file, so maps/objects work.

        Parallelism defaults to 2 here: moto's backends are plain dicts without locks, and ten concurrent
        Authorize calls (Terraform's default) have been seen to fail once in a full-suite run with an error the
        provider retried into InvalidPermission.Duplicate. Real EC2 has no such race; this only spares the
        tests a moto flake. Benchmarks pass parallelism explicitly when they want Terraform's default.
        """
        kwargs.setdefault("parallelism", 2)
        return super().apply(skip_plan=True, var=dict(variables or {}), **kwargs)

    def plan(  # type: ignore[override]
        self, variables: Mapping[str, Any] | None = None, detailed_exitcode: bool = True, **kwargs: Any
    ) -> tuple[int, str, str]:
        """``terraform plan``; with detailed_exitcode: 0 = no changes, 1 = error, 2 = changes."""
        flag = IsFlagged if detailed_exitcode else None
        return super().plan(detailed_exitcode=flag, var=dict(variables or {}), **kwargs)

    def destroy(self, variables: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[int, str, str]:  # type: ignore[override]
        return self.cmd("destroy", auto_approve=IsFlagged, no_color=IsFlagged, input=False, var=dict(variables or {}))

    def output(self, name: str | None = None) -> Any:  # type: ignore[override]
        """Output values decoded from ``terraform output -json``: one value, or {name: value} for all.

        (python-terraform 0.10.1 expects the pre-0.14 ``{"value": ...}`` wrapper for a named output.)
        """
        code, out, err = self.cmd("output", *([name] if name else []), json=IsFlagged, no_color=IsFlagged)
        if code != 0:
            raise TerraformCommandError(code, f"terraform output {name or ''}", out=out, err=err)
        value = json.loads(out)
        return value if name else {key: item["value"] for key, item in value.items()}
