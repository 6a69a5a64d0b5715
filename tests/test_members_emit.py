"""Terraform for machines named in the spec: members.tf carries one attachment per (role, machine) under a stable
key; tag selectors stay a live-path feature; a spec that stops naming machines leaves no stale members.tf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import yaml

from cloudports.cli import main
from tests.test_emit import _unquote


def _spec(tmp_path: Path, members: dict[str, Any]) -> Path:
    roles: dict[str, Any] = {"web": {}, "db": {}}
    for role, by_cloud in members.items():
        roles[role]["members"] = by_cloud
    path = tmp_path / "spec.yaml"
    spec = {"name": "m", "roles": roles, "flows": [{"from": "web", "to": "db", "services": ["tcp/5432"]}]}
    path.write_text(yaml.safe_dump(spec))
    return path


def _locals(path: Path) -> dict[str, Any]:
    parsed = hcl2.loads(path.read_text())
    return {k: _unquote(v) for block in parsed["locals"] for k, v in block.items()}


def _emit(spec: Path, out: Path, target: str) -> None:
    assert main(["emit", str(spec), "--target", target, "--out", str(out)]) == 0


def test_aws_members_by_id_become_keyed_attachments(tmp_path):
    eni, instance = "eni-0123456789abcdef0", "i-0123456789abcdef0"
    spec = _spec(
        tmp_path,
        {
            "web": {"aws": {"instance_ids": [instance], "tags": {"Role": "web"}}},
            "db": {"aws": {"network_interface_ids": [eni]}},
        },
    )
    _emit(spec, tmp_path / "out", "aws")
    text = (tmp_path / "out/members.tf").read_text()
    found = _locals(tmp_path / "out/members.tf")
    assert found["member_interfaces"] == {f"db/{eni}": {"role": "db", "network_interface_id": eni}}
    assert found["member_instances"] == {f"web/{instance}": {"role": "web", "instance_id": instance}}
    assert "selecting machines by tag" not in text and "by tag (web)" in text
    assert 'resource "aws_network_interface_sg_attachment" "member"' in text


def test_azure_named_nics_become_keyed_associations_and_vms_stay_live_only(tmp_path):
    spec = _spec(
        tmp_path,
        {
            "web": {"azure": {"network_interfaces": ["nic-1", {"name": "nic-2", "resource_group": "rg-x"}]}},
            "db": {"azure": {"virtual_machines": ["vm-db"]}},
        },
    )
    _emit(spec, tmp_path / "out", "azure")
    found = _locals(tmp_path / "out/members.tf")
    assert found["member_nics"] == {
        "web/-/nic-1": {"role": "web", "name": "nic-1", "resource_group": None},
        "web/rg-x/nic-2": {"role": "web", "name": "nic-2", "resource_group": "rg-x"},
    }
    assert "virtual machine (db)" in (tmp_path / "out/members.tf").read_text()


def test_a_spec_that_stops_naming_machines_leaves_no_members_file(tmp_path):
    out = tmp_path / "out"
    _emit(_spec(tmp_path, {"db": {"aws": {"network_interface_ids": ["eni-0123456789abcdef0"]}}}), out, "aws")
    assert (out / "members.tf").exists()
    _emit(_spec(tmp_path, {"db": {"aws": {"tags": {"Role": "db"}}}}), out, "aws")
    assert not (out / "members.tf").exists()


def test_emit_warns_for_each_role_whose_machines_members_tf_cannot_hold(tmp_path, capsys):
    """A role chosen by tag (or an Azure VM) is attached by `cloudports apply` only: emit says so, with the role's
    line, whether or not members.tf is written for other roles."""
    spec = _spec(
        tmp_path,
        {
            "web": {"aws": {"tags": {"Role": "web"}}, "azure": {"virtual_machines": ["vm-web"]}},
            "db": {"aws": {"network_interface_ids": ["eni-0123456789abcdef0"]}, "azure": {"tags": {"role": "db"}}},
        },
    )
    for target, role, how in (("aws", "web", "tag"), ("azure", "db", "tag"), ("azure", "web", "virtual machine")):
        _emit(spec, tmp_path / target, target)
        err = capsys.readouterr().err
        line = spec.read_text().splitlines().index(f"  {role}:") + 1
        assert f"{spec}:{line}:3: warning: {target}: role '{role}' chooses its machines by {how}" in err, err
        assert "members.tf cannot hold" in err and "cloudports apply" in err
    _emit(spec, tmp_path / "aws", "aws")
    assert "db" not in capsys.readouterr().err  # named interfaces: in members.tf, nothing to say
    only_named = _spec(tmp_path, {"db": {"aws": {"network_interface_ids": ["eni-0123456789abcdef0"]}}})
    _emit(only_named, tmp_path / "named", "aws")
    assert "warning" not in capsys.readouterr().err
