"""Run the real Terraform CLI in tests, offline, with the provider taken from a local mirror.

There is no network: providers come from a filesystem mirror (layout
``HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_*``), and direct installation is
disabled. The mirror's unpacked platform directories are symlinked into a plugin cache directory, so
``terraform init`` links ``.terraform/providers/...`` to the mirror instead of copying the provider
binary (~700 MB for hashicorp/aws) into every working directory. Init then costs about two seconds
(Terraform hashes the package once per init for the lock file).

Commands go through python-terraform (``python_terraform.Terraform``); :class:`TerraformRunner` only
replaces its process launch so that each command gets an explicit environment (CLI config, automation
flags, the moto endpoint) instead of whatever the test process happens to have in ``os.environ``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform, TerraformCommandError

# Where provider mirrors usually live (Terraform's implied local mirror directories and common
# system locations). CLOUDPORTS_TF_PLUGIN_MIRROR, when set, is searched first.
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"

# Inherited variables that would change what Terraform or the AWS SDK does (a developer's profile,
# a service-specific endpoint that bypasses moto, a stray TF_VAR_...). Dropped before every command.
_SCRUBBED_PREFIXES = ("AWS_", "TF_", "ARM_")
_KEPT_VARIABLES = frozenset({"TF_LOG", "TF_LOG_PATH", "TF_LOG_PROVIDER", "TF_LOG_CORE"})  # debugging only


def find_terraform() -> str | None:
    """Path of the terraform binary (CLOUDPORTS_TERRAFORM or PATH), or None."""
    explicit = os.environ.get("CLOUDPORTS_TERRAFORM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("terraform")


def find_provider_mirror(provider: str = "aws", candidates: Iterable[str] | None = None) -> Path | None:
    """Root of a filesystem mirror holding terraform-provider-<provider>, or None.

    Handles both mirror layouts: unpacked (``ROOT/HOST/NS/TYPE/VERSION/OS_ARCH/terraform-provider-*``)
    and packed (``ROOT/HOST/NS/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip``).
    """
    roots = list(candidates) if candidates is not None else list(MIRROR_CANDIDATES)
    if candidates is None and os.environ.get("CLOUDPORTS_TF_PLUGIN_MIRROR"):
        roots.insert(0, os.environ["CLOUDPORTS_TF_PLUGIN_MIRROR"])
    for raw in roots:
        root = Path(raw).expanduser()
        if not root.is_dir():
            continue
        for binary in sorted(root.glob(f"*/*/{provider}/*/*/terraform-provider-{provider}*")):
            if binary.is_file():
                return root
        for archive in sorted(root.glob(f"*/*/{provider}/terraform-provider-{provider}_*.zip")):
            if archive.is_file():
                return root
    return None


@dataclass(frozen=True)
class TerraformCliConfig:
    """A written CLI configuration file and what it points at."""

    path: Path
    mirror: Path
    plugin_cache_dir: Path

    def env(self) -> dict[str, str]:
        return {"TF_CLI_CONFIG_FILE": str(self.path)}


def link_mirror_into_cache(mirror: Path, cache_dir: Path) -> list[Path]:
    """Symlink every unpacked ``HOST/NS/TYPE/VERSION/OS_ARCH`` directory of the mirror into cache_dir.

    Terraform then finds the provider "already cached" and links the working directory to it. The link
    must be at the OS_ARCH level: a symlinked VERSION directory makes Terraform resolve the cache entry
    to the mirror itself and refuse to "install ... to itself".
    """
    links = []
    for platform_dir in sorted(mirror.glob("*/*/*/*/*_*")):
        if not platform_dir.is_dir():
            continue
        relative = platform_dir.relative_to(mirror)
        link = cache_dir / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(platform_dir.resolve(), target_is_directory=True)
        links.append(link)
    return links


def write_cli_config(directory: Path, mirror: Path, include: Iterable[str] = (AWS_PROVIDER,)) -> TerraformCliConfig:
    """Write ``terraform.rc`` + a plugin cache under directory; installs only from the mirror."""
    directory.mkdir(parents=True, exist_ok=True)
    cache_dir = directory / "plugin-cache"
    cache_dir.mkdir(exist_ok=True)
    link_mirror_into_cache(mirror, cache_dir)
    include_list = ", ".join(f'"{name}"' for name in include)
    text = f"""\
# Written by tests/support/terraform_env.py: offline provider installation for tests.
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = [{include_list}]
  }}
  direct {{
    exclude = ["registry.terraform.io/*/*"]
  }}
}}

plugin_cache_dir                            = "{cache_dir}"
plugin_cache_may_break_dependency_lock_file = true
disable_checkpoint                          = true
"""
    path = directory / "terraform.rc"
    path.write_text(text)
    return TerraformCliConfig(path=path, mirror=mirror, plugin_cache_dir=cache_dir)


def terraform_env(cli_config: TerraformCliConfig | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment for a terraform subprocess.

    The inherited environment minus AWS_*/TF_*/ARM_* variables, plus the CLI config, the automation
    flags and `extra` (e.g. the moto endpoint from tests.support.moto_server.aws_env_for).
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


class TerraformRunner(Terraform):
    """python-terraform's ``Terraform`` with an explicit environment, a timeout and test-friendly wrappers.

    Every wrapper returns ``(return_code, stdout, stderr)`` like python-terraform does.
    """

    def __init__(
        self,
        working_dir: str | os.PathLike[str],
        env: Mapping[str, str],
        terraform_bin_path: str | None = None,
        timeout: float = 300,
    ) -> None:
        super().__init__(working_dir=str(working_dir), terraform_bin_path=terraform_bin_path or find_terraform())
        self.env = dict(env)
        self.timeout = timeout

    # python-terraform builds the argument list; only the process launch is ours.
    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        raise_on_error = kwargs.pop("raise_on_error", False)
        kwargs.pop("capture_output", None)
        kwargs.pop("synchronous", None)
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        try:
            proc = subprocess.run(
                argv,
                cwd=self.working_dir,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        finally:
            self.temp_var_files.clean_up()  # -var-file JSON files python-terraform wrote for dict vars
        if proc.returncode == 0:
            self.read_state_file()
        if proc.returncode != 0 and raise_on_error:
            raise TerraformCommandError(proc.returncode, " ".join(argv), out=proc.stdout, err=proc.stderr)
        return proc.returncode, proc.stdout, proc.stderr

    def init(self, **kwargs: Any) -> tuple[int, str, str]:  # type: ignore[override]
        kwargs.setdefault("var", None)  # init needs no variables
        return super().init(**kwargs)

    def apply(self, variables: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[int, str, str]:  # type: ignore[override]
        """``terraform apply -auto-approve``; variables go to a JSON -var-file, so maps/objects work."""
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

    def fmt(self, target: str = ".", check: bool = True, recursive: bool = True) -> tuple[int, str, str]:
        """``terraform fmt [-check] [-recursive] -diff TARGET`` (relative to working_dir)."""
        return self.cmd(
            "fmt",
            target,
            check=IsFlagged if check else None,
            recursive=IsFlagged if recursive else None,
            diff=IsFlagged,
            no_color=IsFlagged,
        )

    def validate(self, json_output: bool = False) -> tuple[int, str, str]:
        """``terraform validate``; with json_output, stdout is the machine-readable report (diagnostics)."""
        return self.cmd("validate", json=IsFlagged if json_output else None, no_color=IsFlagged)
