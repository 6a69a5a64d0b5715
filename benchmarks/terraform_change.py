"""Benchmark: what one flow change costs on each path, in writes and in declared flows blocked between writes.

The lab of issue 21 (corp -> web tcp/443, web -> app tcp/8080, app -> db tcp/5432, corp -> db tcp/22, strict
egress) is applied to a local moto server, then changed, once by `terraform apply` of the root `cloudports emit`
writes (parallelism 1) and once by `cloudports apply`. Every write the server carries out is counted, and after
each one the live rules are evaluated (tests/semantics.py) for every probe the spec allows before and after the
change: a probe that fails there is a declared flow blocked while the update runs.

    python benchmarks/terraform_change.py   # needs moto[server], terraform and a local hashicorp/aws mirror
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402

from cloudports.cli import main  # noqa: E402
from cloudports.emulators.aws import aws_env_for, create_vpc, start_moto_server  # noqa: E402
from tests.support.terraform_env import (  # noqa: E402
    TerraformRunner,
    find_provider_mirror,
    terraform_env,
    write_cli_config,
)
from tests.support.tf_change import change_spec, declared_both, watch_writes  # noqa: E402

BEFORE = ("10.20.0.0/24", "tcp/8080", ["tcp/5432"])
CHANGES = {
    "corp /24 -> /23": ("10.20.0.0/23", "tcp/8080", ["tcp/5432"]),
    "web->app tcp/8080 -> 8080-8081": ("10.20.0.0/24", "tcp/8080-8081", ["tcp/5432"]),
    "new app->db tcp/5433": ("10.20.0.0/24", "tcp/8080", ["tcp/5432", "tcp/5433"]),
    "all three (the issue's change)": ("10.20.0.0/23", "tcp/8080-8081", ["tcp/5432", "tcp/5433"]),
    "new app->db tcp/5431 (a key changes)": ("10.20.0.0/24", "tcp/8080", ["tcp/5431", "tcp/5432"]),
}


def quiet(*args: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(args))


def terraform_path(server, cli, work: Path, before: Path, after: Path) -> tuple[list[str], list[str]]:
    vpc = create_vpc(server.endpoint_url)
    root = work / "tf"
    tf = TerraformRunner(root, terraform_env(cli, aws_env_for(server.endpoint_url)))
    assert quiet("emit", str(before), "-t", "aws", "--out", str(root)) == 0
    assert tf.init()[0] == 0
    assert tf.apply({"vpc_id": vpc})[0] == 0
    assert quiet("emit", str(after), "-t", "aws", "--out", str(root)) == 0
    ec2 = boto3.client("ec2", endpoint_url=server.endpoint_url)
    found = watch_writes(server, ec2, vpc, declared_both(before, after))
    code, out, err = tf.apply({"vpc_id": vpc}, parallelism=1)
    server.after_write().clear()
    assert code == 0, out + err
    return found


def cloudports_path(server, before: Path, after: Path) -> tuple[list[str], list[str]]:
    vpc = create_vpc(server.endpoint_url)
    assert quiet("apply", str(before), "-t", "aws", "--vpc-id", vpc, "--auto-approve") == 0
    ec2 = boto3.client("ec2", endpoint_url=server.endpoint_url)
    found = watch_writes(server, ec2, vpc, declared_both(before, after))
    assert quiet("apply", str(after), "-t", "aws", "--vpc-id", vpc, "--auto-approve") == 0
    server.after_write().clear()
    return found


def row(name: str, path: str, writes: list[str], blocked: list[str]) -> str:
    counted = ", ".join(f"{n} {action}" for action, n in sorted(Counter(writes).items()))
    return f"{name:38} {path:10} {len(writes):>6}  {len(blocked):>7}  {counted}"


def run() -> None:
    mirror = find_provider_mirror("aws")
    if mirror is None:
        sys.exit("no local hashicorp/aws provider mirror: see tests/support/terraform_env.py")
    server = start_moto_server()
    os.environ.update(aws_env_for(server.endpoint_url))
    print(f"{'change':38} {'path':10} {'writes':>6}  {'blocked':>7}  writes by action")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cli = write_cli_config(Path(tmp) / "cli", mirror)
            for i, (name, after_args) in enumerate(CHANGES.items()):
                work = Path(tmp) / f"case{i}"
                work.mkdir()
                before, after = change_spec(work, "before", *BEFORE), change_spec(work, "after", *after_args)
                server.reset()
                print(row(name, "terraform", *terraform_path(server, cli, work, before, after)), flush=True)
                server.reset()
                print(row("", "cloudports", *cloudports_path(server, before, after)), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    run()
