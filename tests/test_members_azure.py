"""Machines in roles on Azure: `members.azure` puts each selected NIC's IP configurations in the role's ASG, and
only those; drift reports a member outside its ASG and a non-member inside one; destroy takes cloudports' ASGs off
every NIC first. Against the local Resource Manager (cloudports.emulators.arm) through the real SDK."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudports.cli import main
from cloudports.emulators.arm import ArmServer
from tests.support.azure_live import SUB, sdk_client

RG = "rg-members"
OTHER_RG = "rg-other"
LOC = "westeurope"


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


class Lab:
    """A VNet with a subnet, a foreign ASG, and NICs (some belonging to VMs)."""

    def __init__(self, srv: ArmServer):
        self.srv, self.sdk = srv, sdk_client(srv)
        self.subnet = srv.add_subnet(SUB, RG, "vnet-lab", "servers", "10.5.1.0/24", location=LOC)
        self.foreign = self.asg("ops-foreign")

    def asg(self, name: str, rg: str = RG, location: str = LOC) -> str:
        poller = self.sdk.application_security_groups.begin_create_or_update(rg, name, {"location": location})
        return str(poller.result().id)

    def nic(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        configs: int = 1,
        rg: str = RG,
        subnet: str = "",
        foreign: bool = True,
    ) -> str:
        ip_configs = [
            {
                "name": f"ipconfig{i + 1}",
                "properties": {
                    "subnet": {"id": subnet or self.subnet},
                    "primary": i == 0,
                    "applicationSecurityGroups": [{"id": self.foreign}] if foreign else [],
                },
            }
            for i in range(configs)
        ]
        body = {"location": LOC, "tags": tags or {}, "properties": {"ipConfigurations": ip_configs}}
        return str(self.sdk.network_interfaces.begin_create_or_update(rg, name, body).result().id)

    def vm(self, name: str, nic_ids: list[str]) -> None:
        """A virtual machine using these NICs (Microsoft.Compute has no SDK in the project: plain REST)."""
        nics = [{"id": n, "properties": {"primary": i == 0}} for i, n in enumerate(nic_ids)]
        body = {"location": LOC, "properties": {"networkProfile": {"networkInterfaces": nics}}}
        path = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/{name}"
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
        conn.request("PUT", f"{path}?api-version=2024-07-01", json.dumps(body), headers)
        status = conn.getresponse().status
        conn.close()
        assert status in (200, 201)

    def asgs_of(self, name: str, rg: str = RG) -> list[set[str]]:
        """Per IP configuration, the names of the ASGs on it."""
        nic = self.sdk.network_interfaces.get(rg, name)
        return [
            {str(a.id).rsplit("/", 1)[-1] for a in c.application_security_groups or []} for c in nic.ip_configurations
        ]


@pytest.fixture
def lab(arm: ArmServer) -> Lab:
    return Lab(arm)


def spec_file(tmp_path: Path, members: dict[str, Any], name: str = "spec.yaml") -> Path:
    roles: dict[str, Any] = {"web": {}, "db": {}, "jump": {}}
    for role, selector in members.items():
        roles[role]["members"] = {"azure": selector}
    spec = {
        "name": "shop",
        "roles": roles,
        "flows": [
            {"from": "web", "to": "db", "services": ["tcp/5432"]},
            {"from": "jump", "to": ["web", "db"], "services": ["tcp/22"]},
        ],
        "targets": {"azure": {"resource_group": RG, "location": LOC}},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def apply(spec: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")
    assert code == 0, out + err


def drift(spec: Path, capsys: pytest.CaptureFixture) -> tuple[int, dict[str, Any]]:
    code, out, _ = cli(capsys, "drift", spec, "-t", "azure", "-f", "json")
    return code, json.loads(out)


def memberships(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["category"], c["name"]) for c in report["changes"] if c["kind"] == "membership"}


def test_apply_puts_members_in_their_asgs_only(lab, tmp_path, capsys):
    lab.nic("nic-web-1", {"role": "web"}, configs=2)
    lab.nic("nic-web-2", {"role": "web"})
    lab.nic("nic-db-1")
    lab.vm("vm-db", [lab.nic("nic-db-2")])
    lab.nic("nic-mail", {"role": "mail"})
    spec = spec_file(
        tmp_path,
        {"web": {"tags": {"role": "web"}}, "db": {"network_interfaces": ["nic-db-1"], "virtual_machines": ["vm-db"]}},
    )
    code, out, _ = cli(capsys, "plan", spec, "-t", "azure")
    assert code == 0 and out.count("membership") == 4, out

    apply(spec, capsys)
    assert lab.asgs_of("nic-web-1") == [{"ops-foreign", "shop-web-asg"}] * 2  # every IP configuration
    assert lab.asgs_of("nic-web-2") == [{"ops-foreign", "shop-web-asg"}]
    assert lab.asgs_of("nic-db-1") == lab.asgs_of("nic-db-2") == [{"ops-foreign", "shop-db-asg"}]
    assert lab.asgs_of("nic-mail") == [{"ops-foreign"}]
    assert drift(spec, capsys)[0] == 0


def test_drift_reports_a_hand_removal_and_a_hand_addition_and_apply_repairs_both(lab, tmp_path, capsys):
    lab.nic("nic-web", {"role": "web"})
    lab.nic("nic-stranger")
    spec = spec_file(tmp_path, {"web": {"tags": {"role": "web"}}})
    apply(spec, capsys)
    web_asg = lab.sdk.application_security_groups.get(RG, "shop-web-asg").id

    for name, asgs in (("nic-web", [lab.foreign]), ("nic-stranger", [lab.foreign, web_asg])):
        nic = lab.sdk.network_interfaces.get(RG, name)
        nic.ip_configurations[0].application_security_groups = [{"id": a} for a in asgs]
        lab.sdk.network_interfaces.begin_create_or_update(RG, name, nic).result()

    code, report = drift(spec, capsys)
    assert code == 2
    assert memberships(report) == {("missing", "nic-web/web"), ("extra", "nic-stranger/web")}
    apply(spec, capsys)
    assert lab.asgs_of("nic-web") == [{"ops-foreign", "shop-web-asg"}]
    assert lab.asgs_of("nic-stranger") == [{"ops-foreign"}]
    assert drift(spec, capsys)[0] == 0


def test_a_nic_of_another_resource_group_named_by_reference(lab, tmp_path, capsys, arm):
    subnet = arm.add_subnet(SUB, OTHER_RG, "vnet-lab2", "servers", "10.6.1.0/24", location=LOC)
    lab.nic("nic-far", rg=OTHER_RG, subnet=subnet, foreign=False)  # ops-foreign is bound to vnet-lab
    # the ASG is bound to its first NIC's VNet: keep this role's NICs in vnet-lab2 only
    spec = spec_file(tmp_path, {"jump": {"network_interfaces": [{"name": "nic-far", "resource_group": OTHER_RG}]}})
    apply(spec, capsys)
    assert lab.asgs_of("nic-far", OTHER_RG) == [{"shop-jump-asg"}]


def test_destroy_takes_asgs_off_nics_and_leaves_the_foreign_ones(lab, tmp_path, capsys):
    lab.nic("nic-web", {"role": "web"})
    lab.vm("vm-db", [lab.nic("nic-db")])
    spec = spec_file(tmp_path, {"web": {"tags": {"role": "web"}}, "db": {"virtual_machines": ["vm-db"]}})
    apply(spec, capsys)
    code, out, err = cli(capsys, "destroy", spec, "-t", "azure", "--auto-approve")
    assert code == 0, out + err
    assert lab.asgs_of("nic-web") == lab.asgs_of("nic-db") == [{"ops-foreign"}]
    assert [a.name for a in lab.sdk.application_security_groups.list(RG)] == ["ops-foreign"]


def test_a_role_removed_from_the_spec_leaves_its_nics_before_its_asg_is_deleted(lab, tmp_path, capsys):
    lab.nic("nic-web", {"role": "web"})
    apply(spec_file(tmp_path, {"web": {"tags": {"role": "web"}}, "jump": {"tags": {"role": "web"}}}), capsys)
    assert lab.asgs_of("nic-web") == [{"ops-foreign", "shop-web-asg", "shop-jump-asg"}]
    smaller = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    del smaller["roles"]["jump"]
    smaller["flows"] = smaller["flows"][:1]
    (tmp_path / "smaller.yaml").write_text(yaml.safe_dump(smaller))
    apply(tmp_path / "smaller.yaml", capsys)
    assert lab.asgs_of("nic-web") == [{"ops-foreign", "shop-web-asg"}]
    assert "shop-jump-asg" not in {a.name for a in lab.sdk.application_security_groups.list(RG)}


def test_a_member_in_another_vnet_gets_azures_error_clearly(lab, tmp_path, capsys, arm):
    other = arm.add_subnet(SUB, RG, "vnet-elsewhere", "servers", "10.7.1.0/24", location=LOC)
    lab.nic("nic-web-1", {"role": "web"})
    lab.nic("nic-web-2", {"role": "web"}, subnet=other, foreign=False)
    spec = spec_file(tmp_path, {"web": {"tags": {"role": "web"}}})
    code, out, _ = cli(capsys, "plan", spec, "-t", "azure")
    assert code == 0 and "2 virtual networks (vnet-elsewhere, vnet-lab)" in out
    arm.clear_request_log()
    code, out, err = cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")
    assert code == 1
    assert "role web: its machines (nic-web-1, nic-web-2) are in 2 virtual networks" in err
    assert "one virtual network" in err and "nothing was changed" in err
    # refused before any write: which NIC Azure would have refused depends on which write lands first
    assert not [m for m, *_ in arm.request_log if m != "GET"]


def test_members_named_that_do_not_exist_are_reported(lab, tmp_path, capsys):
    spec = spec_file(tmp_path, {"db": {"virtual_machines": ["vm-nowhere"]}})
    code, out, _ = cli(capsys, "plan", spec, "-t", "azure")
    assert code == 0 and "rg-members/vm-nowhere, not found" in out


def test_query_live_judges_nics_by_the_asgs_they_really_carry(lab, tmp_path, capsys):
    lab.nic("nic-web", {"role": "web"}, foreign=False)
    lab.vm("vm-db", [lab.nic("nic-db", foreign=False)])
    lab.nic("nic-stranger", foreign=False)
    spec = spec_file(tmp_path, {"web": {"tags": {"role": "web"}}, "db": {"virtual_machines": ["vm-db"]}})
    apply(spec, capsys)

    def query(src: str, dst: str, port: str) -> tuple[int, str]:
        code, out, err = cli(capsys, "query", spec, "-t", "azure", "--live", "--from", src, "--to", dst, "-p", port)
        assert code in (0, 3), out + err
        return code, out

    code, out = query("nic-web", "vm-db", "tcp/5432")
    assert code == 0 and "machine nic-web" in out
    assert query("nic-stranger", "vm-db", "tcp/5432")[0] == 3
    assert query("vm-db", "nic-web", "tcp/5432")[0] == 3


def test_independent_writes_run_side_by_side_up_to_the_concurrency_limit(tmp_path, capsys, monkeypatch):
    """The NICs' writes of an apply and a destroy are independent: with CLOUDPORTS_AZURE_CONCURRENCY=4 up to 4
    long-running operations run at once on the server, with 1 never more than one. (How much time that saves is
    measured in benchmarks/members.py.)"""
    from tests.support.azure_live import point_cloudports_at

    def peak(concurrency: int) -> int:
        with ArmServer(lro_latency=0.2) as srv:
            point_cloudports_at(srv, monkeypatch)
            monkeypatch.setenv("CLOUDPORTS_AZURE_POLLING_INTERVAL", "0.05")
            monkeypatch.setenv("CLOUDPORTS_AZURE_CONCURRENCY", str(concurrency))
            lab = Lab(srv)
            for i in range(6):
                lab.nic(f"nic-web-{i}", {"role": "web"})
            spec = spec_file(tmp_path, {"web": {"tags": {"role": "web"}}})
            apply(spec, capsys)
            assert all(lab.asgs_of(f"nic-web-{i}") == [{"ops-foreign", "shop-web-asg"}] for i in range(6))
            code, out, _ = cli(capsys, "destroy", spec, "-t", "azure", "--auto-approve")
            assert code == 0 and all(lab.asgs_of(f"nic-web-{i}") == [{"ops-foreign"}] for i in range(6))
            return srv.peak_operations

    assert peak(1) == 1
    assert 2 <= peak(4) <= 4


def test_every_write_is_reported_to_the_progress_bar_also_from_concurrent_writers(lab, tmp_path):
    """apply reports each write with the number of plan changes it carries out (the CLI's bar counts them), the
    NIC writes too, which run in worker threads."""
    from cloudports.live.progress import reporting
    from cloudports.pipeline import compile_spec
    from cloudports.targets.azure import TARGET as AZURE

    for i in range(3):
        lab.nic(f"nic-web-{i}", {"role": "web"})
    backend = AZURE.open_backend(compile_spec(spec_file(tmp_path, {"web": {"tags": {"role": "web"}}})), {}, False)
    plan = backend.plan()
    seen: list[tuple[str, int]] = []
    with reporting(lambda what, changes: seen.append((what, changes))):
        backend.apply(plan)
    assert {f"network interface nic-web-{i}" for i in range(3)} <= {what for what, _ in seen}
    assert sum(n for _, n in seen) >= len(plan.changes)


def test_a_member_in_another_region_is_refused_before_anything_is_written(lab, tmp_path, capsys, arm):
    north = arm.add_subnet(SUB, RG, "vnet-north", "servers", "10.9.1.0/24", location="northeurope")
    body = {
        "location": "northeurope",
        "tags": {"role": "web"},
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": north}}}]},
    }
    lab.sdk.network_interfaces.begin_create_or_update(RG, "nic-north", body).result()
    spec = spec_file(tmp_path, {"web": {"tags": {"role": "web"}}})
    arm.clear_request_log()
    code, out, err = cli(capsys, "apply", spec, "-t", "azure", "--auto-approve")
    assert code == 1 and "nic-north" in err and "same region" in err
    assert not [m for m, *_ in arm.request_log if m != "GET"], "nothing was written"
