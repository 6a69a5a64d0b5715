"""The pre-commit hook this repository offers: it is well formed, picks the specs, and its command passes good specs
and refuses a bad one (run as pre-commit runs it: the entry, then the changed files)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())


def _run_hook(hook: dict, files: list[Path]) -> subprocess.CompletedProcess[str]:
    entry = shlex.split(hook["entry"])
    assert entry[0] == "cloudports"  # the console script pre-commit installs; here: this tree's module
    argv = [sys.executable, "-m", "cloudports", *entry[1:], *map(str, files)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)


def test_the_hooks_are_well_formed() -> None:
    assert [h["id"] for h in HOOKS] == ["cloudports-validate"]
    for hook in HOOKS:
        assert {"id", "name", "entry", "language", "files"} <= set(hook) and hook["language"] == "python"


def test_the_validate_hook_picks_the_specs_and_passes_the_examples() -> None:
    hook = HOOKS[0]
    examples = sorted((REPO / "examples").glob("*/topology.yaml"))
    picked = [p for p in examples if re.search(hook["files"], str(p.relative_to(REPO)))]
    assert picked == examples and not re.search(hook["files"], "examples/x/terraform/aws/main.tf")
    result = _run_hook(hook, picked[:3])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok ") == 3


def test_the_validate_hook_refuses_a_commit_with_a_bad_spec(tmp_path: Path) -> None:
    bad = tmp_path / "topology.yaml"
    bad.write_text("name: lab\nroles: {web: {}}\nflows:\n  - {from: web, to: wbe, services: [tcp/443]}\n")
    good = REPO / "examples" / "three-tier-web" / "topology.yaml"
    result = _run_hook(HOOKS[0], [good, bad])
    assert result.returncode == 1
    assert f"{bad}:4:" in result.stderr and "did you mean 'web'" in result.stderr and "ok " in result.stdout
