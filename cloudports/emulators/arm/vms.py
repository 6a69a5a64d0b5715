"""Microsoft.Compute virtual machines, reduced to their link to network interfaces.

cloudports does not depend on azure-mgmt-compute, so VMs are written with a plain JSON PUT
(``{"location", "tags", "properties": {"networkProfile": {"networkInterfaces": [{"id", "properties":
{"primary"}}]}}}``) and answered synchronously (201/200, ``provisioningState: Succeeded``, no operation to poll).
A VM PUT sets ``properties.virtualMachine`` of every NIC it references and clears it on the NICs it no longer
references; DELETE clears them all. Everything else about a VM (size, image, OS, disks) is kept only as far as
``hardwareProfile.vmSize`` goes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .errors import ArmError
from .model import VM_TYPE, Nic, Request, Response, Vm, VmNic, key_of, new_etag
from .resources import Handlers, check_location_unchanged, read_location, read_properties, read_tags
from .store import check_preconditions, in_group
from .validation import validate_name


def invalid_parameter(message: str, target: str) -> ArmError:
    """Compute's general validation error (code from general knowledge of the Compute RP, not verified here)."""
    return ArmError(400, "InvalidParameter", message, details=[{"code": "InvalidParameter", "target": target,
                                                                "message": message}])  # fmt: skip


def render_vm(vm: Vm) -> dict[str, Any]:
    nics: list[dict[str, Any]] = []
    for ref in vm.nics:
        entry: dict[str, Any] = {"id": ref.nic_id}
        if ref.primary is not None:  # Compute returns the flag as it was sent
            entry["properties"] = {"primary": ref.primary}
        nics.append(entry)
    props: dict[str, Any] = {
        "vmId": vm.guid,
        "provisioningState": vm.state,
        "networkProfile": {"networkInterfaces": nics},
    }
    if vm.vm_size:
        props["hardwareProfile"] = {"vmSize": vm.vm_size}
    return {
        "name": vm.name,
        "id": vm.id,
        "etag": vm.etag,
        "type": VM_TYPE,
        "location": vm.location,
        "tags": dict(vm.tags),
        "properties": props,
    }


def _primary_flag(raw: dict[str, Any], i: int) -> bool | None:
    props = raw.get("properties")
    primary = props.get("primary") if isinstance(props, dict) else None
    if primary is not None and not isinstance(primary, bool):
        raise invalid_parameter(f"The value of parameter networkInterfaces[{i}].properties.primary is invalid.",
                                f"networkInterfaces[{i}].properties.primary")  # fmt: skip
    return primary


class VmHandlers(Handlers):
    routes = ("vm_list_sub", "vm_list", "vm")

    def vm_list_sub_get(self, req: Request, sub: str) -> Response:
        return self.page(req, [render_vm(v) for v in in_group(self.store.vms, sub)])

    def vm_list_get(self, req: Request, sub: str, rg: str) -> Response:
        return self.page(req, [render_vm(v) for v in in_group(self.store.vms, sub, rg)])

    def vm_get(self, req: Request, sub: str, rg: str, vm: str) -> Response:
        return 200, {}, render_vm(self.store.get(self.store.vms, VM_TYPE, sub, rg, vm))

    def vm_put(self, req: Request, sub: str, rg: str, vm: str) -> Response:
        body = req.json_object()
        validate_name(vm)
        key = key_of(sub, rg, vm)
        existing = self.store.vms.get(key)
        check_preconditions(req, existing.etag if existing else None)
        location = read_location(body)
        if existing is not None:
            check_location_unchanged(vm, rg, existing.location, location)
        target = existing or Vm(sub, rg, vm, location, {})
        props = read_properties(body, "virtual machine")
        refs = self._nic_refs(props, target)
        target.tags, target.nics, target.etag = read_tags(body), [ref for ref, _ in refs], new_etag()
        hardware = props.get("hardwareProfile")
        target.vm_size = hardware.get("vmSize") if isinstance(hardware, dict) else None
        self._link(target, refs)
        self.store.vms[key] = target
        return (200 if existing else 201), {}, render_vm(target)

    def _nic_refs(self, props: dict[str, Any], vm: Vm) -> list[tuple[VmNic, Nic]]:
        """The NICs of ``properties.networkProfile``: at least one, existing, free, one of several primary."""
        profile = props.get("networkProfile")
        raw_list = profile.get("networkInterfaces") if isinstance(profile, dict) else None
        if not isinstance(raw_list, list) or not raw_list:
            raise invalid_parameter("Required parameter 'networkProfile.networkInterfaces' is missing (null).",
                                    "networkProfile.networkInterfaces")  # fmt: skip
        refs: list[tuple[VmNic, Nic]] = []
        for i, raw in enumerate(raw_list):
            raw = raw if isinstance(raw, dict) else {}
            nic = self.store.resolve(
                self.store.nics, Nic, raw.get("id"), shown=f"{raw.get('id') or ''}",
                path=f"properties.networkProfile.networkInterfaces[{i}].id", location=vm.location, referrer=vm.id,
            )  # fmt: skip
            if nic.vm_id and nic.vm_id.lower() != vm.id.lower():
                # Code and message as Azure answers a VM that takes another VM's NIC (pulumi/pulumi-azure#441).
                raise ArmError(400, "NicInUse", f"Network Interface {nic.id} is used by existing resource "
                               f"{nic.vm_id}. In order to delete the network interface, it must be dissociated from "
                               "the resource. To learn more, see aka.ms/deletenic.")  # fmt: skip
            self.ops.ensure_unlocked(nic.id)
            refs.append((VmNic(nic.id, _primary_flag(raw, i)), nic))
        if len(refs) > 1 and sum(1 for ref, _ in refs if ref.primary) != 1:
            # Code from general knowledge of the Compute RP, not verified here; message written here.
            raise ArmError(
                400,
                "VirtualMachineMustHaveOneNetworkInterfaceAsPrimary",
                f"Virtual machine {vm.name} must have one network interface set as the primary.",
            )
        return refs

    def _link(self, vm: Vm, refs: list[tuple[VmNic, Nic]]) -> None:
        """Point the referenced NICs at the VM; release the ones it had before and no longer names."""
        wanted = {nic.id.lower() for _, nic in refs}
        self._release(vm, keep=wanted)
        for ref, nic in refs:
            nic.vm_id, nic.vm_primary, nic.etag = vm.id, len(refs) == 1 or bool(ref.primary), new_etag()

    def _release(self, vm: Vm, keep: Collection[str] = ()) -> None:
        for nic in self.store.nics.values():
            if nic.vm_id and nic.vm_id.lower() == vm.id.lower() and nic.id.lower() not in keep:
                nic.vm_id, nic.vm_primary, nic.etag = None, False, new_etag()

    def vm_delete(self, req: Request, sub: str, rg: str, vm: str) -> Response:
        target = self.store.vms.get(key_of(sub, rg, vm))
        check_preconditions(req, target.etag if target else None)
        if target is None:
            return 204, {}, None
        self._release(target)
        del self.store.vms[key_of(sub, rg, vm)]
        return 200, {}, None
