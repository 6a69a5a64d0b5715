"""Running the Terraform CLI (through python-terraform) without ever downloading anything.

A CLI config file points provider installation at a local filesystem mirror and forbids direct downloads,
so `terraform init` works offline or fails fast. The mirror's platform directories are symlinked into the
plugin cache, so init links `.terraform/providers/...` to the mirror instead of copying the provider binary
(~700 MB for hashicorp/aws) into every working directory.

Used by `cloudports emit --check`, and by the test suite (tests/support/terraform_env.py builds on it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform, TerraformCommandError

# Terraform's implied local mirror directories and common system locations;
# CLOUDPORTS_TF_PLUGIN_MIRROR, when set, is searched first.
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)


def find_terraform() -> str | None:
    """Path of the terraform binary (CLOUDPORTS_TERRAFORM or PATH), or None."""
    explicit = os.environ.get("CLOUDPORTS_TERRAFORM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("terraform")


def find_provider_mirror(provider: str, candidates: Iterable[str] | None = None) -> Path | None:
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
        patterns = (f"*/*/{provider}/*/*/terraform-provider-{provider}*", f"*/*/{provider}/terraform-provider-*.zip")
        if any(path.is_file() for pattern in patterns for path in root.glob(pattern)):
            return root
    return None


@dataclass(frozen=True)
class TerraformCliConfig:
    """A written CLI configuration file and what it points at."""

    path: Path
    mirror: Path | None
    plugin_cache_dir: Path

    def env(self) -> dict[str, str]:
        return {"TF_CLI_CONFIG_FILE": str(self.path)}


def link_mirror_into_cache(mirror: Path, cache_dir: Path) -> list[Path]:
    """Symlink every unpacked ``HOST/NS/TYPE/VERSION/OS_ARCH`` directory of the mirror into cache_dir.

    The link must be at the OS_ARCH level: a symlinked VERSION directory makes Terraform resolve the cache
    entry to the mirror itself and refuse to "install ... to itself".
    """
    links = []
    for platform_dir in sorted(mirror.glob("*/*/*/*/*_*")):
        if not platform_dir.is_dir():
            continue
        link = cache_dir / platform_dir.relative_to(mirror)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            with contextlib.suppress(FileExistsError):  # another cloudports linked it meanwhile
                link.symlink_to(platform_dir.resolve(), target_is_directory=True)
        links.append(link)
    return links


def write_cli_config(directory: Path, mirror: Path | None, include: Iterable[str] = ("*/*/*",)) -> TerraformCliConfig:
    """Write ``terraform.rc`` and a plugin cache under directory; providers come only from the mirror."""
    directory.mkdir(parents=True, exist_ok=True)
    cache_dir = directory / "plugin-cache"
    cache_dir.mkdir(exist_ok=True)
    mirror_block = ""
    if mirror is not None:
        link_mirror_into_cache(mirror, cache_dir)
        include_list = ", ".join(f'"{name}"' for name in include)
        mirror_block = f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = [{include_list}]\n  }}\n'
    text = (
        "# Written by cloudports: offline provider installation, never a download.\n"
        f"provider_installation {{\n{mirror_block}"
        '  direct {\n    exclude = ["*/*/*"]\n  }\n}\n\n'
        f'plugin_cache_dir                            = "{cache_dir}"\n'
        "plugin_cache_may_break_dependency_lock_file = true\n"
        "disable_checkpoint                          = true\n"
    )
    path = directory / "terraform.rc"
    # Written aside and renamed into place: the per-user file is shared, and a Terraform started by another
    # cloudports at the same moment must never read it half written (it would then look for the registry).
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)
    return TerraformCliConfig(path=path, mirror=mirror, plugin_cache_dir=cache_dir)


def default_cli_config(provider: str | None) -> TerraformCliConfig:
    """A per-user CLI config under the cache directory (XDG_CACHE_HOME), pointing at the provider's mirror.

    One per provider: an `emit --check` of another target at the same moment writes its own file, never this one
    (an Azure check, which has no mirror, would otherwise take the AWS check's mirror away mid-run)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "cloudports" / "terraform"
    directory = cache / (provider or "no-provider")
    return write_cli_config(directory, find_provider_mirror(provider) if provider else None)


class TerraformCLI(Terraform):
    """python-terraform's ``Terraform`` with an explicit environment and a timeout.

    Only the process launch is replaced: python-terraform builds the argument list, and each command gets
    the environment given here (CLI config, automation flags) instead of whatever os.environ holds.
    Every method returns ``(return_code, stdout, stderr)`` like python-terraform does.
    """

    def __init__(
        self,
        working_dir: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        terraform_bin_path: str | None = None,
        timeout: float = 300,
        provider: str | None = None,
    ) -> None:
        super().__init__(working_dir=str(working_dir), terraform_bin_path=terraform_bin_path or find_terraform())
        if env is None:
            env = {**os.environ, **default_cli_config(provider).env()}
        self.env = {**env, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
        self.timeout = timeout

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        raise_on_error = kwargs.pop("raise_on_error", False)
        kwargs.pop("capture_output", None)
        kwargs.pop("synchronous", None)
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        try:
            proc = subprocess.run(
                argv, cwd=self.working_dir, env=self.env, capture_output=True, text=True, timeout=self.timeout
            )
        finally:
            self.temp_var_files.clean_up()  # -var-file JSON files python-terraform wrote for dict vars
        if proc.returncode == 0:
            self.read_state_file()
        if proc.returncode != 0 and raise_on_error:
            raise TerraformCommandError(proc.returncode, " ".join(argv), out=proc.stdout, err=proc.stderr)
        return proc.returncode, proc.stdout, proc.stderr

    def init(self, **kwargs: Any) -> tuple[int, str, str]:
        kwargs.setdefault("var", None)  # init needs no variables
        return super().init(**kwargs)

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
        """``terraform validate``; with json_output, stdout is the machine-readable report."""
        return self.cmd("validate", json=IsFlagged if json_output else None, no_color=IsFlagged)
