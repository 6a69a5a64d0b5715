"""Running the Terraform CLI (through python-terraform) without ever downloading anything.

A CLI config file points provider installation at a local filesystem mirror (the machine image carries the
hashicorp/aws provider there) and forbids direct downloads, so `terraform init` works offline or fails fast.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from python_terraform import Terraform

MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)


def terraform_binary() -> str | None:
    return shutil.which("terraform")


def find_mirror() -> Path | None:
    """The first filesystem mirror that holds any provider (CLOUDPORTS_TF_MIRROR overrides the search)."""
    explicit = os.environ.get("CLOUDPORTS_TF_MIRROR")
    candidates = [explicit] if explicit else list(MIRROR_CANDIDATES)
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if path.is_dir() and any(path.glob("*/*/*/*/*/terraform-provider-*")):
            return path
    return None


def mirrored_providers(mirror: Path) -> set[str]:
    """e.g. {'hashicorp/aws'} for registry.terraform.io/hashicorp/aws/<version>/<platform>/terraform-provider-aws*."""
    return {f"{p.parts[-5]}/{p.parts[-4]}" for p in mirror.glob("*/*/*/*/*/terraform-provider-*")}


def write_cli_config(directory: Path, mirror: Path | None) -> Path:
    """A CLI config that installs only from the mirror, caching plugins so the big binary is linked, not copied."""
    cache = directory / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    installation = (
        f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["*/*/*"]\n  }}\n'
        if mirror
        else "provider_installation {\n"
    )
    text = (
        f'plugin_cache_dir = "{cache}"\nplugin_cache_may_break_dependency_lock_file = true\n'
        + installation
        + '  direct {\n    exclude = ["*/*/*"]\n  }\n}\n'
    )
    path = directory / "terraformrc"
    path.write_text(text)
    return path


@dataclass
class TerraformRun:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout or "") + (self.stderr or "")


class TerraformCLI:
    """python-terraform with an offline CLI config and no interactive prompts."""

    def __init__(self, working_dir: Path, config_dir: Path | None = None, env: dict[str, str] | None = None):
        self.working_dir = Path(working_dir)
        if config_dir is None:
            # A persistent plugin cache: the provider binary is copied once per machine, then linked.
            config_dir = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "cloudports" / "terraform"
        self.cli_config = write_cli_config(Path(config_dir), find_mirror())
        self.env = {
            **os.environ,
            **(env or {}),
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        self.tf = Terraform(working_dir=str(self.working_dir))

    def run(self, *args: str) -> TerraformRun:
        # python-terraform's cmd() passes the environment of the current process; set ours for the call.
        saved = os.environ.copy()
        try:
            os.environ.clear()
            os.environ.update(self.env)
            code, out, err = self.tf.cmd(*args, capture_output=True, raise_on_error=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return TerraformRun(code, out or "", err or "")

    def fmt_check(self) -> TerraformRun:
        return self.run("fmt", "-check", "-recursive", "-no-color")

    def init(self) -> TerraformRun:
        return self.run("init", "-no-color", "-input=false", "-backend=false")

    def validate(self) -> TerraformRun:
        return self.run("validate", "-no-color")
