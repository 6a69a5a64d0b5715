"""What checkov reports on the plan JSON of each example's emitted roots (AWS, and Azure planned with the azurerm
stand-in of tools/azurerm_schema), without and with `.checkov.baseline`.

Not part of the test suite: checkov is not a cloudports dependency. Install it anywhere (a throwaway venv) and
point CHECKOV at it:

    python -m venv /tmp/checkov-venv && /tmp/checkov-venv/bin/pip install checkov
    CHECKOV=/tmp/checkov-venv/bin/checkov python benchmarks/checkov_plans.py [SPEC ...]

Each spec is emitted, planned with the local Terraform and AWS provider mirror against the moto emulator
(`-refresh=false`: nothing is created), shown as JSON and scanned (`checkov -f plan.json`); the counts of
failed checks are printed per check id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cloudports.cli import main as cloudports  # noqa: E402
from cloudports.emit.terraform_cli import find_provider_mirror, write_cli_config  # noqa: E402
from cloudports.emulators.aws import start_moto_server  # noqa: E402
from tests.support.azurerm_mirror import build_mirror  # noqa: E402


def _terraform(directory: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["terraform", *args], cwd=directory, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def plan_json(spec: Path, work: Path, env: dict[str, str], target: str) -> Path:
    root = work / spec.parent.name / target
    assert cloudports(["emit", str(spec), "-t", target, "--out", str(root)]) == 0
    _terraform(root, env, "init", "-backend=false", "-input=false")
    variables = ["-var", "vpc_id=vpc-0123456789abcdef0"] if target == "aws" else []
    _terraform(root, env, "plan", "-refresh=false", "-input=false", *variables, "-out", "p")
    path = root / "plan.json"
    path.write_text(_terraform(root, env, "show", "-json", "p"))
    return path


def scan(checkov: str, plan: Path, baseline: Path | None) -> Counter[str]:
    args = [checkov, "-f", str(plan), "--framework", "terraform_plan", "-o", "json", "--quiet", "--compact"]
    args += ["--baseline", str(baseline)] if baseline else []
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no guideline download
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    report = json.loads(done.stdout or "{}")
    report = report[0] if isinstance(report, list) else report
    failed = report.get("results", {}).get("failed_checks", [])
    return Counter(c["check_id"] for c in failed)


def main(argv: list[str]) -> int:
    checkov = os.environ.get("CHECKOV", "checkov")
    specs = [Path(a).resolve() for a in argv] or sorted(REPO.glob("examples/*/topology.yaml"))
    moto = start_moto_server()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mirror = build_mirror(work / "mirror", find_provider_mirror("aws"))  # aws, and the azurerm stand-in
        config = write_cli_config(work / "cli", mirror)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        env |= config.env() | {"AWS_ENDPOINT_URL": moto.endpoint_url, "AWS_ACCESS_KEY_ID": "testing"}
        env |= {"AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "CHECKPOINT_DISABLE": "1"}
        for spec in specs:
            for target in ("aws", "azure"):
                plan = plan_json(spec, work, env, target)
                baseline = plan.parent / ".checkov.baseline"
                without = scan(checkov, plan, None)
                with_baseline = scan(checkov, plan, baseline) if baseline.exists() else without
                print(
                    f"{spec.parent.name} {target}: {sum(without.values())} failed {dict(sorted(without.items()))}; "
                    f"with the baseline {sum(with_baseline.values())} {dict(sorted(with_baseline.items()))}",
                    flush=True,
                )
    moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
