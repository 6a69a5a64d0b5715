"""One read of a resource group shared by every spec of a fleet command that lives in it (live/shared.py).

`drift FOLDER` of many labs in one resource group lists its ASGs and NSGs (their rules inline) once, reads each
subnet and each resource group's NICs once, and each lab picks out its own resources from that (read.py, as it
does alone): the same plan as `drift` of that spec alone, for the requests of one spec.
"""

from __future__ import annotations

from typing import Any

from cloudports.live.shared import ReadOnce
from cloudports.targets.azure.read import RgReads


class RgSnapshot(RgReads):
    """RgReads answered from one read of each kind, made by the first spec that asks while the others wait; a spec
    waiting for a write to finish (`since`) gets a read made after it started waiting."""

    def __init__(self, client: Any, resource_group: str):
        super().__init__(client, resource_group)
        self._once = ReadOnce()

    def asgs(self, since: float | None = None) -> list[Any]:
        return self._once("asgs", lambda: RgReads.asgs(self), since)

    def nsgs(self, since: float | None = None) -> list[Any]:
        return self._once("nsgs", lambda: RgReads.nsgs(self), since)

    def subnet(self, rg: str, vnet: str, name: str, since: float | None = None) -> Any | None:
        what = ("subnet", rg.lower(), vnet.lower(), name.lower())
        return self._once(what, lambda: RgReads.subnet(self, rg, vnet, name), since)

    def nics(self, rg: str, since: float | None = None) -> list[Any]:
        return self._once(("nics", rg.lower()), lambda: RgReads.nics(self, rg), since)
